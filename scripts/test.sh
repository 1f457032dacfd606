#!/usr/bin/env bash
# Installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# -n auto: one pytest worker per core (the tests are mostly compilers and emulators, one process each).
# --durations: the slowest tests, to keep CI under its 30-minute budget.
exec .venv/bin/python -m pytest -q -ra -n auto --durations=15 "$@"
