"""`tuneloop admin ...`: tenants, quotas, keys, worker tokens and the audit log.

These commands send the admin key: --admin-key, else env TUNELOOP_ADMIN_KEY, else the key a
local server wrote to <TUNELOOP_DATA_DIR or ~/.tuneloop>/admin.key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..types import Quotas
from ._common import console, err_console, fail, open_client, when

app = typer.Typer(help="Operate the service: tenants, quotas, API keys, audit log (admin key).",
                  no_args_is_help=True)
tenants = typer.Typer(help="Tenants and their quotas.", no_args_is_help=True)
keys = typer.Typer(help="API keys and worker tokens.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")

MaxJobs = Annotated[Optional[int], typer.Option(help="Jobs queued or running at once.")]
MaxBytes = Annotated[Optional[int], typer.Option(help="Bytes of datasets stored.")]
Rps = Annotated[Optional[int], typer.Option(help="Requests per second (per server process).")]


@app.callback()
def _admin_key(
    ctx: typer.Context,
    admin_key: Annotated[Optional[str], typer.Option(
        envvar="TUNELOOP_ADMIN_KEY", help="Admin key (default: the local server's admin.key).")] = None,
) -> None:
    ctx.obj = admin_key or _local_admin_key()


def _local_admin_key() -> str | None:
    data_dir = os.environ.get("TUNELOOP_DATA_DIR")
    path = (Path(data_dir) if data_dir else Path.home() / ".tuneloop") / "admin.key"
    return path.read_text().strip() if path.is_file() else None


def _client(ctx: typer.Context):
    key = _find_admin_key(ctx)
    if not key:
        raise fail("no admin key: pass --admin-key or set TUNELOOP_ADMIN_KEY (a local server "
                   "writes one to ~/.tuneloop/admin.key)")
    return open_client(ctx, api_key=key)


def _find_admin_key(ctx: typer.Context) -> str | None:
    while ctx is not None:
        if ctx.info_name == "admin":
            return ctx.obj if isinstance(ctx.obj, str) else None
        ctx = ctx.parent
    return None


def _quotas(jobs: int | None, stored: int | None, rps: int | None) -> Quotas:
    return Quotas(max_concurrent_jobs=jobs, max_stored_bytes=stored, requests_per_second=rps)


def _print_tenants(items) -> None:
    table = Table("id", "name", "max jobs", "max stored bytes", "req/s", "created")
    for t in items:
        q = t.quotas
        table.add_row(t.id, escape(t.name), *(str(v) if v is not None else "unlimited" for v in
                      (q.max_concurrent_jobs, q.max_stored_bytes, q.requests_per_second)),
                      when(t.created_at))
    console.print(table)


@tenants.command("create")
def tenants_create(ctx: typer.Context, name: str, max_concurrent_jobs: MaxJobs = None,
                   max_stored_bytes: MaxBytes = None, requests_per_second: Rps = None) -> None:
    """Create a tenant; limits left out use the server's defaults."""
    with _client(ctx) as client:
        tenant = client.admin.create_tenant(
            name, _quotas(max_concurrent_jobs, max_stored_bytes, requests_per_second))
    _print_tenants([tenant])


@tenants.command("list")
def tenants_list(ctx: typer.Context) -> None:
    """List tenants with the limits in force."""
    with _client(ctx) as client:
        _print_tenants(client.admin.list_tenants())


@tenants.command("set-quotas")
def tenants_set_quotas(ctx: typer.Context, tenant: str, max_concurrent_jobs: MaxJobs = None,
                       max_stored_bytes: MaxBytes = None, requests_per_second: Rps = None) -> None:
    """Change a tenant's limits (the ones given; the others stay)."""
    with _client(ctx) as client:
        updated = client.admin.set_quotas(
            tenant, _quotas(max_concurrent_jobs, max_stored_bytes, requests_per_second))
    _print_tenants([updated])


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="Tenant id or name (user keys).")] = "",
    kind: Annotated[str, typer.Option(help="user, worker or admin.")] = "user",
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    with _client(ctx) as client:
        created = client.admin.create_key(tenant, kind=kind, name=name)  # type: ignore[arg-type]
    err_console.print(f"created {created.key.kind} key {created.key.id}; it is shown only now:")
    console.print(created.token)


@keys.command("list")
def keys_list(ctx: typer.Context,
              tenant: Annotated[str, typer.Option(help="Only this tenant's keys.")] = "") -> None:
    """List keys (ids and names; secrets are never shown)."""
    with _client(ctx) as client:
        items = client.admin.list_keys(tenant)
    table = Table("id", "kind", "tenant", "name", "created", "revoked")
    for k in items:
        table.add_row(k.id, k.kind, k.tenant_id or "-", escape(k.name), when(k.created_at),
                      when(k.revoked_at))
    console.print(table)


@keys.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key; it stops working within the server's auth cache time (5 s default)."""
    with _client(ctx) as client:
        key = client.admin.revoke_key(key_id)
    console.print(f"revoked {key.id} ({key.kind}, {escape(key.name)})")


@app.command()
def audit(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="Only this tenant's entries.")] = "",
    limit: Annotated[int, typer.Option(help="How many of the newest entries.")] = 50,
) -> None:
    """Who created, cancelled, deleted or changed what, newest first."""
    with _client(ctx) as client:
        events = client.admin.audit_events(tenant, limit=limit)
    table = Table("when", "tenant", "actor", "action", "resource", "detail")
    for e in events:
        table.add_row(when(e.created_at), e.tenant_id or "-", e.actor, e.action,
                      escape(e.resource), escape(json.dumps(e.detail, sort_keys=True)))
    console.print(table)
