"""Maps domain errors to gRPC statuses in one place, for unary and streaming RPCs alike.

ServiceError → its own code and message. Anything else is a bug: the client gets INTERNAL
with a short reference, and the full traceback goes to the server log under that reference.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Awaitable, Callable

import grpc

from ..errors import ServiceError

log = logging.getLogger("tuneloop.api")


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> None:
    if isinstance(exc, ServiceError):
        await context.abort(grpc.StatusCode[exc.code.value], exc.message)
    ref = secrets.token_hex(4)
    log.exception("internal error in %s (ref %s)", method, ref, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL,
                        f"internal error (ref {ref}); the server log has the details")


def _wrap_unary(behaviour: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - this is the one place errors are mapped
            await _abort(context, exc, method)

    return wrapped


def _wrap_stream(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async for item in behaviour(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001
            await _abort(context, exc, method)

    return wrapped


def wrap_handler(handler: grpc.RpcMethodHandler, wrap_unary: Callable[..., Any],
                 wrap_stream: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour wrapped: `wrap_unary` for RPCs answering with one
    message, `wrap_stream` for RPCs answering with a stream."""
    codec = dict(request_deserializer=handler.request_deserializer,
                 response_serializer=handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(wrap_unary(handler.unary_unary), **codec)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(wrap_unary(handler.stream_unary), **codec)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(wrap_stream(handler.unary_stream), **codec)
    return grpc.stream_stream_rpc_method_handler(wrap_stream(handler.stream_stream), **codec)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return wrap_handler(handler, lambda b: _wrap_unary(b, method),
                            lambda b: _wrap_stream(b, method))
