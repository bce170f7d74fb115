"""The training loop: a plain PyTorch loop so that every step, evaluation, checkpoint and
cancellation is under our control (the HF Trainer hides them behind callbacks)."""

from __future__ import annotations

import inspect
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data_format import read_conversations
from . import checkpoints
from .batching import epoch_batches, lr_factor, steps_per_epoch
from .config import TrainingConfig
from .events import TrainingCancelled, TrainingError, TrainingEvent, TrainingResult
from .model_setup import QLORA_NEEDS_CUDA, autocast_for, load_for_training, pick_device
from .tokenization import IGNORE_INDEX, TokenizedExample, collate, tokenize_conversations

EventSink = Callable[[TrainingEvent], None]


def train(
    *,
    base_model: str,
    train_files: list[Path],
    output_dir: Path,
    config: TrainingConfig,
    cache_dir: Path,
    validation_file: Path | None = None,
    on_event: EventSink = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
    resume_from: Path | None = None,
    init_adapter: Path | None = None,
    max_steps: int | None = None,
    keep_checkpoints: int = 2,
) -> TrainingResult:
    """Fine-tune a LoRA adapter; the final adapter lands in output_dir/adapter.

    resume_from: a checkpoint directory (see checkpoints.latest_checkpoint) to continue from.
    init_adapter: a PEFT adapter directory whose weights the new adapter starts from (warm
      start); it must have the same rank and target modules.
    max_steps: stop early after this many optimizer steps (tests and smoke runs).
    Raises TrainingError (the message is for the user), TrainingCancelled.
    """
    device = pick_device()
    if config.method == "qlora" and device.type != "cuda":
        raise TrainingError(QLORA_NEEDS_CUDA)  # before spending time loading anything
    # Read the data first: a bad file fails in milliseconds, not after loading the model.
    train_convs = _read(train_files, "training")
    val_convs = _read([validation_file], "validation") if validation_file else []
    _seed_everything(config.seed)
    emit = _Emitter(on_event)
    emit.log(f"loading base model {base_model} ({config.method} on {device.type})")
    model, tokenizer = load_for_training(base_model, cache_dir, config, device)
    if init_adapter is not None and resume_from is None:
        _warm_start(model, init_adapter)
        emit.log(f"warm start from the weights in {init_adapter.name}")
    trainable, total = model.get_nb_trainable_parameters()
    emit.log(f"LoRA rank {config.lora_rank}: {trainable:,} trainable of {total:,} parameters")
    train_set = _tokenize(tokenizer, train_convs, config, emit, "training")
    val_set = _tokenize(tokenizer, val_convs, config, emit, "validation") if val_convs else []
    loop = _Loop(model, tokenizer.pad_token_id, config, device, output_dir, emit, should_stop)
    loop.prepare(train_set, val_set, max_steps, keep_checkpoints)
    if resume_from is not None:
        loop.resume(resume_from)
    try:
        metrics = loop.run()
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(
            f"out of GPU memory at step {loop.step}: lower batch_size or max_seq_length, "
            "raise gradient_accumulation_steps, or use method=\"qlora\""
        ) from None
    adapter_dir = output_dir / "adapter"
    model.save_pretrained(adapter_dir)
    emit.log("saved the trained adapter")
    return TrainingResult(adapter_dir=adapter_dir, steps=loop.step, metrics=metrics)


class _Emitter:
    def __init__(self, sink: EventSink) -> None:
        self.sink, self.step, self.total_steps = sink, 0, 0

    def __call__(
        self, type_: str, metrics: dict[str, float] | None = None, message: str = ""
    ) -> None:
        self.sink(TrainingEvent(type_, self.step, self.total_steps, dict(metrics or {}), message))

    def log(self, message: str) -> None:
        self("log", message=message)


def _read(files: Sequence[Path], what: str) -> list[list[dict[str, str]]]:
    conversations = []
    for path in files:
        try:
            conversations += read_conversations(Path(path))
        except (OSError, ValueError) as exc:
            raise TrainingError(f"cannot read the {what} data: {exc}") from None
    if not conversations:
        raise TrainingError(f"the {what} data has no examples")
    return conversations


def _tokenize(
    tokenizer, conversations, config: TrainingConfig, emit: _Emitter, what: str
) -> list[TokenizedExample]:
    try:
        examples, dropped = tokenize_conversations(tokenizer, conversations, config.max_seq_length)
    except ValueError as exc:
        raise TrainingError(
            f"cannot apply the base model's chat template to the {what} data: {exc}"
        ) from None
    if not examples:
        raise TrainingError(
            f"no {what} examples left after tokenization ({len(conversations)} read, "
            f"{dropped} had no assistant tokens within max_seq_length={config.max_seq_length}): "
            "raise max_seq_length or shorten the prompts"
        )
    tokens = sum(len(ex.input_ids) for ex in examples)
    note = f"; {dropped} dropped (no assistant tokens within max_seq_length)" if dropped else ""
    emit.log(f"tokenized {len(examples)} {what} examples / {tokens:,} tokens{note}")
    return examples


class _Loop:
    def __init__(
        self, model, pad_id: int, config: TrainingConfig, device: torch.device,
        output_dir: Path, emit: _Emitter, should_stop: Callable[[], bool],
    ) -> None:
        self.model, self.pad_id, self.config, self.device = model, pad_id, config, device
        self.output_dir, self.emit, self.should_stop = output_dir, emit, should_stop
        self.step = 0
        # Computing logits only where loss is taken skips most of the vocabulary projection.
        forward = inspect.signature(model.get_base_model().forward)
        self.sparse_logits = "logits_to_keep" in forward.parameters

    def prepare(self, train_set, val_set, max_steps: int | None, keep_checkpoints: int) -> None:
        cfg = self.config
        self.train_set, self.val_set, self.keep = train_set, val_set, keep_checkpoints
        self.per_epoch = steps_per_epoch(
            len(train_set), cfg.batch_size, cfg.gradient_accumulation_steps
        )
        self.total = self.per_epoch * cfg.epochs
        if max_steps:
            self.total = min(self.total, max_steps)
        self.emit.total_steps = self.total
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.params = params
        self.optimizer = torch.optim.AdamW(
            params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        warmup = math.ceil(cfg.warmup_ratio * self.total)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, total_steps=self.total, warmup_steps=warmup)
        )

    def resume(self, checkpoint: Path) -> None:
        try:
            state = checkpoints.load_checkpoint(
                checkpoint, self.model, self.optimizer, self.scheduler, self.total
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise TrainingError(f"cannot resume from {checkpoint}: {exc}") from None
        self.step = self.emit.step = int(state["step"])
        if "rng" in state:  # dropout continues with the numbers it would have drawn
            _restore_rng(state["rng"])
        self.emit.log(f"resumed from {checkpoint.name} (step {self.step} of {self.total})")

    def run(self) -> dict[str, float]:
        cfg, accum = self.config, self.config.gradient_accumulation_steps
        lengths = [len(ex.input_ids) for ex in self.train_set]
        self.started, self.steps_timed, self.tokens_seen = time.monotonic(), 0, 0
        epoch_losses: list[float] = []
        eval_loss = None
        while self.step < self.total:
            epoch, in_epoch = divmod(self.step, self.per_epoch)
            batches = epoch_batches(lengths, cfg.batch_size, seed=cfg.seed, epoch=epoch)
            groups = [batches[i : i + accum] for i in range(0, len(batches), accum)]
            epoch_losses = []
            for group in groups[in_epoch:]:
                epoch_losses.append(self._step(group, epoch))
                epoch_end = self.step % self.per_epoch == 0 or self.step == self.total
                last = self.step == self.total
                if self.val_set and (self._due(cfg.eval_every_steps, epoch_end) or last):
                    eval_loss = self._evaluate()
                if self._due(cfg.checkpoint_every_steps, epoch_end):
                    self._checkpoint()
                if last:
                    break
        if self.val_set and eval_loss is None:
            eval_loss = self._evaluate()  # resumed past the last evaluation
        return self._final_metrics(epoch_losses, eval_loss)

    def _due(self, every: int, epoch_end: bool) -> bool:
        return self.step % every == 0 if every else epoch_end

    def _step(self, group: list[list[int]], epoch: int) -> float:
        started = time.monotonic()
        batches = [collate([self.train_set[i] for i in idx], self.pad_id) for idx in group]
        # Normalise by the step's supervised tokens, so micro-batching does not change the loss.
        n_targets = max(1, sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches))
        loss_sum, tokens = 0.0, 0
        for batch in batches:
            if self.should_stop():
                self.optimizer.zero_grad(set_to_none=True)
                raise TrainingCancelled(self.step)
            loss = self._loss_sum(batch) / n_targets
            loss.backward()
            loss_sum += loss.item()
            tokens += int(batch["attention_mask"].sum())
        if not math.isfinite(loss_sum):
            # Stop before the optimizer spreads NaN into the adapter weights.
            raise TrainingError(f"the loss became {loss_sum} at step {self.step + 1}: training "
                                "diverged; lower learning_rate or set max_grad_norm")
        max_norm = self.config.max_grad_norm or float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step = self.emit.step = self.step + 1
        self._report(loss_sum, lr, grad_norm, tokens, started, epoch)
        if self.should_stop():
            raise TrainingCancelled(self.step)
        return loss_sum

    def _report(
        self, loss: float, lr: float, grad_norm: float, tokens: int, started: float, epoch: int
    ) -> None:
        now = time.monotonic()
        self.steps_timed += 1
        self.tokens_seen += tokens
        per_step = (now - self.started) / self.steps_timed
        in_epoch = self.step - epoch * self.per_epoch
        self.emit("metrics", {
            "loss": loss,
            "learning_rate": lr,
            "epoch": epoch + in_epoch / self.per_epoch,
            "grad_norm": grad_norm,
            "tokens_per_second": tokens / max(now - started, 1e-9),
            "eta_seconds": per_step * (self.total - self.step),
        })

    def _loss_sum(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Summed cross-entropy over the supervised tokens of one micro-batch."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        targets = batch["labels"][:, 1:]
        kwargs = {}
        if self.sparse_logits:
            # Position p predicts token p+1: keep only positions whose next token is supervised.
            keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
            kwargs["logits_to_keep"] = keep
            targets = targets[:, keep]
        with autocast_for(self.device):
            out = self.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs
            )
        logits = out.logits if self.sparse_logits else out.logits[:, :-1]
        return F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1),
            ignore_index=IGNORE_INDEX, reduction="sum",
        )

    @torch.no_grad()
    def _evaluate(self) -> float:
        self.model.eval()
        order = sorted(range(len(self.val_set)), key=lambda i: len(self.val_set[i].input_ids))
        total, count = 0.0, 0
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start : start + self.config.batch_size]
            batch = collate([self.val_set[i] for i in rows], self.pad_id)
            total += float(self._loss_sum(batch))
            count += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        self.model.train()
        eval_loss = total / max(count, 1)
        self.emit("eval", {"eval_loss": eval_loss, "epoch": self.step / self.per_epoch})
        return eval_loss

    def _checkpoint(self) -> None:
        extra = {"config": self.config.model_dump(mode="json"), "total_steps": self.total,
                 "rng": _rng_state()}
        path = checkpoints.save_checkpoint(
            self.output_dir, self.step, self.model, self.optimizer, self.scheduler, extra, self.keep
        )
        self.emit("checkpoint", {"epoch": self.step / self.per_epoch}, message=path.name)

    def _final_metrics(
        self, epoch_losses: list[float], eval_loss: float | None
    ) -> dict[str, float]:
        seconds = time.monotonic() - self.started
        metrics = {
            "train_seconds": seconds,
            "train_tokens": float(self.tokens_seen),
            "tokens_per_second": self.tokens_seen / max(seconds, 1e-9),
            "examples": float(len(self.train_set)),
        }
        if epoch_losses:  # none when resumed after the last step
            metrics["train_loss"] = sum(epoch_losses) / len(epoch_losses)
        if eval_loss is not None:
            metrics["eval_loss"] = eval_loss
        return metrics


def _warm_start(model, adapter_dir: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    device = next(model.parameters()).device
    try:
        weights = load_file(str(adapter_dir / "adapter_model.safetensors"), device=str(device))
        result = set_peft_model_state_dict(model, weights)
    except (OSError, RuntimeError) as exc:  # e.g. a size mismatch: another rank
        raise TrainingError(f"cannot warm start from the previous version: {' '.join(str(exc).split())[:300]}; "
                            "use the same lora_rank and target_modules, or train from the base") from None
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing:
        raise TrainingError(f"cannot warm start: the previous version lacks {len(missing)} LoRA "
                            f"tensors this configuration trains (first: {missing[0]}); use the same "
                            "target_modules, or train from the base")


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
