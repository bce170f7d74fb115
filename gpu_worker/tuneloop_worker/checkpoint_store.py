"""Checkpoints in the object store, so that any worker can resume a job another one lost.

A checkpoint step-N/ is uploaded file by file and its manifest.json (sha256 of every file)
last: a checkpoint without a manifest, or whose files do not match it, is torn (its worker
died mid-upload, or the store lost a file) and is never used. Resuming takes the newest
complete one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

log = logging.getLogger("tuneloop.worker")

MANIFEST = "manifest.json"
_STEP = re.compile(r"/step-(\d+)/" + re.escape(MANIFEST) + "$")


def upload_checkpoint(objects, local_dir: Path, prefix: str, keep: int = 2) -> str:
    """Upload `local_dir` (a trainer checkpoint step-N) under `prefix`; prune older ones."""
    key = f"{prefix}/{local_dir.name}"
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    manifest = {p.relative_to(local_dir).as_posix(): _sha256(p) for p in files}
    for path in files:
        objects.put_file(f"{key}/{path.relative_to(local_dir).as_posix()}", path)
    tmp = local_dir.parent / f".{local_dir.name}.{MANIFEST}"
    tmp.write_text(json.dumps({"files": manifest}, sort_keys=True))
    try:
        objects.put_file(f"{key}/{MANIFEST}", tmp)  # last: it marks the checkpoint complete
    finally:
        tmp.unlink(missing_ok=True)
    for old in complete_steps(objects, prefix)[:-keep] if keep > 0 else []:
        objects.delete_prefix(f"{prefix}/step-{old}")
    return key


def complete_steps(objects, prefix: str) -> list[int]:
    """Steps that have a manifest under `prefix`, oldest first (not yet verified)."""
    steps = [int(m.group(1)) for k in objects.list_keys(prefix) if (m := _STEP.search(k))]
    return sorted(steps)


def download_latest(objects, prefix: str, dest: Path) -> Path | None:
    """The newest checkpoint whose files match its manifest, downloaded into `dest`; else None."""
    for step in reversed(complete_steps(objects, prefix)):
        key = f"{prefix}/step-{step}"
        target = dest / f"step-{step}"
        shutil.rmtree(target, ignore_errors=True)
        try:
            objects.get_dir(key, target)
            manifest = json.loads((target / MANIFEST).read_text())["files"]
            bad = [name for name, digest in manifest.items()
                   if not (target / name).is_file() or _sha256(target / name) != digest]
        except (OSError, ValueError, KeyError) as exc:
            bad = [f"unreadable ({exc})"]
        if not bad:
            return target
        log.warning("checkpoint %s is torn (%s); trying an older one", key, ", ".join(bad[:3]))
        shutil.rmtree(target, ignore_errors=True)
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
