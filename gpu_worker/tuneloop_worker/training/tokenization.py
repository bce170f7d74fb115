"""Chat examples to token ids and labels: loss on assistant turns only.

The text is rendered with the base model's own chat template, so training sees exactly what
inference will. Which characters belong to an assistant turn is found by rendering the
conversation up to that turn (with and without the turn) and taking the difference, which works
for any template that renders conversations prefix-consistently; the tokens are then mapped to
those character spans through the tokenizer's offsets. No template-specific string hacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100  # the label value torch's cross_entropy skips
Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX where no loss is taken

    @property
    def num_supervised(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def render(
    tokenizer: PreTrainedTokenizerBase, messages: Messages, *, add_generation_prompt: bool = False
) -> str:
    return tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )


def assistant_char_spans(
    tokenizer: PreTrainedTokenizerBase, messages: Messages
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and, per assistant turn, the [start, end) characters that carry loss.

    A span covers the turn's content and the template's end-of-turn marker (e.g. <|im_end|>),
    so the model learns to stop; whitespace the template puts after the marker is left out.
    """
    text = render(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        span = _span_by_prefixes(tokenizer, messages, i, text)
        span = span or _span_by_search(text, message["content"], cursor, tokenizer.eos_token)
        if span is None:
            raise ValueError(
                f"messages[{i}]: cannot find this assistant turn in the chat template's output"
            )
        start, end = span
        end = start + len(text[start:end].rstrip())
        if end > start:
            spans.append((start, end))
        cursor = end
    return text, spans


def tokenize_example(
    tokenizer: PreTrainedTokenizerBase, messages: Messages, max_seq_length: int
) -> TokenizedExample:
    """Token ids and labels for one conversation, truncated to `max_seq_length` tokens."""
    text, spans = assistant_char_spans(tokenizer, messages)
    # The template already wrote every special token it wants (BOS included, if any).
    ids, offsets = _encode_with_offsets(tokenizer, text)
    labels = [IGNORE_INDEX] * len(ids)
    for t, (tok_start, tok_end) in enumerate(offsets):
        # Overlap, not containment: a token that merges a template char with the first
        # content char still predicts content, so it is supervised.
        if any(tok_start < end and tok_end > start for start, end in spans):
            labels[t] = ids[t]
    return TokenizedExample(ids[:max_seq_length], labels[:max_seq_length])


def tokenize_conversations(
    tokenizer: PreTrainedTokenizerBase, conversations: Sequence[Messages], max_seq_length: int
) -> tuple[list[TokenizedExample], int]:
    """(examples that still carry loss after truncation, how many were dropped)."""
    kept = [tokenize_example(tokenizer, conv, max_seq_length) for conv in conversations]
    useful = [ex for ex in kept if ex.num_supervised > 0]
    return useful, len(kept) - len(useful)


def explain_supervision(
    tokenizer: PreTrainedTokenizerBase, messages: Messages, max_seq_length: int = 1 << 20
) -> list[tuple[str, bool]]:
    """The example's text as (segment, carries_loss) runs, e.g. to show a user what is learned."""
    example = tokenize_example(tokenizer, messages, max_seq_length)
    runs: list[tuple[list[int], bool]] = []
    for token, label in zip(example.input_ids, example.labels):
        supervised = label != IGNORE_INDEX
        if runs and runs[-1][1] == supervised:
            runs[-1][0].append(token)
        else:
            runs.append(([token], supervised))
    return [(tokenizer.decode(ids), supervised) for ids, supervised in runs]


def collate(batch: Sequence[TokenizedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad to the batch's longest example (not to max_seq_length): far less work on CPU."""
    import torch

    width = max(len(ex.input_ids) for ex in batch)
    input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ex in enumerate(batch):
        n = len(ex.input_ids)
        input_ids[row, :n] = torch.tensor(ex.input_ids)
        labels[row, :n] = torch.tensor(ex.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def _span_by_prefixes(
    tokenizer: Any, messages: Messages, i: int, text: str
) -> tuple[int, int] | None:
    if i == 0:
        return None  # templates refuse to render an empty conversation
    try:
        before = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1])
    except Exception:  # a template may reject partial conversations; fall back to search
        return None
    if len(through) > len(before) and text.startswith(before) and text.startswith(through):
        return len(before), len(through)
    return None


def _span_by_search(
    text: str, content: str, cursor: int, eos: str | None
) -> tuple[int, int] | None:
    # For templates that are not prefix-consistent (e.g. they inject a default system prompt
    # only when the first message is not a system message): find the content itself.
    needle = content.strip()
    start = text.find(needle, cursor) if needle else -1
    if start < 0:
        return None
    end = start + len(needle)
    if eos and text.startswith(eos, end):
        end += len(eos)
    return start, end


def _encode_with_offsets(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    except NotImplementedError:  # slow tokenizers have no offsets: measure prefixes instead
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        ends = [len(tokenizer.decode(ids[: t + 1])) for t in range(len(ids))]
        return ids, list(zip([0, *ends[:-1]], ends))
