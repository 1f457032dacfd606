"""Run generated model code on the host in-process: compile the model's C and the kernels into a shared
library and call `<name>_run` through ctypes. Used by per-operator tests (fast, no device protocol) and
for the sanitizer runs; the CLI's host board goes through the real runner protocol instead."""
from __future__ import annotations

import ctypes
import hashlib
import subprocess
from pathlib import Path

import numpy as np

from microc import RUNTIME_C
from microc.codegen.generate import GeneratedModel, generate
from microc.frontends import load_model

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-fPIC", "-shared"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


# Runtime sources that call the board's mc_platform.h (a shared library for ctypes has no platform).
NEEDS_PLATFORM = {"mc_runner.c", "mc_profile.c"}


def build_shared(model: GeneratedModel, workdir: Path, extra_flags: list[str] = ()) -> Path:
    src = workdir / "model"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in model.files.items():
        (src / name).write_text(text)
    sources = sorted(src.glob("*.c")) + sorted((RUNTIME_C / "src").glob("mc_*.c"))
    sources = [s for s in sources if s.name not in NEEDS_PLATFORM]
    lib = workdir / f"lib{model.name}.so"
    cmd = ["gcc", *CFLAGS, *extra_flags, f"-I{src}", f"-I{RUNTIME_C / 'include'}",
           *map(str, sources), "-o", str(lib), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return lib


def run_shared(lib: Path, model: GeneratedModel, inputs: list[np.ndarray]) -> list[np.ndarray]:
    dll = ctypes.CDLL(str(lib))
    info = model.metadata
    ins = [np.ascontiguousarray(x, dtype=t["dtype"]).reshape(t["shape"]) for x, t in zip(inputs, info["inputs"])]
    outs = [np.zeros(t["shape"], t["dtype"]) for t in info["outputs"]]
    in_ptrs = (ctypes.c_void_p * len(ins))(*[x.ctypes.data for x in ins])
    out_ptrs = (ctypes.c_void_p * len(outs))(*[y.ctypes.data for y in outs])
    status = getattr(dll, f"{model.name}_run")(in_ptrs, out_ptrs)
    assert status == 0, f"{model.name}_run returned {status}"
    return outs


def compile_and_run(model_path: Path, samples: list[list[np.ndarray]], workdir: Path,
                    extra_flags: list[str] = (), optimize: str = "balanced",
                    schedules: dict | None = None) -> list[list[np.ndarray]]:
    """Generate C for the model (`optimize`, `schedules`: as generate() takes them), build it as a
    shared library, run every sample."""
    name = "m" + hashlib.sha1(Path(model_path).read_bytes()).hexdigest()[:8]
    model = generate(load_model(model_path), name, optimize, schedules=schedules)
    lib = build_shared(model, Path(workdir), extra_flags)
    return [run_shared(lib, model, s) for s in samples]


def compile_and_run_sanitized(model_path: Path, samples: list[list[np.ndarray]],
                              workdir: Path, optimize: str = "balanced",
                              schedules: dict | None = None) -> list[list[np.ndarray]]:
    """compile_and_run with ASan/UBSan: the library runs in a child Python with the ASan runtime preloaded
    (loaded into this unsanitized interpreter it would abort it). Fails on any sanitizer report."""
    import json
    import sys
    workdir = Path(workdir)
    model = generate(load_model(model_path), "m", optimize, schedules=schedules)
    lib = build_shared(model, workdir, SANITIZE)
    np.savez(workdir / "in.npz", *[x for s in samples for x in s])
    (workdir / "meta.json").write_text(json.dumps(model.metadata))
    n_in = len(samples[0])
    code = (f"import sys; sys.path[:0] = {sys.path!r}\n"
            "import json, numpy as np, harness\n"
            "from microc.codegen.generate import GeneratedModel\n"
            f"m = GeneratedModel('m', {{}}, json.load(open({str(workdir / 'meta.json')!r})), None)\n"
            f"xs = list(np.load({str(workdir / 'in.npz')!r}).values())\n"
            f"outs = [y for i in range(0, len(xs), {n_in}) for y in harness.run_shared("
            f"{str(lib)!r}, m, xs[i:i + {n_in}])]\n"
            f"np.savez({str(workdir / 'out.npz')!r}, *outs)\n")
    asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    env = {"LD_PRELOAD": asan, "ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0 and "runtime error" not in res.stderr, res.stderr[-3000:]
    outs = list(np.load(workdir / "out.npz").values())
    n_out = len(outs) // len(samples)
    return [outs[i:i + n_out] for i in range(0, len(outs), n_out)]
