#!/usr/bin/env bash
# Every 16x8 model of ../shared/models/tflm/int16 through `microc deploy --verify --samples 10` on the host
# board and on the emulated Cortex-M4 (mps2-an386); prints one line per model and board, exits 1 if any
# differs from TFLM. Usage: bash scripts/verify_int16.sh [board ...]   (default: host mps2-an386)
set -u
cd "$(dirname "$0")/.."
MODELS=../shared/models/tflm/int16
[ -d "$MODELS" ] || { echo "$MODELS not found"; exit 2; }
BOARDS=("$@")
[ ${#BOARDS[@]} -eq 0 ] && BOARDS=(host mps2-an386)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
status=0
for board in "${BOARDS[@]}"; do
  for model in "$MODELS"/*.tflite; do
    name=$(basename "$model" .tflite)
    line=$(.venv/bin/microc deploy "$model" --board "$board" --verify --samples 10 -o "$OUT/$board-$name" 2>&1 | head -1)
    echo "$board $line"
    case "$line" in *" MATCH "*) ;; *) status=1 ;; esac
  done
done
exit $status
