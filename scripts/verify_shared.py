"""One line of scripts/verify_shared.sh per model and board, from `microc deploy --verify --json`'s report
(or its one-line error) and the project it deployed, and the summary of those lines (`--summary LINES`)."""
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

# Models microc refuses on purpose, with why, while TFLM refuses them too; any other refusal is a failure.
EXPECTED_REFUSALS = {
    # int8 weights with float32 activations: TFLM refuses it ("Hybrid models are not supported on TFLite
    # Micro"), so there is no bit-exact reference; TFLite's hybrid kernels quantize activations at run
    # time, which a float kernel with dequantized weights would not reproduce (docs/benchmark.md).
    "mlperf_tiny/kws_ref_model_float32": "hybrid",
}
VERDICTS = ("MATCH", "DIFFERS", "DOES NOT FIT", "REFUSED", "FAILED")


def line(board: str, name: str, rc: int, report: Path, stderr: Path, project: Path) -> str:
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
        if name in EXPECTED_REFUSALS and rc == 2 and not tflm_runs(name):
            return f"{head} REFUSED ({EXPECTED_REFUSALS[name]}; TFLM refuses it too): {message}"
        return f"{head} FAILED: {message}"
    meta = json.loads((project / "metadata.json").read_text())
    state = meta.get("state_bytes", 0)
    floats = any(t["dtype"] == "float32" for t in meta.get("outputs", []))
    ok, layers = state_layers(project, r["samples"]) if state and r["match"] else (r["match"], "")
    verdict = "MATCH" if ok else "DIFFERS"
    diff = f"max |diff| {r['max_abs_diff']:.2g}" + (" (float, tolerance 1e-4 x max |ref|)" if floats else "")
    runs = (f"{r['samples']} invocations in sequence from a RESET, state {state:,} B carried" if state
            else f"{r['samples']} samples")
    cost = f", {r['instructions']:,} instructions/inference" if r.get("instructions") else ""
    return f"{head} {verdict}, {diff}, {r['outputs_checked']:,} outputs, {runs}{cost}{layers}"


def tflm_runs(name: str) -> bool:
    """Whether TFLM's interpreter takes the model (an expected refusal is one only while it does not)."""
    from microc.errors import MicrocError
    from microc.reference import _interpreter
    saved = os.dup(2)
    with open(os.devnull, "w") as null:  # TFLM's C++ log of why it refuses (the line says so)
        os.dup2(null.fileno(), 2)
        try:
            _interpreter(f"../shared/models/{name}.tflite")
        except MicrocError:
            return False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return True


def state_layers(project: Path, n: int) -> tuple[bool, str]:
    """A stateful model's last sample run again layer by layer on the device after the samples before it
    from a RESET, every layer's output compared with TFLM's run the same way (microc.divergence): the
    final outputs alone may not show the state (the keyword models' are 0.5/0.5 for any input). Also
    how many of those values a fresh state would change, i.e. what the comparison proves of the state."""
    from microc.boards import load_board
    from microc.build import read_build_result
    from microc.divergence import _project_graph, first_mismatch, written_parts
    from microc.errors import MicrocError
    from microc.passes.calibration import observe_tensors
    from microc.pipeline import read_manifest, read_metadata
    from microc.runner.session import open_device
    from microc.verify import make_samples
    manifest, metadata = read_manifest(project), read_metadata(project)
    samples = make_samples(metadata["inputs"], 10, 0)  # deploy's samples: its default seed 0
    assert len(samples) == n, (len(samples), n)
    board = load_board(manifest["board"])
    try:
        with open_device(board, project, read_build_result(project), None, 600.0) as device:
            mismatch = first_mismatch(device, manifest, metadata, samples[-1], samples[:-1])
            device.exit(0)
    except MicrocError as e:
        return False, f"; the layer-by-layer run of invocation {n} failed: {e}"
    if mismatch is not None:
        return False, (f"; invocation {n} layer by layer: layer {mismatch.layer} ({mismatch.op}) differs from "
                       f"TFLM's in {mismatch.differing:,} values, max |diff| {mismatch.max_abs_diff:g}")
    graph = _project_graph(manifest, metadata)
    *_, carried = observe_tensors(graph, samples)
    fresh = next(observe_tensors(graph, samples[-1:]))  # a new interpreter: the initial state
    written = written_parts(graph)
    parts = [(t, written.get(id(t), slice(None))) for op in graph.ops for t in op.outputs]
    changed = sum(int(np.count_nonzero(carried[id(t)].reshape(-1)[p] != fresh[id(t)].reshape(-1)[p]))
                  for t, p in parts)
    total = sum(np.empty(t.size)[p].size for t, p in parts)
    return True, (f"; invocation {n} layer by layer: all {len(graph.ops)} layers' outputs equal TFLM's "
                  f"({changed:,} of {total:,} values differ from a fresh state's)")


def summary(lines: Path) -> int:
    counts: dict[str, dict[str, int]] = {}
    for text in lines.read_text().splitlines():
        board, rest = text.split(None, 1)
        verdict = next(v for v in VERDICTS if rest.split(None, 1)[1].startswith(v))
        counts.setdefault(board, dict.fromkeys(VERDICTS, 0))[verdict] += 1
    for board, c in counts.items():
        print(f"{board}: {sum(c.values())} models: " + ", ".join(f"{n} {v.lower()}" for v, n in c.items() if n))
    return int(any(c["DIFFERS"] or c["FAILED"] for c in counts.values()))


def markdown(lines: Path) -> str:
    """The lines as docs/benchmark.md's table: a row per model, a verdict column per board."""
    rows: dict[str, dict[str, str]] = {}
    for text in lines.read_text().splitlines():
        board, name, rest = text.split(None, 2)
        rows.setdefault(name, {})[board] = rest
    boards = list(dict.fromkeys(b for r in rows.values() for b in r))
    out = ["| model | " + " | ".join(boards) + " | max \\|diff\\| | samples | instructions/inference (QEMU) |",
           "|---" * (len(boards) + 4) + "|"]
    for name, r in rows.items():
        text = " ".join(r.values())
        diffs = sorted(set(re.findall(r"max \|diff\| ([^ ,]+)", text)), key=float)
        runs = re.search(r"(\d+) (?:samples|invocations in sequence from a RESET, state ([\d,]+) B)", text)
        layers = re.search(r"invocation (\d+) layer by layer: all (\d+) layers' outputs equal TFLM's "
                           r"\(([\d,]+) of ([\d,]+)", text)
        cost = re.search(r"([\d,]+) instructions/inference", text)
        samples = "-" if not runs else runs.group(1) if not runs.group(2) else \
            f"{runs.group(1)} in sequence from a RESET ({runs.group(2)} B state)"
        if layers:
            samples += (f"; invocation {layers.group(1)} equal at all {layers.group(2)} layers ({layers.group(3)} "
                        f"of {layers.group(4)} values state-dependent)")
        cells = [_verdict(r.get(b, "-")) for b in boards]
        diff = (diffs[-1] + (" (float)" if "(float" in text else "")) if diffs else "-"
        out.append(f"| {name} | " + " | ".join(cells) + f" | {diff} | {samples} | {cost.group(1) if cost else '-'} |")
    return "\n".join(out) + "\n"


def _verdict(rest: str) -> str:
    verdict = next((v for v in VERDICTS if rest.startswith(v)), rest)
    return "refused" + rest[len("REFUSED"):].split(":")[0] if verdict == "REFUSED" else verdict.lower()


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        sys.exit(summary(Path(sys.argv[2])))
    if sys.argv[1] == "--markdown":
        sys.exit(print(markdown(Path(sys.argv[2])), end=""))
    print(line(sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(Path, sys.argv[4:7])))
