"""Board data (boards/*.toml), and every board end to end: render, build with its real toolchain, run
hello_world_int8 on it (host process or QEMU) and verify against TensorFlow Lite Micro."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared_models import shared_model
from microc import BOARDS, ROOT
from microc.boards import FAMILIES, list_boards, load_board
from microc.build import build_project
from microc.errors import MicrocError
from microc.pipeline import compile_model
from microc.runner.qemu import run_console
from microc.runner.session import run_project

CORTEX_M = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
# The processor clock QEMU gives SysTick on each machine (instructions per tick = 1e9 / hz under
# -icount shift=0), measured by tests/c/measure_ticks.c.
CLOCK_HZ = {"mps2-an385": 25_000_000, "mps2-an386": 25_000_000, "mps2-an500": 25_000_000,
            "mps2-an505": 20_000_000, "mps3-an547": 32_000_000}


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def test_every_board_file_loads_with_its_name_and_family():
    names = sorted(p.stem for p in BOARDS.glob("*.toml"))
    boards = list_boards()
    assert [b.name for b in boards] == names
    assert {"host", *CORTEX_M} <= set(names)
    for b in boards:
        assert b.family in FAMILIES and b.description


def test_unknown_board_error_lists_the_known_boards():
    with pytest.raises(MicrocError) as e:
        load_board("mps2-an999")
    msg = str(e.value)
    assert "unknown board 'mps2-an999'" in msg and "mps2-an386" in msg and "host" in msg
    assert "\n" not in msg


def test_ticks_convert_to_instructions_by_the_board_clock():
    assert load_board("host").to_instructions(12345) is None
    assert load_board("mps2-an386").to_instructions(5000) == 200_000
    assert load_board("mps2-an505").to_instructions(4000) == 200_000
    assert load_board("mps3-an547").to_instructions(6400) == 200_000


@pytest.mark.parametrize("name", CORTEX_M)
def test_cortex_m_memory_map_holds_every_placement(name):
    b = load_board(name)
    assert set(b.placement) == {"code", "rodata", "data", "arena", "stack"}
    assert all(b.region(k) is not None for k in b.placement)
    assert b.timer["instructions_per_tick"] * CLOCK_HZ[name] == 1_000_000_000
    assert b.qemu["machine"] == name and b.stack_bytes > 0


def test_malformed_board_file_is_a_one_line_error(tmp_path, monkeypatch):
    import microc.boards
    (tmp_path / "bad.toml").write_text('name = "bad"\nfamily = "z80"\n')
    monkeypatch.setattr(microc.boards, "BOARDS", tmp_path)
    with pytest.raises(MicrocError, match=r"bad.toml is malformed: family 'z80'"):
        load_board("bad")


def _run_test_firmware(name: str, c_file: str, workdir: Path, extra_cflags: str = "") -> tuple[int | None, str]:
    """Render a hello_world project for board `name`, replace its main.c with tests/c/<c_file>, build
    it with plain make and run it under QEMU: (exit status, what it printed)."""
    _needs("arm-none-eabi-gcc")
    _needs("qemu-system-arm")
    project = _project(shared_model("tflm/hello_world_int8"), name, workdir / "p")
    shutil.copyfile(ROOT / "tests" / "c" / c_file, project / "main.c")
    subprocess.run(["make", "-s", f"EXTRA_CFLAGS={extra_cflags}"], cwd=project, check=True, capture_output=True)
    return run_console(load_board(name), project / "build" / "hello_world_int8.elf", timeout=30)


@pytest.mark.parametrize("name", CORTEX_M)
def test_systick_counts_instructions_at_the_board_clock(name, tmp_path):
    """A 2,000,000-instruction loop (tests/c/measure_ticks.c) read with mc_ticks() under -icount."""
    status, text = _run_test_firmware(name, "measure_ticks.c", tmp_path)
    assert status == 0, text
    fields = text.split()
    assert fields[:2] == ["instructions", "2000000"] and fields[2] == "ticks"
    # mc_ticks() itself costs a few instructions: within one tick of the loop's count.
    board = load_board(name)
    assert abs(board.to_instructions(int(fields[3])) - 2_000_000) <= board.timer["instructions_per_tick"]


def test_systick_wraps_are_counted_monotonically(tmp_path):
    """With an 8-bit SysTick period (MC_SYSTICK_BITS), a loop crossing ~195 wraps still measures right."""
    status, text = _run_test_firmware("mps2-an386", "measure_ticks.c", tmp_path, "-DMC_SYSTICK_BITS=8")
    # A lost or doubled wrap moves the count by 256; the wrap interrupts add ~5 instructions each.
    assert status == 0 and 50_000 <= int(text.split()[3]) < 50_000 + 64, text


@pytest.mark.parametrize("name", CORTEX_M)
def test_every_memory_region_exists_to_its_last_word(name, tmp_path):
    regions = load_board(name).memory.values()
    addrs = ",".join(f"0x{r.end - 4:08X}u" for r in regions)
    status, text = _run_test_firmware(name, "probe_memory.c", tmp_path, f"-DPROBE_ADDRS={addrs}")
    assert (status, text.split()) == (0, ["ok"] * len(regions))


@pytest.mark.parametrize("name", ["host", *CORTEX_M])
def test_hello_world_verifies_with_the_same_count_twice(name, tmp_path):
    if name != "host":
        _needs("arm-none-eabi-gcc")
        _needs("qemu-system-arm")
    project = _project(shared_model("tflm/hello_world_int8"), name, tmp_path / "p")
    build_project(project)
    first = run_project(project, samples=2, seed=1, verify=True, timeout=30)
    assert first.match is True and first.comparison.outputs_checked == 4  # 2 random + all -128, all 127
    if name == "host":
        assert first.instructions is None
        return
    second = run_project(project, samples=2, seed=1, verify=True, timeout=30)
    counts = [s.instructions for s in first.samples]
    assert counts == [s.instructions for s in second.samples]
    assert all(1000 < c < 100_000 for c in counts)  # three small FULLY_CONNECTED layers
    assert len(first.layer_instructions) == 3


def _project(model: Path, board: str, out: Path) -> Path:
    compile_model(model, board, out)
    return out
