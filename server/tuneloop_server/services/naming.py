"""Adapter names and model references (`name`, `name@vN`)."""

from __future__ import annotations

import re

from ..errors import InvalidArgument

_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSIONED = re.compile(r"^(?P<name>[^@]+)@v(?P<version>[0-9]+)$")


def check_adapter_name(name: str) -> None:
    if not name:
        raise InvalidArgument("adapter is required: the name the trained adapter is served under")
    if not _ADAPTER_NAME.match(name):
        bad = sorted({c for c in name if not (c.isalnum() or c in "._-")})
        detail = f" (it contains {', '.join(repr(c) for c in bad)})" if bad else ""
        raise InvalidArgument(
            f"adapter name {name!r} is not valid{detail}: use 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit")


def parse_model_ref(model: str) -> tuple[str, int | None]:
    """Split 'name@v3' into ('name', 3); a plain name gives (name, None)."""
    match = _VERSIONED.match(model)
    if match:
        return match["name"], int(match["version"])
    if "@" in model:
        raise InvalidArgument(f"model {model!r}: write a pinned version as name@vN, e.g. support@v2")
    return model, None
