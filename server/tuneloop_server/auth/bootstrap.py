"""First start: an admin key, a "default" tenant with a user key, and a worker token.

Each is written to a file in the data dir (mode 0600) so the CLI on the same machine picks
it up, and created only when missing: restarts keep the same keys. Auth is never off; a
single-user machine simply has its key on disk.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import ServerSettings
from ..errors import AlreadyExists
from ..store import TenantStore
from ..store.records import KeyKind, Quotas, TenantRecord
from . import keys

log = logging.getLogger("tuneloop.auth")

DEFAULT_TENANT_ID = "tn_default"  # also the tenant of rows from before tenancy (migration 0002)
DEFAULT_TENANT_NAME = "default"


@dataclass(frozen=True)
class LocalKeys:
    admin_key: str | None
    api_key: str | None
    worker_token: str | None


def ensure_local_keys(store: TenantStore, settings: ServerSettings) -> LocalKeys:
    admin = _ensure_key(store, settings.admin_key_file, KeyKind.ADMIN, None, "local admin")
    if store.get_tenant(DEFAULT_TENANT_ID) is None and not store.list_tenants():
        try:
            store.create_tenant(TenantRecord(DEFAULT_TENANT_ID, DEFAULT_TENANT_NAME, Quotas(),
                                             time.time()))
        except AlreadyExists:
            pass  # another replica starting on the same database made it first
    api = None
    if store.get_tenant(DEFAULT_TENANT_ID) is not None:
        api = _ensure_key(store, settings.api_key_file, KeyKind.USER, DEFAULT_TENANT_ID, "local user")
    worker = _ensure_key(store, settings.worker_token_file, KeyKind.WORKER, None, "local workers")
    return LocalKeys(admin, api, worker)


def _ensure_key(store: TenantStore, path: Path, kind: KeyKind, tenant_id: str | None,
                name: str) -> str | None:
    """The key in `path` if it is still valid; else a new one written there."""
    if path.is_file():
        token = path.read_text().strip()
        parsed = keys.parse(token)
        record = store.get_api_key(parsed[0]) if parsed else None
        if record is not None and record.revoked_at is None and keys.secret_matches(record, parsed[2]):
            return token
        log.warning("%s holds no valid %s key any more; writing a new one", path, kind.value)
    issued = keys.issue(kind, tenant_id, name)
    store.add_api_key(issued.record)
    write_secret(path, issued.token)
    log.info("wrote a new %s key to %s", kind.value, path)
    return issued.token


def write_secret(path: Path, text: str) -> None:
    """Write `text` readable by the owner only, replacing any previous file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)
