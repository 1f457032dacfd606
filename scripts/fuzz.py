#!/usr/bin/env python3
"""Mutation fuzzing of microc's model importers, through the real command line.

Each case takes one seed model, mutates its bytes once (bit flips, an overwritten integer or float,
truncation, a spliced region) and compiles it with `microc compile --board host` in a subprocess with
a time limit. The outcome is one of:

  crash     a Python traceback, or the process died of a signal
  hang      still running after the time limit
  unclean   non-zero exit, but not one `microc: error:` line, or an output folder left behind
  clean     one `microc: error:` line on stderr, a non-zero exit, no output folder
  accepted  a project was written; a sample of these is built with ASan/UBSan and run on random
            inputs (`microc build` with EXTRA_CFLAGS, then `microc run`): `sanitizer` if that fails

Cases are reproducible one by one: case I of seed S mutates with numpy.random.default_rng([S, I]).

    python scripts/fuzz.py --cases 10000                      # the on-demand run (docs/reliability.md)
    python scripts/fuzz.py --cases 1 --first 4711 --keep out  # replay case 4711, keep the mutant

Seeds come from SEED_SOURCES: the shared models (../shared/models, when present), the project's own
examples/digits/digits_cnn.onnx, its int8 and float .tflite made by microc, small ONNX models made with
the tests' builder, and classical ONNX-ML models (tests/classical_models.py). A new format adds a function returning its seed files to SEED_SOURCES; the
mutations are format-blind.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "models"
TIMEOUT = 60.0
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
OUTCOMES = ("crash", "hang", "unclean", "sanitizer", "clean", "accepted")
FAILURES = ("crash", "hang", "unclean", "sanitizer")

# Shared models that microc compiles (mutants of models it refuses anyway would mostly test that refusal).
SHARED_SEEDS = ["mlperf_tiny/kws_ref_model", "mlperf_tiny/vww_96_int8", "mlperf_tiny/pretrainedResnet_quant",
                "mlperf_tiny/ad01_int8", "mlperf_tiny/kws_ref_model_float32", "tflm/hello_world_int8",
                "tflm/hello_world_float"]


# ---- seeds ----

def shared_seeds(workdir: Path) -> list[Path]:
    return [p for p in (SHARED / f"{n}.tflite" for n in SHARED_SEEDS) if p.is_file()]


def digits_seeds(workdir: Path) -> list[Path]:
    """The digits example as ONNX, and as the int8 and float .tflite microc makes of it."""
    sys.path.insert(0, str(ROOT / "examples" / "digits"))
    from data import calibration_set

    from microc.export.tflite import export_tflite
    from microc.frontends import load_model
    from microc.quantization import quantize_model
    onnx_path = ROOT / "examples" / "digits" / "digits_cnn.onnx"
    np.save(workdir / "calibration.npy", calibration_set(32))
    int8 = workdir / "digits_int8.tflite"
    int8.write_bytes(quantize_model(onnx_path, workdir / "calibration.npy").model)
    flt = workdir / "digits_float.tflite"
    flt.write_bytes(export_tflite(load_model(onnx_path)))
    return [onnx_path, int8, flt]


def onnx_builder_seeds(workdir: Path) -> list[Path]:
    """Small ONNX models with the operators digits lacks, made with the tests' builder."""
    sys.path.insert(0, str(ROOT / "tests"))
    from onnx_builder import OnnxModel
    a = OnnxModel(seed=1)
    x = a.input("x", [1, 3, 6, 6])
    y = a.node("Conv", [x, a.weight(3, 1, 3, 3)], group=3, pads=[1, 1, 1, 1])
    y = a.node("Add", [a.node("Sigmoid", [y]), a.node("Mul", [x, a.weight(1, 3, 1, 1)])])
    y = a.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
    a.output(a.node("Softmax", [a.node("Flatten", [y])], axis=1))
    b = OnnxModel(seed=2)
    x = b.input("x", [2, 8])
    y = b.node("Gemm", [x, b.weight(8, 6), b.weight(6)])
    y = b.node("Concat", [b.node("Tanh", [y]), b.node("LeakyRelu", [y], alpha=0.1)], axis=1)
    y = b.node("Pad", [y, b.const(np.array([0, 1, 0, 1], np.int64))])
    b.output(b.node("ReduceMean", [b.node("Transpose", [y], perm=[1, 0])], axes=[0], keepdims=0))
    return [a.save(workdir / "conv_pool.onnx"), b.save(workdir / "gemm_concat.onnx")]


def classical_seeds(workdir: Path) -> list[Path]:
    """ONNX-ML models (a tree ensemble, a linear model behind a scaler) made as tests/test_classical.py
    makes them."""
    sys.path.insert(0, str(ROOT / "tests"))
    from classical_models import train
    return [train(kind, data, workdir, small=True).onnx_path
            for kind, data in (("random_forest", "wine"), ("linear_svm", "breast_cancer"))]


SEED_SOURCES = [shared_seeds, digits_seeds, onnx_builder_seeds, classical_seeds]


def make_seeds(workdir: Path) -> list[Path]:
    return [p for source in SEED_SOURCES for p in source(workdir)]


# ---- mutations ----

_INTS = [0, 1, 2, 3, 4, 7, 8, 16, 64, 127, 128, 255, 256, 1024, 32767, 32768, 65535, 65536,
         2**31 - 1, 2**31, 2**32 - 1, 2**32 - 2]
_FLOATS = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-45, 1e-30, 1e30, 3.4e38, -1.0]


def _flip_bits(data: bytearray, rng) -> str:
    n = int(rng.integers(1, 5))
    for _ in range(n):
        pos = int(rng.integers(len(data)))
        data[pos] ^= 1 << int(rng.integers(8))
    return f"flip {n} bits"


def _overwrite(data: bytearray, rng) -> str:
    """An interesting integer (1, 2 or 4 bytes) or float32 at a random 4-aligned offset (flatbuffers and
    protobuf fixed fields are aligned) or, one time in four, at any offset."""
    pos = int(rng.integers(len(data)))
    if rng.random() < 0.75:
        pos -= pos % 4
    if rng.random() < 0.3:
        value = float(rng.choice(_FLOATS))
        raw = np.array([value], "<f4").tobytes()
        what = f"float {value:g}"
    else:
        value = int(rng.choice(_INTS)) if rng.random() < 0.8 else int(rng.integers(2**32))
        width = int(rng.choice([1, 2, 4]))
        raw = (value % 2 ** (8 * width)).to_bytes(width, "little")
        what = f"{width}-byte {value}"
    data[pos:pos + len(raw)] = raw[:len(data) - pos]
    return f"write {what} at {pos}"


def _truncate(data: bytearray, rng) -> str:
    n = int(rng.integers(len(data)))
    del data[n:]
    return f"truncate to {n}"


def _splice(data: bytearray, rng, other: bytes) -> str:
    """A region of this file or another seed copied over (or inserted at) a random place, or deleted."""
    src = other if rng.random() < 0.3 else bytes(data)
    length = int(rng.integers(1, max(2, min(len(src), len(data)) // 8)))
    start = int(rng.integers(max(1, len(src) - length)))
    dest = int(rng.integers(len(data)))
    kind = rng.choice(["overwrite", "insert", "delete"])
    if kind == "delete":
        del data[dest:dest + length]
    elif kind == "insert":
        data[dest:dest] = src[start:start + length]
    else:
        data[dest:dest + length] = src[start:start + length]
    return f"splice {kind} {length} bytes at {dest}" + (f" from {start}" if kind != "delete" else "")


def mutate(seed: bytes, other: bytes, rng) -> tuple[bytes, str]:
    data = bytearray(seed)
    kind = rng.choice(["flip", "overwrite", "truncate", "splice"], p=[0.35, 0.35, 0.1, 0.2])
    if kind == "flip":
        what = _flip_bits(data, rng)
    elif kind == "overwrite":
        what = _overwrite(data, rng)
    elif kind == "truncate":
        what = _truncate(data, rng)
    else:
        what = _splice(data, rng, other)
    return bytes(data), what


# ---- running a case ----

@dataclass
class Case:
    index: int
    seed_file: str
    mutation: str
    outcome: str = ""
    detail: str = ""
    seconds: float = 0.0


def _microc(*args, timeout: float = TIMEOUT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microc", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


class ForkServer:
    """Runs `microc ARGS` as a forked child of a Python that has already imported microc and its
    dependencies: a fresh process per case, as `python -m microc` would be, without paying the imports
    (most of a case's time). The server is single-threaded, so forking it is safe; one per fuzz job."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, *args, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        self.proc.stdin.write(json.dumps({"args": [str(a) for a in args], "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if reply["rc"] is None:
            raise subprocess.TimeoutExpired(["microc", *args], timeout)
        return subprocess.CompletedProcess(args, reply["rc"], reply["stdout"], reply["stderr"])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def serve() -> None:
    """The fork server's loop: one JSON request per line in, one reply per line out."""
    import signal
    import traceback

    import microc.cli  # noqa: F401  (and what a compile imports, so children start warm)
    import microc.codegen.ops  # noqa: F401
    import microc.frontends.onnx  # noqa: F401
    import microc.frontends.tflite  # noqa: F401
    import microc.pipeline  # noqa: F401
    import microc.project  # noqa: F401
    import onnx.reference  # noqa: F401
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            pid = os.fork()
            if pid == 0:
                _child(request["args"], out, err, traceback)
            deadline = time.monotonic() + request["timeout"]
            while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            if done[0] == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                rc = None
            else:
                rc = os.waitstatus_to_exitcode(done[1])
            out.seek(0)
            err.seek(0)
            print(json.dumps({"rc": rc, "stdout": out.read(), "stderr": err.read()}), flush=True)


def _child(args: list[str], out, err, traceback) -> None:
    """In the forked child: microc's command line with stdout/stderr to the files; never returns."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    code = 1
    try:
        from microc.cli import main
        main(args=args, prog_name="microc")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()  # what the interpreter prints for an uncaught exception
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def classify(res: subprocess.CompletedProcess, out: Path) -> tuple[str, str]:
    """(outcome, detail) of one `microc compile`."""
    err = res.stderr.strip()
    lines = err.splitlines()
    if "Traceback" in err or res.returncode < 0:
        return "crash", (lines[-1] if lines else f"killed by signal {-res.returncode}")
    leftovers = [p.name for p in out.parent.glob(f".{out.name}.*")]
    if res.returncode == 0:
        if (out / "microc.json").is_file() and not leftovers:
            return "accepted", ""
        return "unclean", f"exit 0 without a project (left {leftovers})"
    if len(lines) == 1 and lines[0].startswith("microc: error: ") and not out.exists() and not leftovers:
        return "clean", lines[0]
    return "unclean", f"exit {res.returncode}, {len(lines)} lines, output left: {out.exists() or leftovers}: " \
                      + (lines[-1] if lines else "")


def sanitized_run(project: Path) -> str:
    """'' if the project builds with ASan/UBSan and runs two random samples; else what went wrong."""
    env = {**os.environ, "EXTRA_CFLAGS": SANITIZE, "ASAN_OPTIONS": "detect_leaks=0"}
    for args in (("build", project), ("run", project, "--samples", "2", "--timeout", str(TIMEOUT))):
        try:
            res = _microc(*args, timeout=10 * TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            return f"microc {args[0]} timed out"
        if res.returncode != 0:
            return f"microc {args[0]}: " + " | ".join(res.stderr.strip().splitlines()[-3:])
    return ""


def run_case(case: Case, mutant: bytes, workdir: Path, server: ForkServer | None = None) -> Case:
    suffix = Path(case.seed_file).suffix
    model = workdir / f"case{case.index}{suffix}"
    out = workdir / f"case{case.index}"
    model.write_bytes(mutant)
    start = time.monotonic()
    try:
        res = (server.run if server else _microc)("compile", model, "--board", "host", "-o", out)
        case.outcome, case.detail = classify(res, out)
    except subprocess.TimeoutExpired:
        case.outcome, case.detail = "hang", f"no exit within {TIMEOUT:g} s"
    case.seconds = time.monotonic() - start
    return case


def sanitize_case(case: Case, workdir: Path) -> Case:
    """Build and run an accepted case's project under ASan/UBSan."""
    problem = sanitized_run(workdir / f"case{case.index}")
    case.outcome, case.detail = ("sanitizer", problem) if problem else ("accepted", "sanitized")
    return case


# ---- the campaign ----

def fuzz(cases: int, seed: int = 0, first: int = 0, jobs: int = 2, sanitize_every: int = 50,
         keep: Path | None = None, progress=lambda case: None, fork: bool = True) -> list[Case]:
    """Run cases first..first+cases-1; every `sanitize_every`-th accepted case (the first, then counted in
    index order, so the choice does not depend on which seeds exist) is also built and run under ASan/UBSan. Failing mutants are copied into `keep` when given. `fork`: compile
    through a ForkServer (else `python -m microc` per case)."""
    with tempfile.TemporaryDirectory(prefix="microc-fuzz-") as tmp:
        tmp = Path(tmp)
        (tmp / "seeds").mkdir()
        (tmp / "accepted").mkdir()
        seeds = make_seeds(tmp / "seeds")
        blobs = [p.read_bytes() for p in seeds]

        local, servers = threading.local(), []

        def server() -> ForkServer | None:
            if fork and not hasattr(local, "server"):
                local.server = ForkServer()
                servers.append(local.server)
            return getattr(local, "server", None)

        def one(i: int) -> Case:
            rng = np.random.default_rng([seed, i])
            k = int(rng.integers(len(seeds)))
            same_format = [j for j, p in enumerate(seeds) if p.suffix == seeds[k].suffix]
            mutant, what = mutate(blobs[k], blobs[int(rng.choice(same_format))], rng)
            case = Case(i, _display(seeds[k]), what)
            workdir = tmp / f"w{i}"
            workdir.mkdir()
            run_case(case, mutant, workdir, server())
            if keep is not None and (case.outcome in FAILURES or keep_all):
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"case{i}{seeds[k].suffix}").write_bytes(mutant)
            if case.outcome == "accepted" and sanitize_every > 0:  # kept for the sanitized runs
                (tmp / "accepted" / f"case{i}{seeds[k].suffix}").write_bytes(mutant)
            shutil.rmtree(workdir, ignore_errors=True)
            progress(case)
            return case

        def sanitize(case: Case) -> Case:
            mutant = next((tmp / "accepted").glob(f"case{case.index}.*"))
            workdir = tmp / f"s{case.index}"
            workdir.mkdir()
            run_case(case, mutant.read_bytes(), workdir, server())  # compiled again: projects are not kept
            if case.outcome == "accepted":
                sanitize_case(case, workdir)
            shutil.rmtree(workdir, ignore_errors=True)
            if keep is not None and case.outcome in FAILURES:
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(mutant, keep / mutant.name)
            progress(case)
            return case

        keep_all = cases == 1
        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                results = list(pool.map(one, range(first, first + cases)))
                if sanitize_every > 0:
                    accepted = [c for c in results if c.outcome == "accepted"]
                    list(pool.map(sanitize, accepted[::sanitize_every]))
                return results
        finally:
            for s in servers:
                s.close()


def _display(path: Path) -> str:
    for base in (SHARED, ROOT):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return path.name


def summary(results: list[Case]) -> dict:
    counts = {o: sum(c.outcome == o for c in results) for o in OUTCOMES}
    sanitized = sum(c.outcome == "sanitizer" or (c.outcome == "accepted" and c.detail == "sanitized")
                    for c in results)
    return {"cases": len(results), **counts, "sanitized_runs": sanitized,
            "failures": [asdict(c) for c in results if c.outcome in FAILURES]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first", type=int, default=0, help="index of the first case (to replay one)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sanitize-every", type=int, default=50, metavar="N",
                    help="build and run every N-th case under ASan/UBSan when it is accepted (0: never)")
    ap.add_argument("--keep", type=Path, help="copy failing mutants (or the one replayed case) here")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--no-fork", action="store_true", help="start `python -m microc` for every case "
                    "instead of forking a warm interpreter (slower, same outcomes)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve()
        return 0
    start = time.monotonic()

    def progress(case: Case) -> None:
        if case.outcome in FAILURES:
            print(f"case {case.index} ({case.seed_file}, {case.mutation}): {case.outcome}: {case.detail}",
                  flush=True)

    results = fuzz(args.cases, args.seed, args.first, args.jobs, args.sanitize_every, args.keep, progress,
                   fork=not args.no_fork)
    report = {"seed": args.seed, "first": args.first, "seconds": round(time.monotonic() - start, 1),
              **summary(results)}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(", ".join(f"{report[o]} {o}" for o in OUTCOMES)
          + f" of {report['cases']} cases (seed {args.seed}); {report['sanitized_runs']} sanitized runs; "
          f"{report['seconds']:.0f} s")
    return 1 if any(report[o] for o in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
