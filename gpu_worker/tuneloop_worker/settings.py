"""Worker settings: one frozen object per process, from TUNELOOP_* env vars or CLI args."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .control_plane import WorkerTLS


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", frozen=True, populate_by_name=True)

    address: str = "127.0.0.1:50051"
    # A worker token (tlw_…) from `tuneloop admin keys create --kind worker`; a control plane
    # on this machine writes one to <its data dir>/worker.token.
    worker_token: str | None = None
    # TLS: the control plane's CA; with worker mTLS on, also this worker's certificate and key.
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Holds the local object store (shared with the control plane on one host) and caches.
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".tuneloop")
    # Base-model conversions; defaults to data_dir/cache.
    cache_dir_override: Path | None = Field(default=None, alias="TUNELOOP_CACHE_DIR")
    worker_name: str = Field(default_factory=socket.gethostname)
    lease_wait_seconds: float = 20.0

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def cache_dir(self) -> Path:
        return self.cache_dir_override or self.data_dir / "cache"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "scratch"

    @property
    def resolved_token(self) -> str | None:
        if self.worker_token:
            return self.worker_token
        path = self.data_dir / "worker.token"
        return path.read_text().strip() if path.is_file() else None

    @property
    def tls_config(self) -> WorkerTLS | None:
        files = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        if not self.tls and all(f is None for f in files):
            return None
        return WorkerTLS(*files)
