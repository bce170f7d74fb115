"""Per-tenant limits: jobs queued or running, bytes stored, requests per second.

A tenant row may override each limit; None there means the server's default. The rate
limit is counted per control-plane process: N replicas allow up to N times the limit.
"""

from __future__ import annotations

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..config import ServerSettings
from ..errors import ResourceExhausted
from ..store import JobStore, TenantStore
from ..store.records import Quotas


class QuotaPolicy:
    def __init__(self, store: TenantStore, settings: ServerSettings):
        self.store = store
        self.defaults = Quotas(settings.default_max_concurrent_jobs, settings.default_max_stored_bytes,
                               settings.default_requests_per_second)

    def effective(self, tenant_id: str) -> Quotas:
        tenant = self.store.get_tenant(tenant_id)
        own = tenant.quotas if tenant is not None else Quotas()
        d = self.defaults
        return Quotas(
            max_concurrent_jobs=_pick(own.max_concurrent_jobs, d.max_concurrent_jobs),
            max_stored_bytes=_pick(own.max_stored_bytes, d.max_stored_bytes),
            requests_per_second=_pick(own.requests_per_second, d.requests_per_second))

    def check_storage(self, jobs: JobStore, tenant_id: str, adding: int) -> None:
        """Raise ResourceExhausted if storing `adding` more bytes would pass the tenant's limit."""
        limit = self.effective(tenant_id).max_stored_bytes
        if limit is None:
            return
        used = jobs.stored_bytes(tenant_id)
        if used + adding > limit:
            raise ResourceExhausted(
                f"quota exceeded: this tenant may store {_size(limit)} of datasets, uses "
                f"{_size(used)}, and this upload is {_size(adding)}; delete datasets you no longer "
                "need or ask an admin to raise max_stored_bytes")


class RateLimiter:
    """Moving one-second window per tenant, in this process's memory."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[int, RateLimitItemPerSecond] = {}

    def hit(self, tenant_id: str, per_second: int | None) -> None:
        if not per_second:
            return
        item = self._items.setdefault(per_second, RateLimitItemPerSecond(per_second))
        if not self._limiter.hit(item, tenant_id):
            raise ResourceExhausted(
                f"rate limit: this tenant may send {per_second} requests per second; "
                "slow down and retry (requests_per_second)")


def _pick(own: int | None, default: int | None) -> int | None:
    return own if own is not None else default


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError
