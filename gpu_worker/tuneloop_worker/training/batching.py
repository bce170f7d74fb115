"""Which examples go into which step, and the learning-rate schedule.

Both are pure functions of (seed, epoch), so a run resumed from a checkpoint replays exactly
the batches the interrupted run would have seen.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

_WINDOW = 16  # batches per length-sorted window: padding stays small, order stays random


def epoch_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int
) -> list[list[int]]:
    """Example indices per micro-batch for one epoch.

    Examples are shuffled, then sorted by length inside windows of a few batches, so each batch
    holds similar lengths (little padding: CPU time is spent on real tokens) while the epoch's
    order stays random; the batches themselves are shuffled again so long ones are not clustered.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    window = batch_size * _WINDOW
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def steps_per_epoch(num_examples: int, batch_size: int, accumulation: int) -> int:
    return math.ceil(math.ceil(num_examples / batch_size) / accumulation)


def lr_factor(step: int, *, total_steps: int, warmup_steps: int) -> float:
    """Linear warmup to the peak, then cosine decay to zero at the last step."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
