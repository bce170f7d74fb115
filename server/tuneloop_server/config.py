"""Control-plane settings: one frozen object per process, from TUNELOOP_* env vars or args."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
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
    # Threads for blocking work (database, files) off the event loop.
    io_threads: int = 32
    # How often scheduled retrain policies are checked.
    retrain_check_seconds: float = 10.0
    # Max rows per batched forward pass in the in-process serving engine.
    serving_batch_size: int = 8
    # Adapters kept loaded per base model; the least recently used is unloaded to make room.
    serving_max_adapters: int = 32

    # -- serving backend ----------------------------------------------------------------
    # "local": the in-process PEFT engine. "vllm": a vLLM OpenAI server per base model, at
    # vllm_url if set (it must read adapter files from this host's cache dir), else started
    # and supervised by the control plane on a loopback port.
    serving: Literal["local", "vllm"] = "local"
    vllm_url: str | None = None
    vllm_max_loras: int = 4
    vllm_max_lora_rank: int = 64
    vllm_max_model_len: int = 2048
    vllm_startup_timeout: float = 600.0
    vllm_extra_args: str = ""  # appended to the vLLM command line (shell-quoted)

    # -- transport security -------------------------------------------------------------
    # TLS on the API port: both files set, or neither (plaintext, fine on localhost only).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # mTLS for workers: a second port where clients must present a certificate signed by
    # this CA. With it set, WorkerService answers only on that port.
    worker_address: str | None = None
    worker_client_ca_file: Path | None = None

    # -- tenancy ------------------------------------------------------------------------
    # A verified key is trusted this long before it is checked again (revocation delay).
    auth_cache_seconds: float = 5.0
    # Limits for tenants that have no limit of their own (None: unlimited).
    default_max_concurrent_jobs: int | None = 4
    default_max_stored_bytes: int | None = 10 << 30
    default_requests_per_second: int | None = 50

    @model_validator(mode="after")
    def _check_tls(self) -> "ServerSettings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        for name in ("tls_cert_file", "tls_key_file", "worker_client_ca_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name}: {path} is not a readable file")
        if (self.worker_address is None) != (self.worker_client_ca_file is None):
            raise ValueError("worker_address and worker_client_ca_file go together: the worker "
                             "port exists to require client certificates")
        if self.worker_address is not None and self.tls_cert_file is None:
            raise ValueError("worker_address needs tls_cert_file/tls_key_file: mTLS is TLS too")
        if self.worker_address is not None and self.embedded_workers:
            raise ValueError("with worker mTLS on, run workers as `tuneloop worker` with a client "
                             "certificate and set embedded_workers=0")
        return self

    @property
    def worker_mtls(self) -> bool:
        return self.worker_client_ca_file is not None

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

    @property
    def vllm_log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def api_key_file(self) -> Path:
        return self.data_dir / "api.key"

    @property
    def admin_key_file(self) -> Path:
        return self.data_dir / "admin.key"

    @property
    def worker_token_file(self) -> Path:
        return self.data_dir / "worker.token"
