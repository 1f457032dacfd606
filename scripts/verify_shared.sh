#!/usr/bin/env bash
# Every model of ../shared/models (mlperf_tiny/, tflm/, tflm/int16/) through
#   microc deploy M --board B --verify --samples 10        (plus --json -o DIR to read the verdict)
# on the host board and the emulated Cortex-M4F (mps2-an386), niced: one line per model and board (the
# verdict, the largest |difference| from TFLM, samples, how they ran: in sequence from a RESET for a
# stateful model, instructions per inference on QEMU), a model that does not fit or that microc refuses
# with its one-line error, then a summary per board. A stateful model's last invocation is also compared
# layer by layer with TFLM's, after the others from a RESET (scripts/verify_shared.py state_layers). Exits 1 if any output differs from TFLM or a run
# fails otherwise; a refusal or a model too large for the board is reported, not a failure.
# Usage: bash scripts/verify_shared.sh [-f FOLDER]... [-m TABLE.md] [BOARD]...
#   e.g. bash scripts/verify_shared.sh -f tflm/int16 host      (default: every folder, host mps2-an386)
#   -m writes the lines as docs/benchmark.md's table too.
# docs/benchmark.md holds the table of a run. It takes about 35 minutes on a loaded 2-core machine.
set -u
cd "$(dirname "$0")/.."
ROOT=../shared/models
[ -d "$ROOT" ] || { echo "$ROOT not found"; exit 2; }
FOLDERS=()
MARKDOWN=
while getopts f:m: opt; do
  case $opt in f) FOLDERS+=("$OPTARG") ;; m) MARKDOWN=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ ${#FOLDERS[@]} -eq 0 ] && FOLDERS=(mlperf_tiny tflm tflm/int16)
BOARDS=("$@")
[ ${#BOARDS[@]} -eq 0 ] && BOARDS=(host mps2-an386)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- microc runtime_c templates boards || echo ' (+ uncommitted changes)')"
for board in "${BOARDS[@]}"; do
  for folder in "${FOLDERS[@]}"; do
    for model in "$ROOT/$folder"/*.tflite; do
      name=${model#"$ROOT/"}
      name=${name%.tflite}
      dir="$OUT/$board/$name"
      nice -n 10 .venv/bin/microc deploy "$model" --board "$board" --verify --samples 10 --json -o "$dir" \
        > "$OUT/report.json" 2> "$OUT/stderr"
      rc=$?
      nice -n 10 .venv/bin/python scripts/verify_shared.py "$board" "$name" "$rc" "$OUT/report.json" \
        "$OUT/stderr" "$dir" | tee -a "$OUT/lines"
      rm -rf "$dir"
    done
  done
done
echo "# $(date -u '+%H:%M UTC'): $(( (SECONDS + 30) / 60 )) minutes"
[ -z "$MARKDOWN" ] || .venv/bin/python scripts/verify_shared.py --markdown "$OUT/lines" > "$MARKDOWN"
.venv/bin/python scripts/verify_shared.py --summary "$OUT/lines"
