"""Build an Arduino project (microc/project/arduino.py): AVR boards with arduino-builder and the Arduino
core that Debian packages (arduino-core-avr; facts measured on Debian bookworm, docs/platforms.md); the
other boards (ARM, Mbed OS cores, which Debian lacks) with arduino-cli and the core the board file names."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from microc.build.tools import need_tool, run_tool
from microc.errors import MicrocError

ARDUINO_HARDWARE = Path("/usr/share/arduino/hardware")  # arduino-core-avr: hardware/arduino/avr
# arduino-builder's own platform.txt (the ctags recipe for sketch prototypes) is read from a hardware
# folder; -tools is mandatory and must exist (the core finds avr-gcc on PATH).
BUILDER_DIR = Path("/usr/share/arduino-builder")
CORE_API_VERSION = "10819"
# gcc-avr 5.4's C++ headers need DECIMAL_DIG, which that avr-libc lacks; -prefs keeps only the last
# value of a key, so this is the one C++ extra flag.
CXX_EXTRA_FLAGS = "-DDECIMAL_DIG=9"
BUILD_TIMEOUT = 600.0


class ArduinoBuildError(MicrocError):
    pass


def arduino_builder_command(project: Path, board, name: str, build_path: Path) -> list[str]:
    from microc.project.arduino import sketch_path
    return ["arduino-builder", "-compile", "-hardware", str(ARDUINO_HARDWARE), "-hardware", str(BUILDER_DIR),
            "-tools", str(BUILDER_DIR),
            "-libraries", str(project / "libraries"), "-core-api-version", CORE_API_VERSION,
            "-prefs", f"compiler.cpp.extra_flags={CXX_EXTRA_FLAGS}",
            "-fqbn", board.arduino["fqbn"], "-build-path", str(build_path),
            str(sketch_path(project, name))]


def build_arduino(project: Path, board, name: str) -> Path:
    """The ELF arduino-builder (AVR) or arduino-cli (the other cores) leaves in build/arduino/."""
    if board.arduino["architecture"] != "avr":
        return _build_with_arduino_cli(project, board, name)
    for tool, package in (("arduino-builder", "arduino-builder"), (board.toolchain.cc, "gcc-avr")):
        need_tool(tool, package, ArduinoBuildError)
    core = ARDUINO_HARDWARE / "arduino" / board.arduino["architecture"]
    if not core.is_dir():
        raise ArduinoBuildError(f"Arduino core {core} not found: install the Debian package "
                                f"arduino-core-{board.arduino['architecture']}")
    build_path = (project / "build" / "arduino").resolve()
    build_path.mkdir(parents=True, exist_ok=True)  # arduino-builder needs it to exist, absolute
    run_tool(arduino_builder_command(project, board, name, build_path), ArduinoBuildError, BUILD_TIMEOUT,
             running="arduino-builder", failed=f"arduino-builder failed for {board.name}",
             hint=lambda output: _refuse_ram_overflow(output, board))
    elf = build_path / f"{name}.ino.elf"
    if not elf.is_file():
        raise ArduinoBuildError(f"arduino-builder succeeded but left no {elf}")
    _check_ram(elf, board)
    return elf


def arduino_cli_command(project: Path, board, name: str, build_path: Path) -> list[str]:
    from microc.project.arduino import sketch_path
    return ["arduino-cli", "compile", "--fqbn", board.arduino["fqbn"], "--libraries", str(project / "libraries"),
            "--build-path", str(build_path), str(sketch_path(project, name).parent)]


def _build_with_arduino_cli(project: Path, board, name: str) -> Path:
    """arduino-cli with the board's core (e.g. arduino:mbed_nano); the core's linker script refuses a
    firmware that overflows flash or RAM, so no RAM check of ours (Mbed OS sizes its heap at link time)."""
    core = board.arduino["core"]
    install = f"arduino-cli core install {core}"
    if shutil.which("arduino-cli") is None:
        raise ArduinoBuildError(f"arduino-cli not found: {board.name} builds with arduino-cli and the core {core} "
                                f"(install arduino-cli from https://arduino.github.io/arduino-cli/, then {install})")
    build_path = (project / "build" / "arduino").resolve()
    build_path.mkdir(parents=True, exist_ok=True)
    run_tool(arduino_cli_command(project, board, name, build_path), ArduinoBuildError, BUILD_TIMEOUT,
             running="arduino-cli", failed=f"arduino-cli compile failed for {board.name}",
             hint=lambda output: f" (is the core installed? {install})" if core in output else "")
    elf = build_path / f"{name}.ino.elf"
    if not elf.is_file():
        raise ArduinoBuildError(f"arduino-cli succeeded but left no {elf}")
    return elf


def _check_ram(elf: Path, board) -> None:
    """arduino-builder only warns when static data leaves too little RAM for the stack; refuse."""
    from microc.build import elf_sizes
    ram = board.region("stack")
    if ram is None:
        return
    _refuse_ram(elf_sizes(elf, board)[1], ram, board)


def _refuse_ram(static: int, ram, board) -> None:
    if static + board.stack_bytes > ram.size:
        raise ArduinoBuildError(f"firmware needs {static + board.stack_bytes:,} bytes of RAM (static data "
                                f"{static:,} + stack {board.stack_bytes:,}), {board.name} has {ram.size:,}: "
                                f"exceeds by {static + board.stack_bytes - ram.size:,} bytes")


# avr-ld's words when static data passes the end of RAM, one line per section past it (.data, then .bss);
# the address is where that section ends.
_RAM_OVERFLOW = re.compile(r"address 0x([0-9a-f]+) of \S+ section `\.\w+' is not within region `data'")


def _refuse_ram_overflow(output: str, board) -> str:
    """Static data past the end of RAM fails the link: refuse it as _check_ram refuses the rest (the
    run_tool hint raises rather than adding to the linker's words); "" for any other failure."""
    ram = board.region("stack")
    ends = [int(m.group(1), 16) & 0xFFFF for m in _RAM_OVERFLOW.finditer(output)]  # AVR data is at 0x800000
    if ram is not None and ends:
        _refuse_ram(max(ends) - ram.origin, ram, board)  # the last section's end: .bss too, not .data alone
    return ""
