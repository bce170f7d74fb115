"""Control-plane settings: one frozen object per process, from TUNELOOP_* env vars or args."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".tuneloop"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", frozen=True, populate_by_name=True)

    address: str = "127.0.0.1:50051"
    data_dir: Path = Field(default_factory=default_data_dir)
    # Defaults to a SQLite file in data_dir; a postgresql:// URL selects PostgreSQL.
    database_url: str | None = None
    # Base-model conversions and downloaded adapters; defaults to data_dir/cache. Sharing it
    # between data dirs (the demo does) saves converting the base model again.
    cache_dir_override: Path | None = Field(default=None, alias="TUNELOOP_CACHE_DIR")
    # In-process training workers started next to the API (0 = only external workers).
    embedded_workers: int = 1

    max_upload_bytes: int = 1 << 30
    max_line_bytes: int = 1 << 20
    max_examples: int = 100_000

    lease_seconds: float = 30.0
    heartbeat_seconds: float = 1.0
    max_attempts: int = 3
    shutdown_grace_seconds: float = 10.0
    # Max rows per batched forward pass in the in-process serving engine.
    serving_batch_size: int = 8

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tuneloop.db"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def cache_dir(self) -> Path:
        return self.cache_dir_override or self.data_dir / "cache"
