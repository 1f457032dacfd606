"""Exact counts from microc's QEMU plugin (microc/runner/counter.py, plugin/mc_count.c): per-layer
instructions the same on two runs and summing to the whole inference less the stated overhead, the
plugin's counts against the board's timer, and the fallback to the timer where the plugin cannot run."""
from __future__ import annotations

import shutil

import pytest

from shared_models import shared_model
from microc.boards import load_board
from microc.build import build_project
from microc.pipeline import compile_model
from microc.runner import counter
from microc.runner.session import run_project

# What an INVOKE executes outside its layers (docs/cycles.md): per layer, the same runtime code (the
# timer readings and the marks of runtime_c/src/mc_profile.c), exactly this many instructions by board;
# once, the call of invoke() with the prologue and epilogue the compiler gives it (a few more or fewer
# by model).
PER_LAYER = {"mps2-an386": 68, "mps3-an547": 68, "mps2-an500": 64, "mps2-an505": 67, "riscv32-virt": 45}
ONCE = range(15, 31)
MODELS = ["mlperf_tiny/ad01_int8", "mlperf_tiny/kws_ref_model"]
BOARDS = ["mps2-an386", "mps3-an547", "mps2-an500"]


def require_tools(board: str) -> None:
    b = load_board(board)
    for tool in (b.toolchain.cc, b.qemu.get("binary"), "cc"):
        if tool and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def built(model: str, board: str, root) -> str:
    path = shared_model(model)
    require_tools(board)
    project = root / "proj"
    compile_model(path, board, project)
    build_project(project)
    return project


def check_exact_layers(first, second) -> None:
    """Both runs counted by the plugin, the same per layer, and the layers plus the board's overhead make
    the whole inference."""
    assert first.counter.kind == second.counter.kind == "plugin", first.counter.note
    assert first.layers == second.layers and first.profiled == second.profiled
    assert [s.instructions for s in first.samples] == [s.instructions for s in second.samples]
    assert [s.cycles for s in first.samples] == [s.cycles for s in second.samples]
    n = len(first.layers)
    assert n == len(first.metadata["layers"])
    outside = first.profiled.instructions - sum(l.instructions for l in first.layers)
    assert outside - PER_LAYER[first.board] * n in ONCE
    assert first.to_json()["overhead"]["instructions"] == outside
    assert all(l.instructions > 0 and l.cycles > 0 for l in first.layers)


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.split("/")[1])
def test_per_layer_counts_exact_and_repeatable(model, board, tmp_path):
    project = built(model, board, tmp_path)
    first = run_project(project, samples=2, seed=3, verify=True)
    assert first.match is True and first.comparison.max_abs_diff == 0
    second = run_project(project, samples=2, seed=3, verify=False)
    check_exact_layers(first, second)
    j = first.to_json()
    assert j["counter"] == "plugin" and j["cpu"] == load_board(board).toolchain.cflags[0].split("=")[1]
    assert j["cycles"] == first.cycles > 0
    classes = j["instruction_classes"]
    assert sum(n for c, n in classes.items() if c not in counter.EVENTS) == first.profiled.instructions
    assert classes["load"] + classes["load_pipelined"] > 0 and classes["taken"] > 0
    if board == "mps3-an547":  # Helium kernels by default on the M55
        assert classes["mve"] + classes["mve_mem"] + classes["mve_overlapped"] > 0
    elif board != "riscv32-virt":
        assert classes["dsp"] > 0  # SMLAD and friends in the int8 kernels
    assert [l["instructions"] for l in j["layers"]] == first.layer_instructions


def test_plugin_counts_agree_with_instret_on_riscv(tmp_path, monkeypatch):
    """On riscv32-virt the timer is the instret CSR, exact under -icount: each sample reads exactly 10 more
    than the plugin and each layer 14 (the CSR reads and mark calls inside the timer's span)."""
    project = built("mlperf_tiny/ad01_int8", "riscv32-virt", tmp_path)
    plugin = run_project(project, samples=3, seed=0)
    monkeypatch.setenv("MICROC_COUNTER", "timer")
    timer = run_project(project, samples=3, seed=0)
    assert timer.counter.kind == "timer" and timer.counter.note == "MICROC_COUNTER=timer"
    assert [t.instructions - p.instructions for t, p in zip(timer.samples, plugin.samples)] == [10] * 5
    assert [t - p for t, p in zip(timer.layer_instructions, plugin.layer_instructions)] == [14] * 10
    assert timer.cycles is None and timer.to_json()["overhead"] is None


def test_plugin_within_a_tick_of_systick(tmp_path, monkeypatch):
    """On the Cortex-M4 SysTick counts 40 instructions a tick: the timer's figure is the plugin's to within a
    tick plus the readings inside its span."""
    project = built("mlperf_tiny/ad01_int8", "mps2-an386", tmp_path)
    plugin = run_project(project, samples=2, seed=0)
    monkeypatch.setenv("MICROC_COUNTER", "timer")
    timer = run_project(project, samples=2, seed=0)
    for t, p in zip(timer.samples, plugin.samples):
        assert abs(t.instructions - p.instructions) <= 40 + 20


def test_falls_back_to_timer_without_a_compiler(tmp_path, monkeypatch):
    project = built("mlperf_tiny/ad01_int8", "mps2-an386", tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    report = run_project(project, samples=1, seed=0, verify=True)
    assert report.match is True
    j = report.to_json()
    assert j["counter"] == "timer" and "no host C compiler" in j["counter_note"]
    assert j["cycles"] is None and j["layers"][0]["cycles"] is None
    assert j["instructions"] % 40 == 0 and j["layers"][0]["instructions"] % 40 == 0  # whole ticks


def test_falls_back_to_timer_when_qemu_cannot_load_it(tmp_path, monkeypatch):
    project = built("mlperf_tiny/ad01_int8", "mps2-an386", tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lib, _ = counter.build_plugin()
    lib.write_bytes(b"not a shared library")  # as a damaged cache would hold
    report = run_project(project, samples=1, seed=0, verify=True)
    assert report.match is True
    assert report.counter.kind == "timer"
    assert report.counter.note.startswith("QEMU did not load the counting plugin")
    assert report.instructions and report.cycles is None


def test_plugin_is_built_once_into_the_cache(tmp_path, monkeypatch):
    if shutil.which("cc") is None:
        pytest.skip("no host C compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lib, why = counter.build_plugin()
    assert why == "" and lib.parent == tmp_path / "microc" and lib.name.startswith("mc_count-")
    stamp = lib.stat().st_mtime_ns
    assert counter.build_plugin() == (lib, "") and lib.stat().st_mtime_ns == stamp
    assert lib.read_bytes()[:4] == b"\x7fELF"


def test_selftest_counts_each_sample_with_the_plugin(tmp_path):
    from microc.runner.selftest import run_selftest_project
    path = shared_model("mlperf_tiny/ad01_int8")
    require_tools("mps2-an386")
    project = tmp_path / "st"
    compile_model(path, "mps2-an386", project, selftest=3)
    build_project(project)
    first, second = run_selftest_project(project), run_selftest_project(project)
    assert first.passed and first.counter.kind == "plugin"
    assert len(first.per_sample) == 3 and first.per_sample == second.per_sample
    j = first.to_json()
    assert 250_000 < j["instructions"] < 400_000 and j["cycles"] > j["instructions"]  # AD: 306K tuned
