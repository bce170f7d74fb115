#!/usr/bin/env bash
# Command 2: set up and run the whole test suite (CI runs exactly this via .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "==> checking that generated protobuf code matches proto/"
.venv/bin/python scripts/gen_proto.py --check
echo "==> running the tests"
exec .venv/bin/python -m pytest "$@"
