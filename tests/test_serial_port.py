"""`microc run --port` over a real serial port: QEMU's `-serial pty` gives a pseudo-terminal that
pyserial opens as it would /dev/ttyACM0. The test owns QEMU (as a user owns their board): it starts
it, and the run's EXIT request stops it."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import os
import sys
import tempfile
import time

import pytest

from shared_models import built_for_qemu
from microc.boards import load_board
from microc.runner import qemu

BOARD = "mps2-an386"
PTY_LINE = re.compile(r"char device redirected to (/dev/pts/\d+)")


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory):
    return built_for_qemu("mlperf_tiny/kws_ref_model", BOARD, tmp_path_factory.mktemp("serial") / "kws")


def start_qemu_on_pty(elf, out) -> tuple[qemu.QemuProcess, str]:
    """QEMU with the board's usual options but its UART on a new pseudo-terminal, named on stdout."""
    proc = qemu.QemuProcess(qemu.qemu_command(load_board(BOARD), elf, "pty"), stdout=out)
    deadline = time.monotonic() + 30
    while not (found := PTY_LINE.search(os.pread(out.fileno(), 4096, 0).decode("utf-8", "replace"))):
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            note = proc.exit_note() or "no pty line within 30 s"
            proc.stop()
            pytest.fail(f"QEMU did not open a pty: {note}")
        time.sleep(0.02)
    return proc, found.group(1)


def microc_run(project, *args) -> dict:
    res = subprocess.run([sys.executable, "-m", "microc", "run", str(project), "--samples", "3",
                          "--verify", "--json", *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_kws_is_verified_over_a_pseudo_terminal(kws_project):
    project, elf = kws_project
    with tempfile.TemporaryFile() as out:
        proc, pty = start_qemu_on_pty(elf, out)
    try:
        over_pty = microc_run(project, "--port", pty, "--timeout", "60")
        # EXIT stops the firmware through semihosting with status 0, as after a QEMU run.
        assert proc.proc.wait(timeout=10) == 0
    finally:
        proc.stop()
    assert over_pty["match"] is True
    assert over_pty["samples"] == 5 and over_pty["outputs_checked"] == 5 * 12
    # Same firmware: the run over the port counts with the board's timer, microc's own QEMU run exactly
    # (its TCG plugin). They agree to one tick per inference; per layer, the timer's count also holds its
    # own reading of the timer (a few instructions), so up to two ticks.
    over_socket = microc_run(project)
    assert over_socket["match"] is True
    assert (over_pty["counter"], over_socket["counter"]) == ("timer", "plugin")
    per_tick = load_board(BOARD).timer["instructions_per_tick"]
    assert over_pty["instructions"] > 1_000_000
    assert abs(over_pty["instructions"] - over_socket["instructions"]) <= per_tick
    for a, b in zip(over_pty["layers"], over_socket["layers"], strict=True):
        assert abs(a["instructions"] - b["instructions"]) <= 2 * per_tick


def test_a_board_flashed_by_other_tools_needs_no_microc_build(kws_project, tmp_path):
    """The project folder without microc's build result (the firmware came from west, arduino-cli...):
    --port still verifies; the report has no flash/RAM figures."""
    project, elf = kws_project
    bare = tmp_path / "kws"
    shutil.copytree(project, bare, ignore=shutil.ignore_patterns("build"))
    with tempfile.TemporaryFile() as out:
        proc, pty = start_qemu_on_pty(elf, out)
    try:
        report = microc_run(bare, "--port", pty, "--timeout", "60")
    finally:
        proc.stop()
    assert report["match"] is True and report["flash_bytes"] is None and report["instructions"] > 0


def test_a_port_that_does_not_exist_is_a_one_line_error(kws_project):
    project, _ = kws_project
    res = subprocess.run([sys.executable, "-m", "microc", "run", str(project), "--port", "/dev/pts/none"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open serial link /dev/pts/none" in lines[0], res.stderr
