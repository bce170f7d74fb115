"""Build the ServingBackend for a base model from the settings: in-process PEFT or vLLM."""

from __future__ import annotations

import re
import shlex
from functools import partial
from pathlib import Path
from typing import Callable

from tuneloop_worker.serving.backend import ServingBackend

from .config import ServerSettings


def backend_factory(settings: ServerSettings) -> Callable[[str], ServingBackend]:
    return partial(_vllm if settings.serving == "vllm" else _local, settings)


def _local(settings: ServerSettings, base_model: str) -> ServingBackend:
    from tuneloop_worker.serving.local_engine import LocalPeftEngine

    return LocalPeftEngine(base_model, settings.cache_dir, max_batch_size=settings.serving_batch_size,
                           max_adapters=settings.serving_max_adapters)


def _vllm(settings: ServerSettings, base_model: str) -> ServingBackend:
    from tuneloop_worker import base_models
    from tuneloop_worker.serving.vllm_backend import VllmBackend
    from tuneloop_worker.serving.vllm_server import VllmOptions, VllmServer

    options = VllmOptions(
        max_loras=settings.vllm_max_loras, max_lora_rank=settings.vllm_max_lora_rank,
        max_model_len=settings.vllm_max_model_len, startup_timeout=settings.vllm_startup_timeout,
        extra_args=tuple(shlex.split(settings.vllm_extra_args)))

    def launch(model_dir: Path) -> VllmServer:
        log_file = settings.vllm_log_dir / f"vllm-{re.sub(r'[^A-Za-z0-9_.-]', '_', base_model)}.log"
        return VllmServer(model_dir, base_model, log_file, options)

    return VllmBackend(
        base_model, materialize=lambda: base_models.materialize(base_model, settings.cache_dir),
        max_lora_rank=settings.vllm_max_lora_rank, url=settings.vllm_url,
        launch=None if settings.vllm_url else launch)
