"""The verified caller of one RPC, set by the auth interceptor and read by the servicers.

The tenant comes only from here (that is, from the verified key), never from a request field.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from ..store.records import KeyKind


@dataclass(frozen=True)
class Principal:
    key_id: str
    kind: KeyKind
    tenant_id: str | None  # set for user keys only
    requests_per_second: int | None = None  # the tenant's effective rate limit

    @property
    def tenant(self) -> str:
        """The tenant of a user key (the only kind the public API accepts)."""
        if self.tenant_id is None:
            raise RuntimeError(f"{self.kind.value} key {self.key_id} has no tenant")
        return self.tenant_id


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("tuneloop_principal")


def current_principal() -> Principal:
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("no authenticated principal: is the AuthInterceptor installed?") from None


def set_principal(principal: Principal) -> contextvars.Token:
    return _current.set(principal)


def reset_principal(token: contextvars.Token) -> None:
    _current.reset(token)
