"""The training-data format: JSON Lines, chat or prompt/completion, checked line by line.

The control plane imports this module to validate uploads, so it must stay free of torch and
transformers. Files are streamed in fixed-size chunks: an upload of any size (or a single
gigantic line) never sits in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

CHAT = "chat"
PROMPT_COMPLETION = "prompt_completion"
ROLES = ("system", "user", "assistant")
_FORMAT_NAMES = {CHAT: "chat", PROMPT_COMPLETION: "prompt/completion"}
_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class LineError:
    """One problem; `line` is 1-based, 0 for problems with the file as a whole."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ValidationReport:
    format: str | None  # CHAT, PROMPT_COMPLETION, or None when no line could be classified
    num_examples: int
    errors: list[LineError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def messages(self) -> list[str]:
        return [str(e) for e in self.errors]


class ExampleError(ValueError):
    """One line is not a valid example; the message says what to fix."""


def validate_jsonl(
    source: BinaryIO | Path,
    *,
    max_line_bytes: int,
    max_examples: int,
    max_errors: int = 100,
) -> ValidationReport:
    """Check every line of a JSONL upload; never raises for bad content, only reports it."""
    if isinstance(source, (str, Path)):
        with Path(source).open("rb") as f:
            return validate_jsonl(
                f, max_line_bytes=max_line_bytes, max_examples=max_examples, max_errors=max_errors
            )
    report = ValidationReport(format=None, num_examples=0)
    errors = _ErrorList(max_errors)
    format_line = 0
    for line_no, raw, size in _physical_lines(source, max_line_bytes):
        if raw is None:
            errors.add(line_no, f"{size:,} bytes is over the {max_line_bytes:,}-byte line limit")
            continue
        if not raw.strip():
            continue  # blank lines are allowed anywhere
        if report.num_examples >= max_examples:
            errors.add(0, f"more than {max_examples:,} examples (the limit)", always=True)
            break  # nothing after this can make the file acceptable
        report.num_examples += 1
        problem = None
        try:
            kind, _ = parse_example(raw)
        except ExampleError as exc:
            kind, problem = getattr(exc, "kind", None), str(exc)
        if kind is not None and report.format is None:
            report.format, format_line = kind, line_no
        elif kind is not None and kind != report.format:
            # A wrong-format line is one mistake, whatever else is wrong inside it.
            problem = _mixed_message(kind, report.format, format_line)
        if problem:
            errors.add(line_no, problem)
    if report.num_examples == 0 and not errors.total and not errors.file_errors:
        errors.add(0, "the file is empty: upload at least one example")
    report.errors = errors.finish()
    return report


class _ErrorList:
    """Keeps the first `cap` errors and counts the rest, so memory stays bounded."""

    def __init__(self, cap: int) -> None:
        self.cap, self.kept, self.total = cap, [], 0

        self.file_errors: list[LineError] = []

    def add(self, line: int, message: str, *, always: bool = False) -> None:
        if always:  # a file-level verdict must not hide behind "... and N more"
            self.file_errors.append(LineError(line, message))
            return
        self.total += 1
        if len(self.kept) < self.cap:
            self.kept.append(LineError(line, message))

    def finish(self) -> list[LineError]:
        rest = self.total - len(self.kept)
        if not rest:
            return self.kept + self.file_errors
        more = LineError(0, f"... and {rest:,} more error{'s' if rest != 1 else ''}")
        return [*self.kept, *self.file_errors, more]


def read_conversations(path: Path, *, max_line_bytes: int = 1 << 30) -> list[list[dict[str, str]]]:
    """Every example of a JSONL file as chat messages; ValueError naming the line on a bad one."""
    conversations: list[list[dict[str, str]]] = []
    file_format, format_line = None, 0
    with Path(path).open("rb") as f:
        for line_no, raw, size in _physical_lines(f, max_line_bytes):
            if raw is None:
                raise ValueError(f"{path}: line {line_no}: {size:,} bytes is over the line limit")
            if not raw.strip():
                continue
            try:
                kind, messages = parse_example(raw)
            except ExampleError as exc:
                raise ValueError(f"{path}: line {line_no}: {exc}") from None
            if file_format is None:
                file_format, format_line = kind, line_no
            elif kind != file_format:
                message = _mixed_message(kind, file_format, format_line)
                raise ValueError(f"{path}: line {line_no}: {message}")
            conversations.append(messages)
    return conversations


def parse_example(raw: bytes) -> tuple[str, list[dict[str, str]]]:
    """(format, chat messages) for one line, or ExampleError (with .kind when it is known)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        raise ExampleError(f"not UTF-8 ({bad})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExampleError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ExampleError(
            f'expected a JSON object with "messages" or "prompt" and "completion", '
            f"got {_json_type(obj)}"
        )
    if "messages" in obj:
        if "prompt" in obj or "completion" in obj:
            raise ExampleError('has both "messages" and "prompt"/"completion"; use one format')
        return CHAT, _with_kind(CHAT, _check_chat, obj["messages"])
    if "prompt" in obj or "completion" in obj:
        return PROMPT_COMPLETION, _with_kind(PROMPT_COMPLETION, _check_prompt_completion, obj)
    keys = ", ".join(sorted(obj)) or "none"
    raise ExampleError(f'expected "messages" or "prompt" and "completion" keys (found: {keys})')


def _with_kind(kind: str, check: Any, value: Any) -> list[dict[str, str]]:
    # The format is known even when the content is wrong, so later lines are judged against it.
    try:
        return check(value)
    except ExampleError as exc:
        exc.kind = kind  # type: ignore[attr-defined]
        raise


def _check_chat(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise ExampleError("messages must be a non-empty list of {role, content} objects")
    out = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ExampleError(f"messages[{i}] is {_json_type(msg)}; expected an object")
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            shown = "missing" if role is None else f"is {json.dumps(role)}"
            raise ExampleError(f"messages[{i}].role {shown}; expected one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            shown = "is missing" if "content" not in msg else f"is {_json_type(content)}"
            raise ExampleError(f"messages[{i}].content {shown}; expected a string")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" and m["content"].strip() for m in out):
        raise ExampleError(
            "no assistant turn with content; the model learns from assistant turns only"
        )
    return out


def _check_prompt_completion(obj: dict[str, Any]) -> list[dict[str, str]]:
    for key in ("prompt", "completion"):
        value = obj.get(key)
        if key not in obj:
            raise ExampleError(f'"{key}" is missing; prompt/completion examples need both')
        if not isinstance(value, str):
            raise ExampleError(f'"{key}" is {_json_type(value)}; expected a string')
        if not value.strip():
            raise ExampleError(f'"{key}" is empty')
    return [
        {"role": "user", "content": obj["prompt"]},
        {"role": "assistant", "content": obj["completion"]},
    ]


def _physical_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(1-based line number, bytes without the newline or None if over `limit`, size in bytes).

    Over-long lines are counted but not kept, so memory stays bounded by `limit`.
    """
    line_no, size, buf, over = 0, 0, bytearray(), False
    first = True
    while chunk := stream.read(_CHUNK):
        if first and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]  # editors on Windows add one; it is not part of the JSON
        first = False
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            size += len(piece)
            if not over:
                buf += piece
                if len(buf) > limit + 1:  # +1: a CRLF line's "\r" does not count
                    over, buf = True, bytearray()
            if end < 0:
                break
            line_no += 1
            yield _finish_line(line_no, buf, size, over, limit)
            size, buf, over, start = 0, bytearray(), False, end + 1
    if size:
        yield _finish_line(line_no + 1, buf, size, over, limit)


def _finish_line(line_no: int, buf: bytearray, size: int, over: bool, limit: int):
    if not over and buf.endswith(b"\r"):
        del buf[-1]
        size -= 1
    if over or size > limit:
        return line_no, None, size
    return line_no, bytes(buf), size


def _mixed_message(kind: str, file_format: str, format_line: int) -> str:
    return (
        f"{_FORMAT_NAMES[kind]} example in a {_FORMAT_NAMES[file_format]} file "
        f"(line {format_line} set the format to {_FORMAT_NAMES[file_format]})"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
