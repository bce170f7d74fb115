"""Hyperparameters of one fine-tuning job, validated before any GPU time is spent.

No torch here: the control plane validates `jobs.create` requests with this model and returns
`config_errors(...)` as INVALID_ARGUMENT. Field names match `tuneloop.v1.Hyperparameters`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ALL_LINEAR = "all-linear"


class TrainingConfig(BaseModel):
    """Defaults suit a small curated chat dataset (hundreds to thousands of examples)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    method: Literal["lora", "qlora"] = "lora"
    epochs: int = Field(3, ge=1, le=100)
    learning_rate: float = Field(2e-4, gt=0, le=1)
    lora_rank: int = Field(16, ge=1, le=256)
    lora_alpha: float = Field(32, gt=0, le=4096)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    batch_size: int = Field(8, ge=1, le=512)
    gradient_accumulation_steps: int = Field(1, ge=1, le=512)
    max_seq_length: int = Field(1024, ge=16, le=131072)
    warmup_ratio: float = Field(0.05, ge=0, le=0.5)
    weight_decay: float = Field(0.0, ge=0, le=1)
    # 0 turns clipping off (the norm is still measured and reported).
    max_grad_norm: float = Field(1.0, ge=0, le=1000)
    seed: int = Field(42, ge=0, le=2**31 - 1)
    # 0: evaluate once per epoch (only when a validation set is given).
    eval_every_steps: int = Field(0, ge=0, le=10**7)
    # 0: checkpoint once per epoch.
    checkpoint_every_steps: int = Field(0, ge=0, le=10**7)
    target_modules: tuple[str, ...] = Field((ALL_LINEAR,), min_length=1, max_length=64)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        # pydantic's lax mode reads true as 1; `epochs: true` is a mistake, not one epoch.
        if isinstance(value, bool):
            raise ValueError(f"must be a number, not a boolean (got {str(value).lower()})")
        return value

    @field_validator("target_modules", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("target_modules")
    @classmethod
    def _module_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if any(not n.strip() for n in names):
            raise ValueError("module names must be non-empty")
        if ALL_LINEAR in names and len(names) > 1:
            raise ValueError(f'"{ALL_LINEAR}" cannot be combined with other module names')
        return names

    def peft_target_modules(self) -> str | list[str]:
        return ALL_LINEAR if self.target_modules == (ALL_LINEAR,) else list(self.target_modules)


def config_errors(exc: ValidationError, prefix: str = "hyperparameters") -> str:
    """One line per problem: `hyperparameters.learning_rate: must be greater than 0 (got -0.1)`."""
    lines = []
    errors = exc.errors(include_url=False)
    inner = {err["loc"][:-1] for err in errors if len(err["loc"]) > 1}
    for err in errors:
        if err["type"] == "too_short" and err["loc"] in inner:
            continue  # pydantic's echo of a bad item already reported with its index
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        lines.append(f"{path}: {_describe(err)}")
    return "; ".join(lines)


def parse_config(
    hyperparameters: Mapping[str, Any] | None = None, **overrides: Any
) -> TrainingConfig:
    """TrainingConfig from user input (unset keys take defaults); ValueError with readable text."""
    values = {k: v for k, v in dict(hyperparameters or {}, **overrides).items() if v is not None}
    try:
        return TrainingConfig(**values)
    except ValidationError as exc:
        raise ValueError(config_errors(exc)) from None


def _describe(err: Mapping[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        known = ", ".join(TrainingConfig.model_fields)
        return f"unknown hyperparameter (known: {known})"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    msg = re.sub(r"^(Input|List|Tuple) should", "must", msg)
    msg = re.sub(r" after validation, not \d+", "", msg)
    if kind.startswith(("int_", "float_")):
        msg = msg.split(",")[0]  # pydantic's explanation repeats what "(got ...)" shows
    return f"{msg} (got {_show(err.get('input'))})"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40] + "...")
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    return repr(value)
