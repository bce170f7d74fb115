"""Run one batch of requests through a single mixed-adapter `generate` call.

Called only on the engine's scheduler thread. Rows are left-padded so every prompt ends at
the same column and decoding starts in step; PEFT routes each row through its own adapter
("__base__" for none) via `adapter_names`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

from .adapters import AdapterSet
from .backend import GenerationRequest
from .decoding import BatchStreamer, IncrementalDetokenizer, Row, RowLengthLimit, RowSampler, RowSampling
from .jobs import Job


@dataclass
class Runner:
    """What a batch needs from the engine: the model (through its adapters) and tokenizer."""

    adapters: AdapterSet
    tokenizer: object
    eos_ids: frozenset[int]
    pad_id: int
    max_positions: int
    device: torch.device

    def encode(self, request: GenerationRequest) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            request.messages, add_generation_prompt=True, tokenize=False
        )
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) + request.max_tokens > self.max_positions:
            raise ValueError(
                f"prompt ({len(ids)} tokens) + max_tokens ({request.max_tokens}) exceeds the "
                f"model's context of {self.max_positions} tokens"
            )
        return ids

    def run(self, jobs: list[Job], on_start: Callable[[int], None]) -> None:
        """Generate for every live job; `on_start(rows)` runs just before the model does."""
        rows, names, prompts, sampling = [], [], [], []
        for job in jobs:
            if job.cancelled:
                continue
            try:
                # Checked again here: the adapter may have been unloaded while the job queued.
                name = self.adapters.internal_name(job.request.adapter)
                prompt = self.encode(job.request)
            except Exception as exc:  # one bad request must not sink its batch-mates
                job.fail(exc)
                continue
            detokenizer = IncrementalDetokenizer(self.tokenizer)
            rows.append(Row(job, detokenizer, len(prompt), job.request.max_tokens, self.eos_ids))
            names.append(name)
            prompts.append(prompt)
            sampling.append(self._sampling(job.request))
        if rows:
            # Before generate(): rows resolve mid-call, and their callers may read stats at once.
            on_start(len(rows))
            try:
                self._generate(rows, names, prompts, sampling)
            except Exception as exc:
                for row in rows:
                    if not row.done:  # rows already finished keep their results
                        row.done = True
                        row.sink.fail(exc)

    def _sampling(self, request: GenerationRequest) -> RowSampling:
        if request.temperature == 0:
            return RowSampling(0.0, None, None)
        generator = torch.Generator(device=self.device)
        if request.seed is not None:
            generator.manual_seed(request.seed)
        else:
            generator.seed()  # fresh entropy: unseeded requests must not repeat each other
        return RowSampling(request.temperature, request.top_p, generator)

    def _generate(
        self, rows: list[Row], names: list[str], prompts: list[list[int]], sampling: list[RowSampling]
    ) -> None:
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, prompt in enumerate(prompts):
            input_ids[i, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[i, width - len(prompt) :] = 1
        # A fresh config on purpose: only the request's own settings apply, never sampling
        # defaults a checkpoint may ship in its generation_config.json.
        config = GenerationConfig(
            max_new_tokens=max(row.max_tokens for row in rows),
            do_sample=False,  # RowSampler draws sampled rows itself
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.pad_id,
        )
        kwargs = {
            "input_ids": input_ids.to(self.device),
            "attention_mask": attention_mask.to(self.device),
            "generation_config": config,
            "streamer": BatchStreamer(rows),
            "stopping_criteria": StoppingCriteriaList([RowLengthLimit(rows, width)]),
        }
        if any(s.generator is not None for s in sampling):
            kwargs["logits_processor"] = LogitsProcessorList([RowSampler(sampling)])
        if self.adapters.mixed:
            kwargs["adapter_names"] = names
        with torch.inference_mode():
            self.adapters.model.generate(**kwargs)
