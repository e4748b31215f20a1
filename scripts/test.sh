#!/usr/bin/env bash
# The whole suite: lint, unit and lowering tests (slow ones included), notebooks (nbval),
# the browser test. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONWARNINGS=ignore
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/python -m pytest -p no:cacheprovider "$@"
