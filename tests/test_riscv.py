"""The riscv32-virt board (qemu-system-riscv32 -M virt, rv32imac): its board file, its timer (the instret
CSR, exact under -icount), its exit and fault paths, and hello_world_int8 built with
riscv64-unknown-elf-gcc + picolibc, run under QEMU and verified against TensorFlow Lite Micro."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared_models import shared_model
from microc import ROOT
from microc.boards import load_board
from microc.build import build_project
from microc.pipeline import compile_model
from microc.runner.qemu import qemu_device, run_console
from microc.runner.session import run_project
from microc.runner.transport import LinkClosed

BOARD = "riscv32-virt"
TIMEOUT = 30.0  # seconds; a bound on failures, not a speed assertion


@pytest.fixture(scope="module")
def tools():
    for tool in ("riscv64-unknown-elf-gcc", "qemu-system-riscv32"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    probe = subprocess.run(["riscv64-unknown-elf-gcc", "-print-file-name=picolibc.specs"],
                           capture_output=True, text=True)
    if "/" not in probe.stdout:  # gcc echoes the bare name when it finds no such file
        pytest.skip("picolibc for riscv64-unknown-elf is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def hello(tools, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("rv") / "hello"
    compile_model(shared_model("tflm/hello_world_int8"), BOARD, project)
    build_project(project)
    return project


def _test_firmware(c_file: str, workdir: Path, extra_cflags: str = "") -> Path:
    """A hello_world project whose main.c is tests/c/<c_file>, built with plain make."""
    project = workdir / "p"
    compile_model(shared_model("tflm/hello_world_int8"), BOARD, project)
    shutil.copyfile(ROOT / "tests" / "c" / c_file, project / "main.c")
    subprocess.run(["make", "-s", f"EXTRA_CFLAGS={extra_cflags}"], cwd=project, check=True, capture_output=True)
    return project / "build" / "hello_world_int8.elf"


def test_board_file_splits_virt_ram_into_flash_and_ram():
    b = load_board(BOARD)
    assert b.family == "riscv" and b.platform == ("riscv_virt.c", "semihost.c")
    flash, ram = b.memory["flash"], b.memory["ram"]
    assert flash.origin == 0x8000_0000 and ram.origin == flash.end  # virt's RAM starts at 0x80000000
    assert b.region("code") == b.region("rodata") == flash
    assert b.region("arena") == b.region("data") == b.region("stack") == ram
    assert b.to_instructions(12345) == 12345  # instret: one tick per instruction
    assert "-march=rv32imac" in b.toolchain.cflags and "-mabi=ilp32" in b.toolchain.cflags


def test_instret_counts_a_known_loop_exactly(tools, tmp_path):
    """tests/c/measure_ticks.c: loops of 2,000,000 and 1,000,000 instructions read with mc_ticks()."""
    ticks = {}
    for loops in (1_000_000, 500_000):
        elf = _test_firmware("measure_ticks.c", tmp_path / str(loops), f"-DLOOPS={loops}u")
        status, text = run_console(load_board(BOARD), elf, timeout=TIMEOUT)
        fields = text.split()
        assert status == 0 and fields[:3] == ["instructions", str(2 * loops), "ticks"], text
        ticks[loops] = int(fields[3])
    # Each count is the loop plus the few instructions of mc_ticks() around it; that overhead is the
    # same in both, so the difference is exactly the extra instructions: nothing is lost or rounded.
    assert 0 <= ticks[500_000] - 1_000_000 <= 16
    assert ticks[1_000_000] - ticks[500_000] == 1_000_000


def test_every_memory_region_exists_to_its_last_word(tools, tmp_path):
    regions = load_board(BOARD).memory.values()
    addrs = ",".join(f"0x{r.end - 4:08X}u" for r in regions)
    elf = _test_firmware("probe_memory.c", tmp_path, f"-DPROBE_ADDRS={addrs}")
    status, text = run_console(load_board(BOARD), elf, timeout=TIMEOUT)
    assert (status, text.split()) == (0, ["ok"] * len(regions))


def test_startup_copies_data_clears_bss_and_sets_up_errno(tools, tmp_path):
    """The shared models' firmware has no .data or TLS of its own: tests/c/startup_check.c has both."""
    elf = _test_firmware("startup_check.c", tmp_path)
    status, text = run_console(load_board(BOARD), elf, timeout=TIMEOUT)
    assert (status, text.split()) == (0, ["data", "ok", "bss", "ok", "errno", "ok"]), text


def test_a_trap_is_reported_as_a_fault_at_once(tools, tmp_path):
    """tests/c/fault.c loads from unmapped memory: the trap handler's exit ends QEMU with status 250."""
    elf = _test_firmware("fault.c", tmp_path)
    with pytest.raises(LinkClosed, match="the firmware took a fault, exit status 250"):
        with qemu_device(load_board(BOARD), elf, timeout=TIMEOUT) as dev:
            dev.info()


def test_exit_code_reaches_qemu_through_the_test_finisher(hello):
    elf = Path(hello) / "build" / "hello_world_int8.elf"
    for code in (0, 7):
        with qemu_device(load_board(BOARD), elf, timeout=TIMEOUT) as dev:
            assert dev.info()["name"] == "hello_world_int8"
            dev.exit(code)
            assert dev.qemu.proc.wait(timeout=TIMEOUT) == code


def test_hello_world_verifies_with_the_same_count_twice(hello):
    first = run_project(hello, samples=2, seed=1, verify=True, timeout=TIMEOUT)
    assert first.match is True and first.comparison.outputs_checked == 4  # 2 random + all -128, all 127
    second = run_project(hello, samples=2, seed=1, verify=True, timeout=TIMEOUT)
    counts = [s.instructions for s in first.samples]
    assert counts == [s.instructions for s in second.samples]
    assert all(1000 < c < 100_000 for c in counts)  # three small FULLY_CONNECTED layers
    assert len(first.layer_instructions) == 3 and first.layer_instructions == second.layer_instructions
    assert 0 < first.build["flash_bytes"] < load_board(BOARD).memory["flash"].size


def test_selftest_firmware_prints_pass(tools, tmp_path):
    project = tmp_path / "st"
    compile_model(shared_model("tflm/hello_world_int8"), BOARD, project, selftest=3)
    elf = build_project(project).artifact
    status, text = run_console(load_board(BOARD), elf, timeout=TIMEOUT)
    assert status == 0 and text.strip().endswith("3/3 PASS"), text
