"""Parse corrections uploaded in bulk: CSV from a spreadsheet, or JSON Lines.

CSV: a header row with `prompt` and `correction` (optional `rating`, `note`).
JSONL: {"messages": [...], "correction": ...} or {"prompt": ..., "correction": ...}, with
optional "rating" and "note". Every bad line is reported with its number.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from ..store.records import LineError

ROLES = ("system", "user", "assistant")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ImportedCorrection:
    messages: list[dict[str, str]]
    correction: str
    rating: int | None
    note: str


def parse_corrections(filename: str, content: bytes) -> tuple[list[ImportedCorrection], list[LineError]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [LineError(text_line(content, exc.start), "not UTF-8 text: save the file as UTF-8")]
    if filename.lower().endswith(".csv"):
        return _parse_csv(text)
    return _parse_jsonl(text)


def text_line(content: bytes, offset: int) -> int:
    return content[:offset].count(b"\n") + 1


def _parse_csv(text: str) -> tuple[list[ImportedCorrection], list[LineError]]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"prompt", "correction"} <= fields:
        return [], [LineError(1, "the header row needs the columns prompt and correction "
                                 f"(found: {', '.join(sorted(fields)) or 'none'})")]
    rows, errors = [], []
    for row in reader:
        line = reader.line_num
        data = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        _collect(line, {"prompt": data.get("prompt", ""), "correction": data.get("correction", ""),
                        "rating": data.get("rating") or None, "note": data.get("note", "")},
                 rows, errors)
    return rows, errors


def _parse_jsonl(text: str) -> tuple[list[ImportedCorrection], list[LineError]]:
    rows, errors = [], []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError as exc:
            errors.append(LineError(line, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(data, dict):
            errors.append(LineError(line, "must be a JSON object"))
            continue
        _collect(line, data, rows, errors)
    return rows, errors


def _collect(line: int, data: dict[str, Any], rows: list, errors: list) -> None:
    if len(rows) + len(errors) >= MAX_ROWS:
        if len(errors) < 1000:
            errors.append(LineError(line, f"more than {MAX_ROWS:,} corrections in one file"))
        return
    try:
        rows.append(_correction(data))
    except ValueError as exc:
        errors.append(LineError(line, str(exc)))


def _correction(data: dict[str, Any]) -> ImportedCorrection:
    correction = data.get("correction")
    if not isinstance(correction, str) or not correction.strip():
        raise ValueError("correction is missing or empty: write the answer the model should give")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages must be a non-empty list of {role, content} objects")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f"messages[{i}] needs a role ({', '.join(ROLES)}) and a string content")
        if messages[-1]["role"] == "assistant":
            raise ValueError("the last message is from the assistant; the prompt must end with "
                             "the user's turn (the correction is the answer)")
    elif isinstance(data.get("prompt"), str) and data["prompt"].strip():
        messages = [{"role": "user", "content": data["prompt"]}]
    else:
        raise ValueError("needs messages (a chat) or prompt (a string)")
    rating = data.get("rating")
    if rating is not None:
        try:
            rating = int(rating)
        except (TypeError, ValueError):
            raise ValueError(f"rating must be a whole number 1..5 (got {rating!r})") from None
        if not 1 <= rating <= 5:
            raise ValueError(f"rating must be between 1 and 5 (got {rating})")
    note = data.get("note") or ""
    if not isinstance(note, str):
        raise ValueError("note must be a string")
    return ImportedCorrection([{"role": m["role"], "content": m["content"]} for m in messages],
                              correction, rating, note)
