#!/usr/bin/env bash
# Installs what microc needs, then runs the demo: the project's own digits CNN (examples/digits) quantized
# to int8, compiled into firmware for an emulated Cortex-M4F (QEMU mps2-an386), run on every held-out digit
# with each output checked against TensorFlow Lite Micro, and its accuracy reported beside the float model's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/digits/demo.py "$@"
