"""API key format, issuing and checking.

A key reads `<prefix>_<id>_<secret>`: the prefix says its kind at a glance (tlk user,
tlw worker, tla admin), the id is public (lists, audit log), the secret is 192 random bits.
Only sha256(secret) is stored. A slow password hash would buy nothing here: nobody can
brute-force 192 random bits, and every RPC would pay for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from ..store.records import ApiKeyRecord, KeyKind

PREFIXES = {KeyKind.USER: "tlk", KeyKind.WORKER: "tlw", KeyKind.ADMIN: "tla"}
_TOKEN = re.compile(r"^(tlk|tlw|tla)_([0-9a-f]{12})_([0-9a-f]{48})$")


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKeyRecord
    token: str  # shown to its owner once; never stored


def issue(kind: KeyKind, tenant_id: str | None, name: str) -> IssuedKey:
    public, secret = secrets.token_hex(6), secrets.token_hex(24)
    record = ApiKeyRecord(id=f"key_{public}", kind=kind, tenant_id=tenant_id, name=name,
                          secret_hash=hash_secret(secret), created_at=time.time())
    return IssuedKey(record, f"{PREFIXES[kind]}_{public}_{secret}")


def parse(token: str) -> tuple[str, KeyKind, str] | None:
    """(key id, kind, secret) of a well-formed token, else None."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    prefix, public, secret = match.groups()
    kind = next(k for k, p in PREFIXES.items() if p == prefix)
    return f"key_{public}", kind, secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(record: ApiKeyRecord, secret: str) -> bool:
    return hmac.compare_digest(record.secret_hash, hash_secret(secret))
