"""Run AVR firmware under simavr (Debian package simavr): the stock `simavr -m MCU -f HZ FILE.elf`.

It prints the UART's output on stderr a line at a time, each line coloured with ANSI codes and its
newline shown as '.'; it has no UART input (so only self-test firmware runs here) and it exits 0 when
the firmware sleeps with interrupts off (mc_exit). On a crash it starts a GDB server and waits, so it
always runs under a timeout and is killed there."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from microc.errors import DeviceError

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
