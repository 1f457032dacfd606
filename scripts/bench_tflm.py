#!/usr/bin/env python3
"""TensorFlow Lite Micro against microc on the QEMU boards, measured in the same run by the same counter.

TFLM is built from source checkouts that YOU point this script at (nothing of TFLM is in this repository
and nothing is downloaded): once with its reference kernels and once with CMSIS-NN, by TFLM's own Makefile
(`TARGET=cortex_m_generic ... BUILD_TYPE=release_with_logs CORE_OPTIMIZATION_LEVEL=-O2 microlite`), the
libraries cached outside the repository. For each model and board, microc compiles its project; a copy of
that project whose model source is replaced by a small C++ file (the .tflite embedded as an array, TFLM's
MicroInterpreter behind microc's model interface) becomes the TFLM firmware: microc's startup, link script,
platform and runner, so both run under QEMU with microc's instruction-counting plugin between the same
marks around the same INVOKE. Every TFLM run's outputs are checked against microc's on the same inputs.

    .venv/bin/python scripts/bench_tflm.py --tflm-root ~/src/tflite-micro --cmsis-nn-root ~/src/CMSIS-NN \
        --deps ~/src/tflm-deps [--boards mps2-an386 mps3-an547] [--out table.md] [MODEL.tflite ...]

It prints the table (microc, TFLM reference, TFLM CMSIS-NN: instructions, estimated cycles, arena, and microc
over TFLM+CMSIS-NN) and writes the rows with the checkouts' commits to ~/.cache/microc/tflm/baselines.json
(--baselines), which `microc bench` reads for its TFLM columns (microc/tflm_baselines.py).

--deps holds TFLM's third-party folders as its `make third_party_downloads` lays them out (flatbuffers,
gemmlowp, ruy, kissfft, with TFLM's patches applied; cmsis = CMSIS_6 and Cortex_DFP beside it or inside
it); it defaults to the checkout's own tensorflow/lite/micro/tools/make/downloads. Needs the C++ headers
of arm-none-eabi-gcc (Debian: libstdc++-arm-none-eabi-dev, libstdc++-arm-none-eabi-newlib) and Pillow
(TFLM's Makefile imports it while parsing; microc's matplotlib brings it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from microc import tflm_baselines  # noqa: E402
from microc.bench import _n  # noqa: E402
from microc.errors import MicrocError  # noqa: E402
from microc.tflm_baselines import TOOLS, Row  # noqa: E402

MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf_tiny"
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]
# TFLM's cortex_m_generic target for each board's CPU (the board's own -mcpu/-mfpu flags).
TFLM_ARCH = {"mps2-an386": ["TARGET_ARCH=cortex-m4+fp", "FPU=fpv4-sp-d16"],
             "mps3-an547": ["TARGET_ARCH=cortex-m55"]}
# Builtin operator -> (MicroMutableOpResolver method, TFLM kernel source stem).
OPS = {"CONV_2D": ("AddConv2D", "conv"), "DEPTHWISE_CONV_2D": ("AddDepthwiseConv2D", "depthwise_conv"),
       "FULLY_CONNECTED": ("AddFullyConnected", "fully_connected"),
       "AVERAGE_POOL_2D": ("AddAveragePool2D", "pooling"), "MAX_POOL_2D": ("AddMaxPool2D", "pooling"),
       "RESHAPE": ("AddReshape", "reshape"), "SOFTMAX": ("AddSoftmax", "softmax"), "ADD": ("AddAdd", "add"),
       "QUANTIZE": ("AddQuantize", "quantize"), "DEQUANTIZE": ("AddDequantize", "dequantize")}
KERNELS = ("reference", "cmsis_nn")
ARENA_BYTES = 192 * 1024  # TFLM's arena in the firmware; the table gives what it used
MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
CPP_PACKAGES = "libstdc++-arm-none-eabi-dev libstdc++-arm-none-eabi-newlib"


# ---- the user's checkouts --------------------------------------------------------------------------

@dataclass(frozen=True)
class Sources:
    tflm: Path
    cmsis_nn: Path
    flatbuffers: Path
    gemmlowp: Path
    ruy: Path
    kissfft: Path
    cmsis: Path
    cortex_dfp: Path

    def key(self) -> str:
        """The cache folder's name: a build belongs to these checkouts."""
        return hashlib.sha1("\n".join(str(getattr(self, f)) for f in self.__dataclass_fields__).encode()
                            ).hexdigest()[:12]


def _need(path: Path, what: str, inside: str = "") -> Path:
    if not (path / inside).exists():
        raise MicrocError(f"{what} not found: {path / inside} does not exist")
    return path.resolve()


def find_sources(tflm_root: str, cmsis_nn_root: str, deps: str | None) -> Sources:
    tflm = _need(Path(tflm_root).expanduser(), "TFLM checkout (--tflm-root)", MAKEFILE)
    cmsis_nn = _need(Path(cmsis_nn_root).expanduser(), "CMSIS-NN checkout (--cmsis-nn-root)",
                     "Include/arm_nnfunctions.h")
    d = Path(deps).expanduser() if deps else tflm / "tensorflow/lite/micro/tools/make/downloads"
    _need(d, "TFLM's third-party folder (--deps)")
    cmsis = next((d / n for n in ("cmsis", "CMSIS_6") if (d / n / "CMSIS/Core/Include").is_dir()), d / "cmsis")
    dfp = next((p for p in (cmsis / "Cortex_DFP", d / "Cortex_DFP") if (p / "Device").is_dir()), d / "Cortex_DFP")
    return Sources(tflm, cmsis_nn, _need(d / "flatbuffers", "flatbuffers (in --deps)", "include"),
                   _need(d / "gemmlowp", "gemmlowp (in --deps)"), _need(d / "ruy", "ruy (in --deps)"),
                   _need(d / "kissfft", "kissfft (in --deps)"),
                   _need(cmsis, "CMSIS_6 (--deps/cmsis)", "CMSIS/Core/Include"),
                   _need(dfp, "Cortex_DFP (--deps/cmsis/Cortex_DFP)", "Device"))


def check_tools() -> None:
    """The C++ compiler with its standard headers, which Debian ships apart from gcc-arm-none-eabi."""
    if not shutil.which("arm-none-eabi-g++"):
        raise MicrocError("arm-none-eabi-g++ not found: apt-get install gcc-arm-none-eabi " + CPP_PACKAGES)
    probe = subprocess.run(["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-x", "c++", "-E", "-o",
                            os.devnull, "-"], input="#include <new>\n", text=True, capture_output=True)
    if probe.returncode:
        raise MicrocError(f"arm-none-eabi-g++ has no C++ standard headers: apt-get install {CPP_PACKAGES}")
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise MicrocError("Pillow is missing (TFLM's Makefile imports it): pip install pillow") from None


def model_ops(model: Path) -> list[str]:
    """The builtin operators in the model's operator table (all of them: TFLM resolves them by code)."""
    import tflite
    from microc.frontends.tflite import _OP_NAMES
    m = tflite.Model.GetRootAs(model.read_bytes(), 0)
    names = []
    for i in range(m.OperatorCodesLength()):
        c = m.OperatorCodes(i)
        names.append(_OP_NAMES.get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode()), "CUSTOM"))
    missing = sorted(set(names) - set(OPS))
    if missing:
        raise MicrocError(f"{model.name}: this script registers no TFLM kernel for {', '.join(missing)}")
    return sorted(set(names))


# ---- TFLM's own Makefile -----------------------------------------------------------------------------

@dataclass
class TflmBuild:
    lib: Path
    cxxflags: list[str]


class Tflm:
    """TFLM's Makefile run in the user's checkout, with every output and third-party path outside it."""

    def __init__(self, src: Sources, cache: Path):
        self.src, self.cache = src, cache / src.key()
        self.downloads = self.cache / "downloads"

    def make_args(self, board: str, kernels: str) -> list[str]:
        s = self.src
        args = ["-f", MAKEFILE, "TARGET=cortex_m_generic", *TFLM_ARCH[board],
                "CORE_OPTIMIZATION_LEVEL=-O2", "BUILD_TYPE=release_with_logs", "TARGET_TOOLCHAIN_ROOT=/usr/bin/",
                f"DOWNLOADS_DIR={self.downloads}", f"CMSIS_PATH={s.cmsis}", f"CORTEX_DFP_PATH={s.cortex_dfp}",
                f"GENDIR={self.cache}/gen/{board}-{kernels}/",
                # The download rules and the examples' and tests' makefiles are not needed for the library.
                "THIRD_PARTY_DOWNLOADS=", "MICRO_LITE_EXAMPLE_TESTS=", "MICRO_LITE_INTEGRATION_TESTS=",
                "MICRO_LITE_GEN_MUTABLE_OP_RESOLVER_TEST=", "MICRO_LITE_LAYER_BY_LAYER_OUTPUT=",
                "OLD_MICRO_LITE_BENCHMARKS=", "MICRO_LITE_BENCHMARKS="]
        if kernels == "cmsis_nn":
            args += ["OPTIMIZED_KERNEL_DIR=cmsis_nn", f"CMSIS_NN_PATH={s.cmsis_nn}"]
        return args

    def _make(self, args: list[str], quiet: bool = False) -> str:
        # The Makefile runs python3 scripts that import PIL: this interpreter's folder first on PATH.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["nice", "make", *args], cwd=self.src.tflm, env=env, text=True,
                              capture_output=True)
        if done.returncode:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise MicrocError(f"TFLM's make {args[-1]} failed in {self.src.tflm}: {tail}")
        return done.stdout

    def variable(self, board: str, kernels: str, name: str) -> list[str]:
        out = self._make(["-s", *self.make_args(board, kernels), f"print-{name}"])
        line = next(l for l in out.splitlines() if l.startswith(f"{name}="))
        return line.split("=", 1)[1].split()

    def build(self, board: str, kernels: str, ops: set[str]) -> TflmBuild:
        """libtensorflow-microlite.a with only the kernels of `ops` (as TFLM's own list names them, the
        CMSIS-NN ones where it specialises them): the rest would take most of the build and never link."""
        self._prepare_downloads()
        stems = {OPS[o][1] for o in ops}
        wanted = [f for f in self.variable(board, kernels, "MICROLITE_CC_KERNEL_SRCS")
                  if re.search(r"micro/kernels/(cmsis_nn/)?([a-z_]+)\.cc$", f)
                  and _stem(f) in stems | {s + "_common" for s in stems} | {"kernel_util"}]
        args = self.make_args(board, kernels) + ["MICROLITE_CC_KERNEL_SRCS=" + " ".join(wanted)]
        lib = self.cache / "gen" / f"{board}-{kernels}" / "lib" / "libtensorflow-microlite.a"
        lib.unlink(missing_ok=True)  # archived again from the objects of this kernel list
        self._make([f"-j{min(2, os.cpu_count() or 1)}", *args, "microlite"])
        flags = self.variable(board, kernels, "CXXFLAGS") + self.variable(board, kernels, "INCLUDES")
        return TflmBuild(lib, [_absolute(f, self.src.tflm) for f in flags if f != "-Werror"])

    def _prepare_downloads(self) -> None:
        """TFLM's downloads folder, of links to the user's checkouts (and the empty pigweed it expects)."""
        (self.downloads / "pigweed").mkdir(parents=True, exist_ok=True)
        for name in ("flatbuffers", "gemmlowp", "ruy", "kissfft"):
            link = self.downloads / name
            if link.is_symlink():
                link.unlink()
            link.symlink_to(getattr(self.src, name))


def _stem(path: str) -> str:
    return Path(path).stem


def _absolute(flag: str, base: Path) -> str:
    if flag.startswith("-I") and not flag[2:].startswith("/"):
        return "-I" + str((base / flag[2:]).resolve())
    return flag


# ---- the firmware: microc's project with TFLM behind its model interface ---------------------------

WRAPPER = """// TFLM behind microc's model interface (mc_model.h), written by scripts/bench_tflm.py.
#include <new>
#include <stdint.h>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
extern "C" {{
#include "mc_model.h"
#include "mc_platform.h"
}}

alignas(16) static const unsigned char tflm_model_data[] = {{
{data}
}};

using Resolver = tflite::MicroMutableOpResolver<{n_ops}>;
// Constructed in tflm_setup (the startup runs no C++ constructors); the arena is this file's .bss, which
// microc's link script places where the board keeps activations.
alignas(16) static uint8_t arena[{arena}];
alignas(Resolver) static uint8_t resolver_mem[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) static uint8_t interpreter_mem[sizeof(tflite::MicroInterpreter)];
static tflite::MicroInterpreter *interpreter;
static const uint32_t input_bytes[{n_in}] = {{{in_bytes}}};
static const uint32_t output_bytes[{n_out}] = {{{out_bytes}}};
static const char info_head[] = {info_head};
static char info[sizeof info_head + 40];

static void *input_ptr(int i) {{ return interpreter->input(i)->data.data; }}
static void *output_ptr(int i) {{ return interpreter->output(i)->data.data; }}
static int invoke(void) {{ return interpreter->Invoke() == kTfLiteOk ? 0 : 1; }}

// microc's INFO with the arena TFLM used appended: ...,"tflm_arena_bytes":N}}
static void finish_info(uint32_t used) {{
  char digits[10];
  int n = 0, at = sizeof info_head - 1;
  const char key[] = ",\\"tflm_arena_bytes\\":";
  for (int i = 0; i < at; i++) info[i] = info_head[i];
  for (int i = 0; key[i]; i++) info[at++] = key[i];
  do {{ digits[n++] = (char)('0' + used % 10u); used /= 10u; }} while (used);
  while (n) info[at++] = digits[--n];
  info[at++] = '}}';
  info[at] = 0;
}}

extern "C" void tflm_setup(void) {{
  Resolver *r = new (resolver_mem) Resolver();
{adds}
  interpreter = new (interpreter_mem) tflite::MicroInterpreter(tflite::GetModel(tflm_model_data), *r, arena,
                                                                sizeof arena);
  if (interpreter->AllocateTensors() != kTfLiteOk) mc_exit(3);
  // microc's runner moves exactly these bytes: TFLM's tensors must be the same sizes, in the same order.
  for (int i = 0; i < {n_in}; i++) if (interpreter->input(i)->bytes != input_bytes[i]) mc_exit(4);
  for (int i = 0; i < {n_out}; i++) if (interpreter->output(i)->bytes != output_bytes[i]) mc_exit(5);
  finish_info((uint32_t)interpreter->arena_used_bytes());
}}

extern "C" const mc_model_t model_model = {{
  "model", info, {n_in}, {n_out}, input_bytes, output_bytes, input_ptr, output_ptr, invoke, 0, nullptr,
  nullptr, arena, sizeof arena,
}};
"""


def tflm_project(microc_project: Path, dest: Path, model: Path, build: TflmBuild, ops: list[str]) -> Path:
    """A copy of microc's project for `model` whose model source is the TFLM wrapper, linked with `build`."""
    from microc.pipeline import read_metadata
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(microc_project, dest, ignore=shutil.ignore_patterns("build", "*.npy", "last_run.json"))
    meta = read_metadata(dest)
    for f in (dest / "model").glob("*.c"):
        f.unlink()
    info = {k: meta[k] for k in ("name", "model_hash", "inputs", "outputs", "arena_bytes")}
    info["layers_count"] = 0
    raw = model.read_bytes()
    data = ",\n".join(",".join(str(b) for b in raw[i:i + 32]) for i in range(0, len(raw), 32))
    (dest / "model" / "model.cc").write_text(WRAPPER.format(
        data=data, n_ops=len(ops), arena=ARENA_BYTES, n_in=len(meta["inputs"]), n_out=len(meta["outputs"]),
        in_bytes=", ".join(str(t["bytes"]) for t in meta["inputs"]),
        out_bytes=", ".join(str(t["bytes"]) for t in meta["outputs"]),
        info_head=json.dumps(json.dumps(info, separators=(",", ":"))[:-1]),
        adds="\n".join(f"  r->{OPS[o][0]}();" for o in ops)))
    _patch(dest / "main.c", "  mc_serve(", "  tflm_setup();\n  mc_serve(",
           "void tflm_setup(void);\n\n/* Serve")
    mk = dest / "Makefile"
    _patch(mk, "\t$(CC) $(LDFLAGS) $(OBJS) -o $@ $(LDLIBS)", "\t$(CXX) $(LDFLAGS) $(OBJS) -o $@ $(LDLIBS)")
    mk.write_text(mk.read_text() + _MAKE_TFLM.format(flags=" ".join(build.cxxflags), lib=build.lib))
    return dest


_MAKE_TFLM = """
# TFLM (scripts/bench_tflm.py): the wrapper compiled with the library's own flags, linked with C++'s driver.
CXX := $(PREFIX)g++
TFLM_CXXFLAGS := -O2 {flags} -Imodel -Iruntime/include -Iplatform
OBJS += build/model/model.o
LDLIBS := {lib} $(LDLIBS)
# libstdc++ brings newlib's malloc, whose sbrk needs `end`; TFLM allocates only from its arena, so none runs.
LDFLAGS += -Wl,--defsym=end=__bss_end
$(TARGET): build/model/model.o {lib}
build/model/model.o: model/model.cc
\t@mkdir -p $(dir $@)
\t$(CXX) $(TFLM_CXXFLAGS) -c $< -o $@
"""


def _patch(path: Path, old: str, new: str, before: str | None = None) -> None:
    text = path.read_text()
    if old not in text:
        raise MicrocError(f"{path.name} no longer has '{old.strip()}': update scripts/bench_tflm.py")
    text = text.replace(old, new)
    if before:
        text = text.replace("/* Serve", before, 1)
    path.write_text(text)


# ---- measuring ------------------------------------------------------------------------------------------

def measure(project: Path, samples: int):
    """Build and run `samples` seeded inputs (the same for every project of one model) under QEMU: the
    run's report and the ELF's flash bytes."""
    from microc.build import build_project
    from microc.runner.session import run_project
    flash = build_project(project).flash_bytes
    return run_project(project, samples=samples, seed=0, verify=False), flash


def tflm_arena(project: Path) -> int:
    """The arena TFLM used, from the firmware's INFO."""
    from microc.boards import load_board
    from microc.build import read_build_result
    from microc.pipeline import read_manifest
    from microc.runner.session import open_device
    board = load_board(read_manifest(project)["board"])
    with open_device(board, project, read_build_result(project), None, 60.0) as device:
        info = device.info()
        device.exit(0)
    return int(info["tflm_arena_bytes"])


def git_commit(path: Path) -> str:
    """The checkout's commit (8 digits), marked -dirty when tracked files differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True)
    head = git("rev-parse", "--short=8", "HEAD")
    if head.returncode:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def bench(src: Sources, models: list[Path], boards: list[str], cache: Path, work: Path, samples: int,
          say=print) -> list[Row]:
    """microc, TFLM reference and TFLM CMSIS-NN rows for every model on every board; a TFLM run whose outputs
    differ from microc's is kept with matches_microc False (the table says NO) and the run goes on."""
    from microc.pipeline import compile_model, read_metadata
    tflm = Tflm(src, cache)
    ops = {m: model_ops(m) for m in models}
    all_ops = set().union(*ops.values())
    rows = []
    for board in boards:
        libs = {}
        for kernels in KERNELS:
            say(f"TFLM ({kernels}) for {board}: make microlite in {src.tflm}")
            libs[kernels] = tflm.build(board, kernels, all_ops)
        for model in models:
            say(f"{model.stem} on {board}")
            project = work / f"{model.stem}-{board}"
            compile_model(model, board, project, name="model")
            meta = read_metadata(project)
            mine, flash = measure(project, samples)
            if mine.counter.kind != "plugin":
                raise MicrocError(f"microc's QEMU counting plugin did not run: {mine.counter.note}")
            rows.append(Row(model.stem, board, "microc", mine.instructions, mine.cycles, meta["arena_bytes"],
                            True, flash - meta["weight_bytes"]))
            for kernels, lib in libs.items():
                p = tflm_project(project, work / f"{model.stem}-{board}-tflm-{kernels}", model, lib, ops[model])
                theirs, flash = measure(p, samples)
                same = all(np.array_equal(a, b) for s, t in zip(mine.samples, theirs.samples)
                           for a, b in zip(s.outputs, t.outputs))
                rows.append(Row(model.stem, board, f"TFLM {'CMSIS-NN' if kernels == 'cmsis_nn' else 'reference'}",
                                theirs.instructions, theirs.cycles, tflm_arena(p), same,
                                flash - model.stat().st_size))
            say("  " + "; ".join(f"{r.tool} {_n(r.instructions)} instr., {_n(r.cycles)} cycles, "
                                 f"arena {_n(r.arena_bytes)}{'' if r.matches_microc else ', OUTPUTS DIFFER'}"
                                 for r in rows[-3:]))
    return rows


# ---- the table ---------------------------------------------------------------------------------------

def _ratio(a: int | None, b: int | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def markdown_table(rows: list[Row]) -> str:
    """One line per model and board: instructions, estimated cycles, arena and code of each of the three,
    and microc's instructions and cycles over TFLM+CMSIS-NN's."""
    head = "| model | board | " + " | ".join(f"{t} instr. | {t} cycles (est.)" for t in TOOLS) + \
           " | " + " | ".join(f"{t} arena B" for t in TOOLS) + \
           " | " + " | ".join(f"{t} code B" for t in TOOLS) + \
           " | microc / CMSIS-NN instr. | microc / CMSIS-NN cycles | outputs equal |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for key in dict.fromkeys((r.model, r.board) for r in rows):
        by = {r.tool: r for r in rows if (r.model, r.board) == key}
        got = [by.get(t) for t in TOOLS]
        cells = [f"{_n(r and r.instructions)} | {_n(r and r.cycles)}" for r in got]
        arenas = [_n(r and r.arena_bytes) for r in got] + [_n(r and r.code_bytes) for r in got]
        mine, cmsis = got[0], got[2]
        ratios = [_ratio(mine and getattr(mine, k), cmsis and getattr(cmsis, k)) for k in ("instructions", "cycles")]
        equal = "yes" if all(r and r.matches_microc for r in got) else "NO"
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " | " + " | ".join(arenas) +
                     " | " + " | ".join(ratios) + f" | {equal} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", type=Path, help="int8 .tflite files (default: the four MLPerf Tiny "
                   "models in ../shared/models/mlperf_tiny)")
    p.add_argument("--tflm-root", required=True, help="a tflite-micro checkout")
    p.add_argument("--cmsis-nn-root", required=True, help="a CMSIS-NN checkout")
    p.add_argument("--deps", help="TFLM's third-party folders (default: the checkout's tools/make/downloads)")
    p.add_argument("--boards", nargs="+", default=list(TFLM_ARCH), choices=list(TFLM_ARCH))
    p.add_argument("--samples", type=int, default=1,
                   help="random inputs per model (all-minimum and all-maximum inputs are added)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "microc" / "tflm",
                   help="where TFLM's libraries are built and kept")
    p.add_argument("--work", type=Path, help="keep the projects here (default: a temporary folder)")
    p.add_argument("--baselines", type=Path, default=tflm_baselines.DEFAULT_PATH,
                   help="write the rows here, for `microc bench --tflm` (rows of other models and boards "
                   "measured from the same checkouts are kept) (default: %(default)s)")
    p.add_argument("--out", type=Path, help="write the markdown table here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        src = find_sources(args.tflm_root, args.cmsis_nn_root, args.deps)
        models = args.models or [MODELS_DIR / f"{m}.tflite" for m in MODELS]
        for m in models:
            if not m.is_file():
                raise MicrocError(f"model not found: {m}")
        check_tools()
        tflm_baselines.read(args.baselines)  # a damaged file stops the run before it starts
        microc_commit = git_commit(ROOT)
        with tempfile.TemporaryDirectory(prefix="microc-bench-tflm-") as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            rows = bench(src, models, args.boards, args.cache, work, args.samples,
                         say=lambda s: print(s, file=sys.stderr, flush=True))
        run = tflm_baselines.Baselines(rows, git_commit(src.tflm), git_commit(src.cmsis_nn), microc_commit,
                                       datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"), args.baselines)
        tflm_baselines.write(args.baselines, run)
    except MicrocError as e:
        print(f"bench_tflm: error: {e}", file=sys.stderr)
        return e.exit_code
    table = markdown_table(rows) + "\n" + run.source() + "\n"
    print(table, end="")
    if args.out:
        args.out.write_text(table)
    if not all(r.matches_microc for r in rows):
        print("bench_tflm: TFLM's outputs differ from microc's (the rows marked NO)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
