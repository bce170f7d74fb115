"""What a training run reports while it runs, and how it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EventType = Literal["metrics", "eval", "checkpoint", "log"]


@dataclass(frozen=True)
class TrainingEvent:
    type: EventType
    step: int  # optimizer steps completed so far
    total_steps: int
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class TrainingResult:
    adapter_dir: Path  # a standard PEFT directory: PeftModel.from_pretrained(base, adapter_dir)
    steps: int
    metrics: dict[str, float]  # train_loss, eval_loss (with a validation file), train_seconds, ...


class TrainingError(Exception):
    """The job cannot train as asked; the message tells the user what to change."""


class TrainingCancelled(Exception):
    """should_stop() said stop; raised between steps, so no partial step is applied."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training cancelled after step {step}")
        self.step = step
