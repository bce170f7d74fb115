#!/usr/bin/env bash
# Command 1: set up, start tuneloop on embedded defaults, fine-tune the default model on the
# sample dataset with live progress, and show the adapter answering what the base model can't.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tuneloop demo "$@"
