"""Serving backends: the ServingBackend seam and its in-process PEFT implementation.

Importing this package does not import torch; the engine loads it when started.
"""

from .backend import (
    AdapterLoadError,
    GenerationRequest,
    GenerationResult,
    ServingBackend,
    StreamDelta,
    UnknownAdapterError,
)
from .local_engine import EngineStats, LocalPeftEngine

__all__ = [
    "AdapterLoadError",
    "EngineStats",
    "GenerationRequest",
    "GenerationResult",
    "LocalPeftEngine",
    "ServingBackend",
    "StreamDelta",
    "UnknownAdapterError",
]
