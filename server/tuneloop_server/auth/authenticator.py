"""Turn a bearer token into a Principal, with a short cache so most RPCs skip the database.

A revoked key stops working within `cache_seconds`; so does a changed rate limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from ..errors import Unauthenticated
from ..store import TenantStore
from . import keys
from .principal import Principal
from .quotas import QuotaPolicy

MISSING_KEY = ("missing API key: send metadata 'authorization: Bearer <key>' (the SDK and CLI "
               "read TUNELOOP_API_KEY; a local server writes a key to <data dir>/api.key)")
INVALID_KEY = "invalid API key: check for a typo, or ask an admin for a new key"


class Authenticator:
    def __init__(self, store: TenantStore, quotas: QuotaPolicy, cache_seconds: float = 5.0):
        self.store = store
        self.quotas = quotas
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        principal = await asyncio.to_thread(self._verify, token)
        if len(self._cache) > 10_000:  # bounded: a flood of distinct bad keys is never cached
            self._cache.clear()
        self._cache[cache_key] = (time.monotonic() + self.cache_seconds, principal)
        return principal

    def _verify(self, token: str) -> Principal:
        parsed = keys.parse(token)
        if parsed is None:
            raise Unauthenticated(INVALID_KEY)
        key_id, kind, secret = parsed
        record = self.store.get_api_key(key_id)
        if record is None or record.kind is not kind or not keys.secret_matches(record, secret):
            raise Unauthenticated(INVALID_KEY)
        if record.revoked_at is not None:
            raise Unauthenticated(f"API key {key_id} was revoked; ask an admin for a new one")
        rps = None
        if record.tenant_id is not None:
            rps = self.quotas.effective(record.tenant_id).requests_per_second
        return Principal(record.id, record.kind, record.tenant_id, rps)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(MISSING_KEY)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the authorization metadata must read 'Bearer <key>'")
    return token.strip()
