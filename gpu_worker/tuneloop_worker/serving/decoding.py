"""Per-row decoding for one batched `generate` call: sampling, stopping and streaming.

transformers' `generate` applies one sampling setting and one length limit to the whole batch.
The engine wants each row to behave exactly as if it ran alone, so the pieces here work row by
row: a logits processor samples each row with its own temperature/top_p/seed, a stopping
criterion ends each row at its own max_tokens, and a streamer turns each step's token ids into
per-row text deltas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from transformers import LogitsProcessor, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from .backend import FinishReason, GenerationResult


class RowSink(Protocol):
    """Where a row's output goes; called on the scheduler thread, must not block."""

    cancelled: bool

    def emit(self, text: str) -> None: ...

    def finish(self, text: str, result: GenerationResult) -> None: ...

    def fail(self, exc: BaseException) -> None: ...


class IncrementalDetokenizer:
    """Turns token ids into text deltas that never split a multi-byte character.

    Decoding one token at a time would cut UTF-8 sequences that span tokens (emoji, CJK) and
    lose tokenizer context such as leading-space handling, so each step decodes a short window
    that starts at the last stable point and emits only what was added past it (vLLM's method).
    The deltas concatenate to the same text as decoding all ids at once.
    """

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # window start: context for the decoder
        self._read = 0  # everything before this has been emitted
        self.text = ""

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def add(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        # U+FFFD at the end means the last token ended inside a multi-byte character: wait.
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        delta = after[len(before) :]
        self._prefix, self._read = self._read, len(self._ids)
        self.text += delta
        return delta

    def flush(self) -> str:
        """Emit whatever was held back (an incomplete character stays as U+FFFD)."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        delta = after[len(before) :] if len(after) > len(before) else ""
        self._prefix = self._read = len(self._ids)
        self.text += delta
        return delta


@dataclass(eq=False)
class Row:
    """One request's state inside a running batch."""

    sink: RowSink
    detokenizer: IncrementalDetokenizer
    prompt_tokens: int
    max_tokens: int
    eos_ids: frozenset[int]
    completion_tokens: int = 0
    done: bool = False

    def push(self, token_id: int) -> None:
        if self.done:
            return  # finished rows keep receiving pad tokens until the whole batch ends
        self.completion_tokens += 1
        if token_id in self.eos_ids:
            self.close("stop")
            return
        delta = self.detokenizer.add(token_id)
        if self.completion_tokens >= self.max_tokens:
            self.close("length", delta)
        elif delta:
            self.sink.emit(delta)

    def close(self, reason: FinishReason, pending: str = "") -> None:
        if self.done:
            return
        self.done = True
        tail = pending + self.detokenizer.flush()
        result = GenerationResult(
            text=self.detokenizer.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            finish_reason=reason,
        )
        self.sink.finish(tail, result)


class BatchStreamer(BaseStreamer):
    """Receives each step's new token for every row and routes it to that row.

    Every request goes through it, streaming or not, so a row's result is delivered the moment
    that row finishes rather than when the slowest row of the batch does.
    """

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows
        self._saw_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if not self._saw_prompt:  # generate() first hands over the (padded) prompt ids
            self._saw_prompt = True
            return
        for row, token_id in zip(self._rows, value.reshape(-1).tolist()):
            row.push(int(token_id))

    def end(self) -> None:
        # Rows still open here ran out of the batch's token budget, or were cancelled.
        for row in self._rows:
            row.close("length")


class RowLengthLimit(StoppingCriteria):
    """Ends each row at its own max_tokens, and rows whose caller went away."""

    def __init__(self, rows: list[Row], prompt_width: int) -> None:
        self._rows = rows
        self._prompt_width = prompt_width  # padded prompt length: generated = width - this

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self._prompt_width
        stop = [generated >= row.max_tokens or row.sink.cancelled for row in self._rows]
        return torch.tensor(stop, dtype=torch.bool, device=input_ids.device)


@dataclass(frozen=True)
class RowSampling:
    temperature: float
    top_p: float | None
    generator: torch.Generator | None  # None for greedy rows


class RowSampler(LogitsProcessor):
    """Samples each row with its own settings and seed, inside a greedy `generate` call.

    generate() runs with do_sample=False; for sampled rows this processor draws the token
    itself and leaves only that token finite, so argmax picks it. Greedy rows pass through
    untouched. A per-row torch.Generator makes a seeded request give the same text whatever
    else shares its batch.
    """

    def __init__(self, rows: list[RowSampling]) -> None:
        self._rows = rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for i, row in enumerate(self._rows):
            if row.generator is None:
                continue
            probs = torch.softmax(scores[i].float() / row.temperature, dim=-1)
            if row.top_p is not None and row.top_p < 1.0:
                probs = _nucleus(probs, row.top_p)
            token = torch.multinomial(probs, 1, generator=row.generator)
            scores[i] = float("-inf")
            scores[i, token] = 0.0
        return scores


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p."""
    sorted_probs, order = torch.sort(probs, descending=True)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    sorted_probs[mass_before >= top_p] = 0.0  # the top token always survives (mass_before 0)
    kept = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return kept / kept.sum()
