"""The JSONL validator: every bad input names its line and says what to fix."""

from __future__ import annotations

import io
import json
import random

import pytest
from tuneloop_worker.data_format import LineError, read_conversations, validate_jsonl

LIMITS = dict(max_line_bytes=1 << 20, max_examples=100_000)


def chat(*turns: tuple[str, str]) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


GOOD_CHAT = chat(("user", "Hi"), ("assistant", "Hello!"))
GOOD_PC = {"prompt": "2+2=", "completion": "4"}


def jsonl(*rows: object) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def check(data: bytes, **limits) -> list[str]:
    report = validate_jsonl(io.BytesIO(data), **{**LIMITS, **limits})
    return [str(e) for e in report.errors]


def test_valid_chat_file():
    report = validate_jsonl(io.BytesIO(jsonl(GOOD_CHAT, GOOD_CHAT)), **LIMITS)
    assert (report.format, report.num_examples, report.errors, report.ok) == ("chat", 2, [], True)


def test_valid_prompt_completion_file_without_trailing_newline():
    data = jsonl(GOOD_PC, GOOD_PC).rstrip(b"\n")
    report = validate_jsonl(io.BytesIO(data), **LIMITS)
    assert (report.format, report.num_examples, report.errors) == ("prompt_completion", 2, [])


def test_blank_lines_crlf_and_bom_are_fine():
    row = json.dumps(GOOD_CHAT).encode()
    data = b"\xef\xbb\xbf" + row + b"\r\n\r\n   \n" + row
    assert check(data) == []


def test_invalid_json_names_line_and_column():
    data = jsonl(GOOD_CHAT, GOOD_CHAT, b'{"messages": [{"role" "user"}]}')
    assert check(data) == ["line 3: not valid JSON (Expecting ':' delimiter at column 23)"]


def test_bad_role():
    bad = chat(("system", "s"), ("user", "u"), ("bot", "b"))
    assert check(jsonl(GOOD_CHAT, GOOD_CHAT, GOOD_CHAT, GOOD_CHAT, bad)) == [
        'line 5: messages[2].role is "bot"; expected one of system, user, assistant'
    ]


def test_no_assistant_turn_with_content():
    rows = [GOOD_CHAT] * 6 + [chat(("user", "u"), ("assistant", "  "))]
    assert check(jsonl(*rows)) == [
        "line 7: no assistant turn with content; the model learns from assistant turns only"
    ]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"messages": []}, "messages must be a non-empty list of {role, content} objects"),
        ({"messages": ["hi"]}, "messages[0] is a string; expected an object"),
        ({"messages": [{"role": "user", "content": 5}]},
         "messages[0].content is a number; expected a string"),
        ({"messages": [{"content": "x"}]},
         "messages[0].role missing; expected one of system, user, assistant"),
        ({"prompt": "p"}, '"completion" is missing; prompt/completion examples need both'),
        ({"prompt": "p", "completion": ""}, '"completion" is empty'),
        ({"prompt": ["p"], "completion": "c"}, '"prompt" is a list; expected a string'),
        ([1, 2], 'expected a JSON object with "messages" or "prompt" and "completion", got a list'),
        ({"text": "x"}, 'expected "messages" or "prompt" and "completion" keys (found: text)'),
    ],
)
def test_shape_problems(row, message):
    assert check(jsonl(row)) == [f"line 1: {message}"]


def test_not_utf8_names_the_byte():
    line = b'{"prompt": "caf\xff", "completion": "x"}'  # 0xff at offset 15
    assert check(jsonl(GOOD_PC, GOOD_PC, line)) == ["line 3: not UTF-8 (byte 0xff at offset 15)"]


def test_line_over_the_limit_is_counted_not_kept():
    big = b'{"prompt": "' + b"x" * 1_999_967 + b'", "completion": "y"}'
    assert len(big) == 2_000_000
    data = jsonl(GOOD_PC, GOOD_PC, GOOD_PC, big, GOOD_PC)
    assert check(data, max_line_bytes=1_048_576) == [
        "line 4: 2,000,000 bytes is over the 1,048,576-byte line limit"
    ]


def test_mixed_formats():
    rows = [GOOD_CHAT] + [GOOD_CHAT] * 10 + [GOOD_PC]
    assert check(jsonl(*rows)) == [
        "line 12: prompt/completion example in a chat file (line 1 set the format to chat)"
    ]


def test_empty_file():
    assert check(b"") == ["the file is empty: upload at least one example"]
    assert check(b"\n  \n\n") == ["the file is empty: upload at least one example"]


def test_too_many_examples():
    assert check(jsonl(*[GOOD_PC] * 4), max_examples=3) == ["more than 3 examples (the limit)"]
    assert check(jsonl(*[GOOD_PC] * 3), max_examples=3) == []


def test_errors_are_capped_with_a_count_of_the_rest():
    errors = check(jsonl(*[b"nope"] * 7), max_errors=3)
    expected = [f"line {i}: not valid JSON (Expecting value at column 1)" for i in (1, 2, 3)]
    assert errors[:3] == expected
    assert errors[3:] == ["... and 4 more errors"]


def test_thousand_lines_report_exactly_the_bad_ones():
    rng = random.Random(7)
    bad_lines = set(rng.sample(range(1, 1001), 25))
    breakers = [
        b"{not json}",
        json.dumps(chat(("user", "u"), ("robot", "r"))).encode(),
        json.dumps(chat(("user", "only a question"))).encode(),
        b'{"messages": [{"role": "assistant", "content": "\xfe"}]}',
        json.dumps(GOOD_PC).encode(),
    ]
    rows = [breakers[i % len(breakers)] if n in bad_lines else json.dumps(GOOD_CHAT).encode()
            for i, n in enumerate(range(1, 1001))]
    report = validate_jsonl(io.BytesIO(b"\n".join(rows) + b"\n"), **LIMITS)
    assert report.format == "chat" and report.num_examples == 1000
    assert [e.line for e in report.errors] == sorted(bad_lines)


class OnlyReadsChunks(io.RawIOBase):
    """A stream that refuses to be read whole and counts how much was asked of it at once."""

    def __init__(self, data: bytes) -> None:
        self.inner, self.largest = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("the validator read the whole file at once")
        self.largest = max(self.largest, size)
        return self.inner.read(size)


def test_streams_in_bounded_chunks():
    data = jsonl(*[GOOD_CHAT] * 20_000)  # ~1.4 MB
    stream = OnlyReadsChunks(data)
    report = validate_jsonl(stream, **LIMITS)
    assert report.ok and report.num_examples == 20_000
    assert stream.largest <= 1 << 16


def test_accepts_a_path(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(jsonl(GOOD_CHAT, {"messages": 3}))
    report = validate_jsonl(path, **LIMITS)
    expected = LineError(2, "messages must be a non-empty list of {role, content} objects")
    assert report.errors == [expected]


def test_read_conversations_turns_prompt_completion_into_chat(tmp_path):
    path = tmp_path / "pc.jsonl"
    path.write_bytes(jsonl(GOOD_PC) + b"\n" + jsonl(GOOD_PC))
    assert read_conversations(path) == [
        [{"role": "user", "content": "2+2="}, {"role": "assistant", "content": "4"}]
    ] * 2


def test_read_conversations_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl(GOOD_CHAT, GOOD_CHAT, chat(("user", "u"))))
    with pytest.raises(ValueError, match="line 3: no assistant turn with content"):
        read_conversations(path)
