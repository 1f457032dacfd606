#!/usr/bin/env bash
# Installs what microc needs, then runs the demo: a model made by the project, compiled, built,
# run and verified.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/microc demo "$@"
