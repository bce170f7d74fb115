"""Worker settings: one frozen object per process, from TUNELOOP_* env vars or CLI args."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", frozen=True, populate_by_name=True)

    address: str = "127.0.0.1:50051"
    api_key: str | None = None
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
