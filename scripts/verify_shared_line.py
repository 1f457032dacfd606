"""One line of scripts/verify_shared.sh per model and board, from `microc deploy --verify --json`'s report
(or its one-line error), and the summary of those lines (`--summary LINES`)."""
import json
import sys
from pathlib import Path

# Models microc refuses on purpose, with why; any other refusal is a failure of the sweep.
EXPECTED_REFUSALS = {
    # int8 weights with float32 activations: TFLM refuses it ("Hybrid models are not supported on TFLite
    # Micro"), so there is no bit-exact reference; TFLite's hybrid kernels quantize activations at run
    # time, which a float kernel with dequantized weights would not reproduce (docs/benchmark.md).
    "mlperf_tiny/kws_ref_model_float32": "hybrid, as TFLM",
}
VERDICTS = ("MATCH", "DIFFERS", "DOES NOT FIT", "REFUSED", "FAILED")


def line(board: str, name: str, rc: int, report: Path, stderr: Path, metadata: Path) -> str:
    err = stderr.read_text().strip().splitlines()
    message = err[-1].removeprefix("microc: error: ") if err else f"exit {rc}, no message"
    head = f"{board:<11} {name:<38}"
    try:
        r = json.loads(report.read_text())
    except (OSError, ValueError):
        r = None
    if r is None:
        if " bytes of " in message and "exceeds by" in message or "allows at most" in message:
            return f"{head} DOES NOT FIT: {message}"
        if name in EXPECTED_REFUSALS and rc == 2:
            return f"{head} REFUSED ({EXPECTED_REFUSALS[name]}): {message}"
        return f"{head} FAILED: {message}"
    meta = json.loads(metadata.read_text()) if metadata.is_file() else {}
    state = meta.get("state_bytes", 0)
    floats = any(t["dtype"] == "float32" for t in meta.get("outputs", []))
    verdict = "MATCH" if r["match"] else "DIFFERS"
    diff = f"max |diff| {r['max_abs_diff']:.2g}" + (" (float, tolerance 1e-4 x max |ref|)" if floats else "")
    runs = (f"{r['samples']} invocations in sequence from a RESET, state {state:,} B carried" if state
            else f"{r['samples']} samples")
    cost = f", {r['instructions']:,} instructions/inference" if r.get("instructions") else ""
    return f"{head} {verdict}, {diff}, {r['outputs_checked']:,} outputs, {runs}{cost}"


def summary(lines: Path) -> int:
    counts: dict[str, dict[str, int]] = {}
    for text in lines.read_text().splitlines():
        board, rest = text.split(None, 1)
        verdict = next(v for v in VERDICTS if rest.split(None, 1)[1].startswith(v))
        counts.setdefault(board, dict.fromkeys(VERDICTS, 0))[verdict] += 1
    for board, c in counts.items():
        print(f"{board}: {sum(c.values())} models: " + ", ".join(f"{n} {v.lower()}" for v, n in c.items() if n))
    return int(any(c["DIFFERS"] or c["FAILED"] for c in counts.values()))


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        sys.exit(summary(Path(sys.argv[2])))
    print(line(sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(Path, sys.argv[4:7])))
