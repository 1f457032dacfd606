"""The cycle estimate (microc/cycles.py) against the Cortex-M4 TRM's figures (Arm DDI 0439B, 3.3.1 Table 3-1)
on microbenchmarks in assembly (tests/c/cycle_bench.c) run under QEMU with microc's counting plugin, and the
instruction classifier on the RV32 encodings."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from shared_models import shared_model
from microc import ROOT
from microc.boards import load_board
from microc.cycles import P_M3_M4, TABLES, TimingModel, cpu_of
from microc.pipeline import compile_model
from microc.runner.qemu import console_run

BOARD = "mps2-an386"
# The TRM's cycles for each benchmark (P: the pipeline refill after a taken branch, 1 to 3 in the TRM, which
# the model fixes at P_M3_M4), and its instructions.
TRM = {
    # LDR: 2 cycles, 1 when pipelined with the neighbouring load or store single.
    "loads": (2 + 7 * 1, 8),
    # MOVS 1; 10 x SUBS 1; B<cond> taken 1 + P nine times, not taken 1 once.
    "branch_loop": (1 + 10 * 1 + 9 * (1 + P_M3_M4) + 1, 21),
    # MOVS 1; 8 x (4 x SMLAD 1 + SUBS 1); B<cond> taken 7 times, not taken once.
    "smlad_loop": (1 + 8 * (4 + 1) + 7 * (1 + P_M3_M4) + 1, 1 + 8 * 6),
    # PUSH and POP: 1 + N each, N = 4.
    "push_pop": ((1 + 4) * 2, 2),
}
NAMES = ["empty", "loads", "branch_loop", "smlad_loop", "push_pop", "mve_loop"]


def run_benchmarks(board: str, root) -> dict:
    """tests/c/cycle_bench.c built for `board` and run under the plugin: each benchmark's record by name."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "cc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    project = root / "p"
    compile_model(shared_model("tflm/hello_world_int8"), board, project)
    shutil.copyfile(ROOT / "tests" / "c" / "cycle_bench.c", project / "main.c")
    subprocess.run(["make", "-s"], cwd=project, check=True, capture_output=True)
    run = console_run(load_board(board), project / "build" / "hello_world_int8.elf", timeout=30)
    assert run.status == 0 and run.counter.kind == "plugin", (run.text, run.counter.note)
    return dict(zip(NAMES, run.records))


def deltas(records: dict) -> dict:
    """Each benchmark's class counts less the empty benchmark's (the calls and marks)."""
    empty = records["empty"].total.by_class
    return {name: {c: n - empty[c] for c, n in r.total.by_class.items() if n != empty[c]}
            for name, r in records.items()}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    records = run_benchmarks(BOARD, tmp_path_factory.mktemp("bench"))
    assert len(records) == len(NAMES) - 1  # no MVE on the M4
    return records


@pytest.mark.parametrize("name", list(TRM))
def test_cortex_m4_estimate_equals_the_trm(bench_run, name):
    model = TimingModel.for_board(load_board(BOARD))
    empty, bench = bench_run["empty"].total, bench_run[name].total
    cycles = model.cycles(bench.by_class) - model.cycles(empty.by_class)
    instructions = bench.instructions - empty.instructions
    assert (cycles, instructions) == TRM[name]


def test_benchmark_classes(bench_run):
    """What the plugin saw: the loads' pipelining, branch directions, SMLADs and registers moved."""
    delta = deltas(bench_run)
    assert delta["loads"] == {"load": 1, "load_pipelined": 7}
    assert delta["branch_loop"] == {"alu": 11, "branch": 10, "taken": 9}
    assert delta["smlad_loop"] == {"alu": 9, "dsp": 32, "branch": 8, "taken": 7}
    assert delta["push_pop"] == {"ldm": 1, "stm": 1, "ldm_regs": 4, "stm_regs": 4}


def test_helium_beats_on_the_cortex_m55(tmp_path):
    """A low-overhead loop of vector load, add and store, 4 times, on mps3-an547: each iteration's load starts
    a block (2 cycles, four beats), the add and the store each overlap the previous instruction of the
    other group (1 cycle); LE is a branch without refill."""
    records = run_benchmarks("mps3-an547", tmp_path)
    delta = deltas(records)["mve_loop"]
    assert delta == {"alu": 2, "load": 1, "stm": 1, "stm_regs": 1, "branch": 4, "mve_mem": 4,
                     "mve_overlapped": 8}
    model = TimingModel.for_board(load_board("mps3-an547"))
    vector = {c: n for c, n in delta.items() if c.startswith("mve")}
    assert model.cycles(vector) == 4 * 2 + 8 * 1
    # the Cortex-M4 microbenchmarks classify the same on the M55's scalar pipeline
    assert deltas(records)["loads"] == {"load": 1, "load_pipelined": 7}


def test_every_emulated_arm_and_riscv_board_has_a_timing_table():
    for name in ("mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "riscv32-virt"):
        cpu = cpu_of(load_board(name))
        assert cpu in TABLES and TABLES[cpu]["source"], name
        classes = set(TABLES["cortex-m4"]["cycles"])
        assert set(TABLES[cpu]["cycles"]) == classes, cpu
    assert cpu_of(load_board("host")) is None
    assert TimingModel.for_board(load_board("host")).cycles({"alu": 5}) is None
