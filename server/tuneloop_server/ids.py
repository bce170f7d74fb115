"""Opaque, sortable-enough ids with a prefix that says what they name."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
