"""A job's evaluation options, its corrections split into training and held-out parts, and
the promotion gate that judges the version it trains."""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidArgument
from ..objects import ObjectStore
from ..store.records import FeedbackRecord, Promotion

DEFAULT_EVAL_SHARE = 0.2
MAX_FEEDBACK_WEIGHT = 20


@dataclass(frozen=True)
class EvaluationOptions:
    eval_dataset_id: str = ""
    eval_share: float = DEFAULT_EVAL_SHARE
    promotion_threshold: float = 0.0
    warm_start: bool = False
    feedback_weight: int = 1
    general_eval_dataset_id: str = ""

    def check(self) -> "EvaluationOptions":
        if not 0.0 <= self.eval_share < 1.0:
            raise InvalidArgument(f"evaluation.eval_share must be in [0, 1) (got {self.eval_share})")
        if not 0.0 <= self.promotion_threshold <= 1.0:
            raise InvalidArgument("evaluation.promotion_threshold must be between 0 and 1 "
                                  f"(got {self.promotion_threshold})")
        if not 1 <= self.feedback_weight <= MAX_FEEDBACK_WEIGHT:
            raise InvalidArgument(f"evaluation.feedback_weight must be between 1 and "
                                  f"{MAX_FEEDBACK_WEIGHT} (got {self.feedback_weight})")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "EvaluationOptions":
        return cls(**(data or {}))


def split_feedback(feedback: list[FeedbackRecord], share: float) -> tuple[list, list]:
    """(train, held out): a stable pseudo-random `share` held out, at least one of two or more."""
    if len(feedback) < 2 or share <= 0:
        return feedback, []
    ordered = sorted(feedback, key=lambda f: hashlib.sha256(f.id.encode()).hexdigest())
    held = max(1, math.floor(len(ordered) * share + 0.5))
    held = min(held, len(ordered) - 1)  # keep at least one to train on
    return ordered[held:], ordered[:held]


def write_chat_jsonl(objects: ObjectStore, key: str, feedback: list[FeedbackRecord],
                     repeat: int = 1) -> str:
    lines = [json.dumps({"messages": [*f.messages, {"role": "assistant", "content": f.correction}]})
             for f in feedback] * repeat
    objects.put_stream(key, io.BytesIO(("\n".join(lines) + "\n").encode()))
    return key


def judge(previous_version: int, metrics: dict[str, float], threshold: float) -> Promotion:
    """Promote the new version unless it scores worse than the promoted one on the eval set."""
    # "eval.new.exact_match" -> "new.exact_match"; the forgetting check keeps "general.".
    scores = {k.removeprefix("eval."): v for k, v in metrics.items()
              if k.startswith(("eval.", "general."))}
    if previous_version == 0:
        return Promotion(True, "the adapter's first version", scores)
    if "new.exact_match" not in scores or "previous.exact_match" not in scores:
        return Promotion(True, "no eval set: promoted without comparison", scores)
    worse = [
        f"{metric.replace('_', ' ')} {scores[f'new.{metric}']:.2f} < "
        f"{scores[f'previous.{metric}']:.2f} of v{previous_version}"
        for metric in ("exact_match", "token_f1")
        if scores[f"new.{metric}"] < scores[f"previous.{metric}"] - threshold
    ]
    examples = int(scores.get("examples", 0))
    if worse:
        return Promotion(False, f"worse than v{previous_version} on {examples} eval examples: "
                                + "; ".join(worse) + f" (threshold {threshold:g}); still "
                                "reachable by its version number", scores)
    return Promotion(True, f"no worse than v{previous_version} on {examples} eval examples "
                           f"(exact match {scores['new.exact_match']:.2f} vs "
                           f"{scores['previous.exact_match']:.2f})", scores)
