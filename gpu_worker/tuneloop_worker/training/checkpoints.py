"""Checkpoints a lost job resumes from: output_dir/checkpoints/step-N/.

Each holds the adapter (a PEFT directory) and trainer_state.pt (optimizer, scheduler, step).
A checkpoint is written to a temporary directory and renamed into place, so a directory named
step-N is always complete: a worker killed mid-write leaves only a stray temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def save_checkpoint(
    output_dir: Path, step: int, model: Any, optimizer: Any, scheduler: Any,
    extra: dict[str, Any], keep: int,
) -> Path:
    root = output_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"step-{step}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        model.save_pretrained(tmp)
        state = {"step": step, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), **extra}
        torch.save(state, tmp / STATE_FILE)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in list_checkpoints(output_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = output_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found) if (p / STATE_FILE).is_file()]


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def load_checkpoint(
    checkpoint: Path, model: Any, optimizer: Any, scheduler: Any, total_steps: int
) -> dict[str, Any]:
    """Restore adapter weights, optimizer and scheduler in place; return the saved state.

    ValueError when the checkpoint was made for a run of a different length: its data or
    hyperparameters differ, and replaying its schedule would silently train the wrong thing.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    device = _device_of(model)
    state = torch.load(checkpoint / STATE_FILE, map_location=device, weights_only=True)
    if state.get("total_steps") != total_steps:
        raise ValueError(
            f"checkpoint {checkpoint.name} belongs to a run of {state.get('total_steps')} steps, "
            f"this run has {total_steps}"
        )
    weights = load_file(str(checkpoint / "adapter_model.safetensors"), device=str(device))
    set_peft_model_state_dict(model, weights)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state


def _device_of(model: Any) -> torch.device:
    return next(model.parameters()).device
