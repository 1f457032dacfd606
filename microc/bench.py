"""The benchmark: models × boards, each compiled, built and run with its outputs verified, into one table of
instructions per inference (exact, from microc's QEMU plugin), estimated cycles (docs/cycles.md), arena,
flash and RAM bytes."""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

# TensorFlow Lite Micro on mps2-an386 (arm-none-eabi-gcc 12.2 -O2, SysTick under -icount shift=0, x40),
# as measured for the project's issue 3: instructions per inference with its reference kernels and with
# CMSIS-NN, and its arena. Keyed by model file stem.
TFLM_M4 = {
    "kws_ref_model": (43_100_000, 7_700_000, 22_772),
    "vww_96_int8": (100_500_000, 24_100_000, 100_660),
    "pretrainedResnet_quant": (107_500_000, 29_900_000, 54_340),
    "ad01_int8": (1_950_000, 580_000, 2_260),
}


STACK_MARGIN = 256  # bytes over the measured stack, at least: an interrupt's frame, the paint's slack


def stack_reserve(measured: int) -> int:
    """The stack a firmware reserves when its high-water mark was `measured`: a quarter more (at least
    STACK_MARGIN), rounded up to 256 bytes."""
    return -(-(measured + max(measured // 4, STACK_MARGIN)) // 256) * 256


@dataclass
class BenchRow:
    model: str
    board: str
    optimize: str
    match: bool | None
    instructions: int | None
    cycles: int | None  # estimated for the board's CPU (microc/cycles.py); None without the QEMU plugin
    arena_bytes: int
    lower_bound_bytes: int
    weight_bytes: int
    flash_bytes: int
    ram_bytes: int
    stack_bytes: int | None = None  # measured high-water mark; ram_bytes holds stack_reserve() of it

    @property
    def code_bytes(self) -> int:
        return self.flash_bytes - self.weight_bytes


def run_bench(models: list[Path], boards: list[str], samples: int = 1, workdir: Path | None = None,
              progress: Callable[[str], None] = lambda s: None, modes: list[str] = ("balanced",),
              tuning: bool = True, tuning_db: Path | None = None) -> list[BenchRow]:
    """Every model on every board in every --optimize mode; with `tuning`, layers take the tuning
    databases' schedules (microc/tuning/db.py)."""
    from microc.build import build_project
    from microc.pipeline import compile_model
    from microc.project_report import record_run
    from microc.runner.session import run_project
    rows = []
    with tempfile.TemporaryDirectory(prefix="microc-bench-") as tmp:
        root = Path(workdir or tmp)
        for board in boards:
            for model in models:
                for mode in modes:
                    progress(f"{model.name} on {board} (--optimize {mode})")
                    project = root / f"{model.stem}-{board}-{mode}"
                    compile_model(model, board, project, optimize=mode, tuning=tuning, tuning_db=tuning_db)
                    build = build_project(project)
                    report = run_project(project, samples=samples, seed=0, verify=True)
                    if report.stack_bytes:  # again with the stack it needs instead of the board's
                        compile_model(model, board, project, optimize=mode, tuning=tuning,
                                      tuning_db=tuning_db, stack_bytes=stack_reserve(report.stack_bytes))
                        build = build_project(project)
                        report = run_project(project, samples=samples, seed=0, verify=True)
                    record_run(project, report.to_json(), html=True)  # the project's report.html
                    m = report.metadata
                    rows.append(BenchRow(model.stem, board, mode, report.match, report.instructions,
                                         report.cycles, m["arena_bytes"], m["lower_bound_bytes"],
                                         m["weight_bytes"], build.flash_bytes, build.ram_bytes,
                                         report.stack_bytes))
    return rows


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


def markdown_table(rows: list[BenchRow]) -> str:
    head = ("| model | board | optimize | verified | instructions | cycles (est.) | arena B | bound B "
            "| weights B | flash B | code B | stack B | RAM B "
            "| TFLM ref. instr. | TFLM CMSIS-NN instr. | TFLM arena B |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        tflm = TFLM_M4.get(r.model) if r.board == "mps2-an386" else None
        ref, cmsis, arena = tflm or (None, None, None)
        lines.append(f"| {r.model} | {r.board} | {r.optimize} | {'yes' if r.match else 'NO'} "
                     f"| {_n(r.instructions)} | {_n(r.cycles)} | {_n(r.arena_bytes)} | {_n(r.lower_bound_bytes)} "
                     f"| {_n(r.weight_bytes)} | {_n(r.flash_bytes)} | {_n(r.code_bytes)} | {_n(r.stack_bytes)} "
                     f"| {_n(r.ram_bytes)} | {_n(ref)} | {_n(cmsis)} | {_n(arena)} |")
    return "\n".join(lines) + "\n"


def rows_json(rows: list[BenchRow]) -> list[dict]:
    return [{**asdict(r), "code_bytes": r.code_bytes} for r in rows]
