"""The benchmark: models × boards, each compiled, built and run with its outputs verified, into one table of
instructions per inference (exact, from microc's QEMU plugin), estimated cycles (docs/cycles.md), arena,
flash and RAM bytes."""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from microc import tflm_baselines

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


def markdown_table(rows: list[BenchRow], tflm_path: Path = tflm_baselines.DEFAULT_PATH) -> str:
    """The table, with TFLM's figures as scripts/bench_tflm.py measured them into `tflm_path` where it has the
    model on the board, and a last line saying where they come from or that there are none."""
    tflm = tflm_baselines.read(tflm_path)
    head = ("| model | board | optimize | verified | instructions | cycles (est.) | arena B | bound B "
            "| weights B | flash B | code B | stack B | RAM B "
            "| TFLM ref. instr. | TFLM CMSIS-NN instr. | TFLM CMSIS-NN cycles (est.) | TFLM CMSIS-NN arena B |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ref, cmsis = (tflm.get(r.model, r.board, t) if tflm else None for t in ("TFLM reference", "TFLM CMSIS-NN"))
        lines.append(f"| {r.model} | {r.board} | {r.optimize} | {'yes' if r.match else 'NO'} "
                     f"| {_n(r.instructions)} | {_n(r.cycles)} | {_n(r.arena_bytes)} | {_n(r.lower_bound_bytes)} "
                     f"| {_n(r.weight_bytes)} | {_n(r.flash_bytes)} | {_n(r.code_bytes)} | {_n(r.stack_bytes)} "
                     f"| {_n(r.ram_bytes)} | {_n(ref and ref.instructions)} | {_n(cmsis and cmsis.instructions)} "
                     f"| {_n(cmsis and cmsis.cycles)} | {_n(cmsis and cmsis.arena_bytes)} |")
    return "\n".join(lines) + "\n\n" + (tflm.source() if tflm else tflm_baselines.absent(tflm_path)) + "\n"


def rows_json(rows: list[BenchRow], tflm_path: Path = tflm_baselines.DEFAULT_PATH) -> list[dict]:
    """The rows as dicts, each with TFLM's measured rows for its model and board from `tflm_path` (or none)."""
    tflm = tflm_baselines.read(tflm_path)
    return [{**asdict(r), "code_bytes": r.code_bytes,
             "tflm": {t.tool: asdict(t) for t in (tflm.rows if tflm else [])
                      if (t.model, t.board) == (r.model, r.board) and t.tool != "microc"}} for r in rows]
