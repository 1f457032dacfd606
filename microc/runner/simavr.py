"""Run AVR firmware in simulation, two ways.

Self-test firmware runs under the stock `simavr -m MCU -f HZ FILE.elf` (Debian package simavr). It prints
the UART's output on stderr a line at a time, each line coloured with ANSI codes and its newline shown as
'.', and exits 0 when the firmware sleeps with interrupts off (mc_exit). On a crash it starts a GDB server
and waits, so it always runs under a timeout and is killed there.

Firmware that serves the runner protocol runs under microc's own harness on libsimavr
(simavr_uart/mc_simavr.c; Debian package libsimavr-dev), which joins the simulated USART to its stdin
and stdout both ways, so the host talks to it as to the host board's executable."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from microc.build.host_tools import host_tool
from microc.errors import DeviceError
from microc.runner.host import HostDevice

HARNESS_SOURCE = Path(__file__).with_name("simavr_uart") / "mc_simavr.c"
HARNESS_FLAGS = ["-I/usr/include/simavr", "-lsimavr"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOADER = re.compile(r"^Loaded \d+ \.\w+")  # simavr's own lines about the ELF it loaded


def simavr_command(board, elf: str | os.PathLike) -> list[str]:
    return ["simavr", "-m", board.simavr["mcu"], "-f", str(board.simavr["frequency"]), str(elf)]


def run_simavr(board, elf: str | os.PathLike, timeout: float = 60.0) -> tuple[int | None, str]:
    """(exit status, what the firmware printed); status None when it was killed at the timeout."""
    if shutil.which("simavr") is None:
        raise DeviceError("simavr not found: install the Debian package simavr (scripts/setup.sh does)")
    if not Path(elf).is_file():
        raise DeviceError(f"{elf} does not exist: run microc build first")
    proc = subprocess.Popen(simavr_command(board, elf), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status = None
    return status, uart_text((out + err).decode("utf-8", "replace"))


def uart_text(output: str) -> str:
    """The firmware's lines from simavr's output: colours removed, the trailing '.' (its rendering of
    the newline) dropped, loader messages skipped."""
    lines = []
    for line in _ANSI.sub("", output).splitlines():
        if not line or _LOADER.match(line):
            continue
        lines.append(line[:-1] if line.endswith(".") else line)
    return "\n".join(lines) + "\n" if lines else ""


def build_harness() -> tuple[Path | None, str]:
    """(the harness executable, "") or (None, why not); built once per source into microc's cache."""
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        return None, "libsimavr's headers are missing: install the Debian package libsimavr-dev"
    return host_tool(HARNESS_SOURCE, HARNESS_FLAGS)


def simavr_device(board, elf: str | os.PathLike, timeout: float) -> HostDevice:
    """A Device on the simulated AVR's USART (use as a context manager: close() stops the simulator)."""
    if not Path(elf).is_file():
        raise DeviceError(f"{elf} does not exist: run microc build first")
    harness, why = build_harness()
    if harness is None:
        raise DeviceError(f"{board.name}: the simulator harness is unavailable: {why}")
    return HostDevice(harness, board.simavr["mcu"], str(board.simavr["frequency"]), os.fspath(elf),
                      timeout=timeout)
