"""Field-level conversions: enums <-> lowercase strings, timestamps, hyperparameters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor

from .._errors import InvalidArgumentError
from ..v1 import jobs_pb2


def enum_name(enum: Any, prefix: str, value: int) -> str:
    try:
        return enum.Name(value).removeprefix(prefix).lower()
    except ValueError:  # a value added by a newer server
        return "unknown"


def enum_value(enum: Any, prefix: str, text: str, what: str) -> int:
    valid = [n.removeprefix(prefix).lower() for n in enum.keys() if not n.endswith("UNSPECIFIED")]
    if text not in valid:
        raise InvalidArgumentError(f"unknown {what} {text!r}; expected one of: {', '.join(valid)}")
    return int(enum.Value(prefix + text.upper()))


JOB_STATES = tuple(n.removeprefix("JOB_STATE_").lower() for n in jobs_pb2.JobState.keys()[1:])
METHODS = tuple(n.removeprefix("METHOD_").lower() for n in jobs_pb2.Method.keys()[1:])


def timestamp(ts: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    return ts.ToDatetime(tzinfo=timezone.utc) if present else None


# Hyperparameters: a dict in the SDK, a message on the wire.

_HP_FIELDS: dict[str, FieldDescriptor] = {
    f.name: f for f in jobs_pb2.Hyperparameters.DESCRIPTOR.fields
}
HYPERPARAMETER_KEYS: tuple[str, ...] = tuple(_HP_FIELDS)


def _check_hp_key(key: str) -> FieldDescriptor:
    field = _HP_FIELDS.get(key)
    if field is None:
        raise InvalidArgumentError(
            f"unknown hyperparameter {key!r}; valid keys: {', '.join(HYPERPARAMETER_KEYS)}"
        )
    return field


def build_hyperparameters(values: Mapping[str, Any] | None) -> jobs_pb2.Hyperparameters:
    """Map a dict onto the Hyperparameters message; unknown keys fail here, before any call."""
    msg = jobs_pb2.Hyperparameters()
    for key, value in (values or {}).items():
        field = _check_hp_key(key)
        try:
            if field.is_repeated:
                if isinstance(value, str):  # one module name, not a list of characters
                    value = [value]
                getattr(msg, key).extend(value)
            elif value is not None:
                setattr(msg, key, value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"hyperparameter {key!r}: {exc}") from None
    return msg


def hyperparameters_to_dict(msg: jobs_pb2.Hyperparameters) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in _HP_FIELDS.items():
        if field.is_repeated:
            if getattr(msg, name):
                out[name] = list(getattr(msg, name))
        elif msg.HasField(name):
            out[name] = getattr(msg, name)
    return out


def parse_hyperparameter(key: str, text: str) -> Any:
    """Turn command-line text into the value type of `key` ("3" -> 3, "a,b" -> ["a", "b"])."""
    field = _check_hp_key(key)
    try:
        if field.is_repeated:
            return [part.strip() for part in text.split(",") if part.strip()]
        if field.cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
            return float(text)
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"hyperparameter {key!r}: cannot read {text!r}") from None
