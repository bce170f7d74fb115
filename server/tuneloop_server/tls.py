"""Server credentials: TLS on the API port, mTLS (client certificates required) on the worker port."""

from __future__ import annotations

from pathlib import Path

import grpc

from .config import ServerSettings


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS for the API port, or None for plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return grpc.ssl_server_credentials([_pair(settings)])


def worker_server_credentials(settings: ServerSettings) -> grpc.ServerCredentials:
    """The worker port: the handshake fails unless the client shows a certificate signed by
    worker_client_ca_file."""
    assert settings.worker_client_ca_file is not None
    return grpc.ssl_server_credentials(
        [_pair(settings)], root_certificates=Path(settings.worker_client_ca_file).read_bytes(),
        require_client_auth=True)


def _pair(settings: ServerSettings) -> tuple[bytes, bytes]:
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    return Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes()
