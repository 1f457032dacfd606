"""`microc flash`: the exact command per platform tool (west, openocd, pyocd, arduino-cli, avrdude, az
sphere), --dry-run, boards where flashing does not apply, missing tools and unbuilt projects as one-line
errors, and a stand-in tool run with the planned command. No real board is attached here."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared_models import shared_model
from microc import ROOT
from microc.boards import load_board
from microc.flash import FlashError, flash_project, plan_flash
from microc.pipeline import compile_model


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """hello_world_int8 compiled (not built) for a board, by board name."""
    made = {}

    def make(board: str) -> Path:
        if board not in made:  # remembered only once compiled (shared_model may skip the test)
            path = (tmp_path_factory.mktemp("flash") / "p").resolve()
            compile_model(shared_model("tflm/hello_world_int8"), board, path)
            made[board] = path
        return made[board]
    return make


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microc", *args], capture_output=True, text=True, cwd=ROOT)


def test_dry_run_prints_west_flash_for_a_zephyr_board(project):
    p = project("zephyr-nrf52840dk")
    run = _cli("flash", str(p), "--dry-run")
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"west flash -d {p / 'build'}\n"


def test_dry_run_prints_the_azure_sphere_sideload(project):
    p = project("azure-sphere-mt3620")
    run = _cli("flash", str(p), "--dry-run")
    assert run.returncode == 0, run.stderr
    assert run.stdout == (f"az sphere device sideload deploy --image-package "
                          f"{p / 'build' / 'sdk' / 'hello_world_int8.imagepackage'}\n")


@pytest.mark.parametrize("board, reason", [
    ("host", "it runs as a process on this machine"),
    ("mps2-an386", "an emulated board: microc run starts it under QEMU"),
    ("zephyr-qemu_cortex_m3", "an emulated board: west build -t run starts it under QEMU"),
])
def test_flashing_does_not_apply_to_host_and_emulated_boards(project, board, reason):
    run = _cli("flash", str(project(board)), "--dry-run")
    assert run.returncode != 0 and run.stdout == ""
    assert run.stderr.startswith(f"microc: error: flashing does not apply to {board}: {reason}")
    assert run.stderr.count("\n") == 1


def _board_like(base: str, **changes):
    return dataclasses.replace(load_board(base), **changes)


def test_openocd_programs_verifies_and_resets(tmp_path):
    board = _board_like("zephyr-nucleo_l4r5zi", family="cortex-m",
                        flash={"tool": "openocd", "configs": ["interface/stlink.cfg", "target/stm32l4x.cfg"]})
    plan = plan_flash(tmp_path, board, "m")
    assert plan.command == ["openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32l4x.cfg",
                            "-c", f"program {tmp_path / 'build' / 'm.elf'} verify reset exit"]


def test_pyocd_flashes_the_elf_for_its_target(tmp_path):
    board = _board_like("zephyr-nrf52840dk", family="cortex-m", flash={"tool": "pyocd", "target": "nrf52840"})
    assert plan_flash(tmp_path, board, "m").command == ["pyocd", "flash", "-t", "nrf52840",
                                                        str(tmp_path / "build" / "m.elf")]


def _arduino(mcu: str, fqbn: str):
    """An Arduino board as its file gives it: no [flash] table, so the family's tool (arduino-cli)."""
    return _board_like("zephyr-nrf52840dk", family="arduino", arduino={"fqbn": fqbn}, simavr={"mcu": mcu},
                       flash={})


def test_arduino_cli_uploads_the_sketch_build(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "arduino-cli").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "arduino-cli").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    plan = plan_flash(tmp_path, _arduino("atmega2560", "arduino:avr:mega:cpu=atmega2560"), "m", "/dev/ttyACM0")
    assert plan.command == ["arduino-cli", "upload", "-p", "/dev/ttyACM0", "--fqbn",
                            "arduino:avr:mega:cpu=atmega2560", "--input-dir", str(tmp_path / "build" / "arduino"),
                            str(tmp_path / "m")]


@pytest.mark.parametrize("mcu, programmer", [("atmega2560", "wiring"), ("atmega328p", "arduino")])
def test_avrdude_replaces_a_missing_arduino_cli_on_avr(tmp_path, monkeypatch, mcu, programmer):
    monkeypatch.setenv("PATH", str(tmp_path))  # no arduino-cli
    plan = plan_flash(tmp_path, _arduino(mcu, "arduino:avr:x"), "m", "/dev/ttyUSB0")
    hex_file = tmp_path / "build" / "arduino" / "m.ino.hex"
    assert plan.command == ["avrdude", "-p", mcu, "-c", programmer, "-P", "/dev/ttyUSB0", "-b", "115200", "-D",
                            "-U", f"flash:w:{hex_file}:i"]


def test_serial_upload_without_a_port_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError, match=r"^avrdude needs the board's serial port: add --port"):
        plan_flash(tmp_path, _arduino("atmega328p", "arduino:avr:uno"), "m")


def test_unknown_flash_tool_is_an_error(tmp_path):
    board = _board_like("zephyr-nrf52840dk", flash={"tool": "jlink"})
    with pytest.raises(FlashError, match=r"names no known flash tool \(\[flash\] tool = 'jlink'; known: west"):
        plan_flash(tmp_path, board, "m")


def test_missing_tool_names_it_and_how_to_install(project, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError) as e:
        flash_project(project("zephyr-nrf52840dk"))
    assert str(e.value) == ("west not found: install it with pip install west, in a Zephyr workspace "
                            "(docs/platforms.md)")


def _fake_tool(tmp_path: Path, name: str, monkeypatch) -> Path:
    """A stand-in `name` on PATH that records its arguments, one per line."""
    log = tmp_path / f"{name}.args"
    (tmp_path / "bin").mkdir(exist_ok=True)
    tool = tmp_path / "bin" / name
    tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return log


def test_unbuilt_project_is_an_error_naming_microc_build(project, monkeypatch, tmp_path):
    _fake_tool(tmp_path, "az", monkeypatch)
    p = project("azure-sphere-mt3620")
    with pytest.raises(FlashError, match=r"hello_world_int8\.imagepackage is missing: run microc build .*"
                                         r"\(the Azure Sphere SDK's build makes it"):
        flash_project(p)


def test_flash_runs_the_planned_command(project, monkeypatch, tmp_path):
    log = _fake_tool(tmp_path, "west", monkeypatch)
    p = project("zephyr-stm32f746g_disco")
    elf = p / "build" / "zephyr" / "zephyr.elf"
    elf.parent.mkdir(parents=True)
    elf.write_bytes(b"\x7fELF")
    plan = flash_project(p)
    assert log.read_text().splitlines() == ["flash", "-d", str(p / "build")]
    assert plan.artifact == elf


def test_a_failing_tool_is_a_one_line_error_with_its_first_error(project, monkeypatch, tmp_path):
    _fake_tool(tmp_path, "west", monkeypatch)
    (tmp_path / "bin" / "west").write_text('#!/bin/sh\necho "probing..."\necho "ERROR: no probe found" >&2\n'
                                           "exit 1\n")
    p = project("zephyr-nrf5340dk")
    (p / "build" / "zephyr").mkdir(parents=True)
    (p / "build" / "zephyr" / "zephyr.elf").write_bytes(b"\x7fELF")
    with pytest.raises(FlashError, match=r"^west failed: ERROR: no probe found$"):
        flash_project(p)
