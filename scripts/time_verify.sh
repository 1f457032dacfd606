#!/usr/bin/env bash
# Wall time of one verified deployment: compile MODEL, build it for BOARD, run SAMPLES random samples on the
# board (QEMU here) and compare every output with the reference. The figure in docs/protocol.md is
#   scripts/time_verify.sh ../shared/models/mlperf_tiny/vww_96_int8.tflite mps2-an386 10
# (a measurement, never a test: it depends on the machine and its load). Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(realpath "${1:?usage: $0 MODEL [BOARD] [SAMPLES]}")
board=${2:-mps2-an386}
samples=${3:-10}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s.%N)
.venv/bin/python -m microc deploy "$model" --board "$board" --samples "$samples" --verify --json \
  -o "$out/project" > "$out/report.json"
end=$(date +%s.%N)
.venv/bin/python - "$out/report.json" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['model']} on {r['board']}: match {r['match']}, {r['samples']} samples, "
      f"{r['outputs_checked']} outputs checked, {float(sys.argv[3]) - float(sys.argv[2]):.1f} s")
PY
