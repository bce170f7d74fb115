"""Authenticate every RPC before its servicer runs, unary and streaming alike.

Which key kind a service takes:
  tuneloop.v1.WorkerService  worker tokens (and, with worker mTLS on, a client certificate)
  tuneloop.v1.AdminService   admin keys
  other tuneloop.v1 services user keys, which also carry the tenant and its rate limit
  server reflection          any valid key
  grpc.health.v1.Health      no key: load balancers and orchestrators probe it

The interceptor sits inside the ErrorInterceptor, so the ServiceErrors it raises reach the
client as UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

from typing import Any, Callable

import grpc

from ..auth.authenticator import Authenticator
from ..auth.principal import Principal, reset_principal, set_principal
from ..auth.quotas import RateLimiter
from ..errors import PermissionDenied, Unauthenticated
from ..store.records import KeyKind
from .interceptor import wrap_handler

OPEN_SERVICES = {"grpc.health.v1.Health"}
ANY_KIND_SERVICES = {"grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
REQUIRED_KIND = {"tuneloop.v1.WorkerService": KeyKind.WORKER, "tuneloop.v1.AdminService": KeyKind.ADMIN}


def required_kind(method: str) -> KeyKind | None:
    """The key kind `method` ("/pkg.Service/Method") needs; None for any valid key."""
    service = method.split("/")[1]
    if service in ANY_KIND_SERVICES:
        return None
    return REQUIRED_KIND.get(service, KeyKind.USER)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, rate_limiter: RateLimiter, *,
                 worker_mtls: bool = False):
        self.authenticator = authenticator
        self.rate_limiter = rate_limiter
        self.worker_mtls = worker_mtls

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.split("/")[1] in OPEN_SERVICES:
            return handler
        kind = required_kind(method)
        return wrap_handler(handler, lambda b: self._unary(b, kind), lambda b: self._stream(b, kind))

    def _unary(self, behaviour: Callable[..., Any], kind: KeyKind | None) -> Callable[..., Any]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = set_principal(await self._admit(context, kind))
            try:
                return await behaviour(request, context)
            finally:
                reset_principal(token)

        return wrapped

    def _stream(self, behaviour: Callable[..., Any], kind: KeyKind | None) -> Callable[..., Any]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            # Each RPC runs in its own task, so the principal set here stays with this stream.
            set_principal(await self._admit(context, kind))
            async for item in behaviour(request, context):
                yield item

        return wrapped

    async def _admit(self, context: grpc.aio.ServicerContext, kind: KeyKind | None) -> Principal:
        metadata = {k: v for k, v in (context.invocation_metadata() or ())}
        principal = await self.authenticator.authenticate(metadata.get("authorization"))
        if kind is not None and principal.kind is not kind:
            raise PermissionDenied(
                f"this RPC needs a key of kind {kind.value!r}; key {principal.key_id} is of kind "
                f"{principal.kind.value!r}")
        if kind is KeyKind.WORKER and self.worker_mtls and not _has_client_certificate(context):
            raise Unauthenticated("workers must connect to the worker port (worker_address) with "
                                  "a client certificate signed by worker_client_ca_file")
        if principal.kind is KeyKind.USER:
            self.rate_limiter.hit(principal.tenant, principal.requests_per_second)
        return principal


def _has_client_certificate(context: grpc.aio.ServicerContext) -> bool:
    # The worker port requires and verifies client certificates during the handshake, so a
    # certificate in the auth context means the peer came through it.
    return bool(context.auth_context().get("x509_pem_cert"))
