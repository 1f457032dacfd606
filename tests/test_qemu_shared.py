"""Issue 3's acceptance runs: the real int8 models as firmware on emulated boards, every output verified bit
for bit against TensorFlow Lite Micro over the emulated UART, and the instruction count of each sample the
same on a second run of the same firmware (QEMU -icount makes it deterministic)."""
from __future__ import annotations

import shutil

import pytest

from shared_models import INT8, RECURRENT, shared_model
from test_counter import check_exact_layers
from microc.boards import load_board
from microc.build import build_project
from microc.pipeline import compile_model
from microc.runner.session import run_project

# Every model on the M4 (DSP kernels) and the M55 (Helium kernels). The M7 and M33 build the M4's C and
# RISC-V the portable C the host runs under sanitizers, so CI samples them; the whole model x board sweep,
# every row verified, is the benchmark's (docs/benchmark.md).
SAMPLED = ["mlperf_tiny/kws_ref_model", "tflm/hello_world_int8"]
CASES = ([(m, b) for b in ("mps2-an386", "mps3-an547") for m in INT8]
         + [(m, b) for b in ("mps2-an500", "mps2-an505") for m in SAMPLED]
         + [(m, "riscv32-virt") for m in ("mlperf_tiny/ad01_int8", "tflm/hello_world_int8")])


def _require_tools(board: str) -> None:
    b = load_board(board)
    for tool in (b.toolchain.cc, b.qemu.get("binary")):
        if tool and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


@pytest.mark.parametrize("model,board", CASES, ids=[f"{m.split('/')[1]}-{b}" for m, b in CASES])
def test_verified_and_deterministic_on_qemu(model, board, tmp_path):
    path = shared_model(model)
    _require_tools(board)
    project = tmp_path / "proj"
    compile_model(path, board, project)
    build_project(project)
    first = run_project(project, samples=5, seed=1, verify=True)
    assert first.match is True
    assert first.comparison.max_abs_diff == 0
    assert len(first.samples) == 7
    counts = [s.instructions for s in first.samples]
    assert all(c and c > 0 for c in counts)
    second = run_project(project, samples=5, seed=1, verify=False)
    assert [s.instructions for s in second.samples] == counts
    check_exact_layers(first, second)  # issue 9: exact per-layer counts and cycles from the QEMU plugin


@pytest.mark.parametrize("model", RECURRENT[:1])
def test_stateful_model_verified_on_qemu(model, tmp_path):
    """The LSTM's state carried over 5 invocations on the M4 (after a RESET), each output bit-exact with
    TFLM run the same way."""
    _require_tools("mps2-an386")
    project = tmp_path / "proj"
    compile_model(shared_model(model), "mps2-an386", project)
    build_project(project)
    run = run_project(project, samples=3, seed=2, verify=True)
    assert run.match is True and run.comparison.max_abs_diff == 0 and len(run.samples) == 5
    assert run.metadata["state_bytes"] == 32 + 48  # hidden 1x20 int8, cell 1x20 int16, 16-byte aligned
