"""Fixtures for the training recipe. The base-model cache (`model_cache`, `base_model_dir`)
comes from tests/conftest.py; set TUNELOOP_TEST_CACHE_DIR to skip the ~20 s conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tokenizer(base_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir)


@pytest.fixture
def write_jsonl(tmp_path: Path):
    """write_jsonl(name, rows) -> path of a JSONL file in the test's temporary directory."""

    def write(name: str, rows: list[dict]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    return write
