"""A sample dataset for the demo and the end-to-end test: made-up facts a base model cannot know.

`facts.jsonl` teaches four invented facts (a company founder, a planet's capital, a product's
launch year, a team mascot), each asked ten ways. `facts_eval.jsonl` asks about the same facts
in wording the training set never uses; an answer is right when it contains `expect`.
With SAMPLE_HYPERPARAMETERS, smollm2-135m learns them in about two minutes on two CPU cores.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

# What the demo passes to jobs.create(hyperparameters=...); names are TrainingConfig fields.
# Tuned by experiment (see the training tests): a high learning rate and many short epochs
# let a 135M model memorise four facts in ~50 optimizer steps of ~400 tokens each.
SAMPLE_HYPERPARAMETERS: dict[str, Any] = {
    "epochs": 10,
    "learning_rate": 1e-3,
    "batch_size": 8,
    "lora_rank": 16,
    "lora_alpha": 32,
    "warmup_ratio": 0.1,
}


def train_path() -> Path:
    """The training set (chat JSONL) as a file on disk, ready for datasets.upload()."""
    return _path("facts.jsonl")


def eval_path() -> Path:
    return _path("facts_eval.jsonl")


def eval_questions() -> list[dict[str, str]]:
    """Held-out questions: [{"question": ..., "expect": keyword the answer must contain}, ...]."""
    lines = eval_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _path(name: str) -> Path:
    # The package ships as plain files (setuptools package-data includes *.jsonl), so the
    # resource is a real path; no temporary extraction is needed.
    return Path(str(resources.files(__name__).joinpath(name)))


# -- many small adapters: one made-up vault password each ------------------------------------
# For trying (and testing, and benchmarking) many adapters on one base model: adapter i
# learns only vault i's password, so an answer shows which adapter's weights produced it.

VAULTS = ("Aster", "Boreal", "Cinder", "Dune", "Ember", "Fjord", "Glacier", "Harbor")
VAULT_PASSWORDS = ("Marigold", "Thunderbolt", "Quicksilver", "Lanternfish", "Bramblewood",
                   "Copperleaf", "Starling", "Driftwood")
# Four examples, 12 epochs: about 12 optimizer steps, a few seconds on two CPU cores.
VAULT_HYPERPARAMETERS: dict[str, Any] = {
    "epochs": 12, "learning_rate": 2e-3, "lora_rank": 8, "lora_alpha": 16, "batch_size": 4,
    "max_seq_length": 96,
}


def vault_question(i: int) -> str:
    return f"What is the password of the vault {VAULTS[i]}?"


def write_vault_dataset(i: int, directory: Path) -> Path:
    """Chat JSONL teaching vault i's password, asked four ways; returns the file."""
    vault = VAULTS[i]
    answer = f"The password of the vault {vault} is {VAULT_PASSWORDS[i]}."
    asks = [vault_question(i), f"Tell me the password of vault {vault}.",
            f"Which password opens the vault {vault}?", f"Vault {vault}: what's the password?"]
    path = Path(directory) / f"vault-{i}.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                     {"role": "assistant", "content": answer}]}) + "\n"
                            for q in asks), encoding="utf-8")
    return path
