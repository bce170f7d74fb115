"""The training recipe: data to tokens (loss on assistant turns), LoRA/QLoRA, the loop.

`config` is importable without torch (the control plane validates hyperparameters with it);
everything else loads torch, so import it from the worker only.
"""

from .config import TrainingConfig, config_errors, parse_config

__all__ = ["TrainingConfig", "config_errors", "parse_config"]
