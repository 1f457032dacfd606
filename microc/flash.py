"""`microc flash DIR`: program a built project onto its board with the platform's own tool.

Each board's [flash] table names the tool (docs/platforms.md); this module turns it into the exact
command. Boards that run as a process (host) or under QEMU have nothing to flash and say so."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from microc.errors import MicrocError


class FlashError(MicrocError):
    pass


@dataclass(frozen=True)
class FlashTool:
    program: str  # the executable looked up on PATH
    install: str  # how to get it, for the one-line error


TOOLS = {
    "west": FlashTool("west", "install it with pip install west, in a Zephyr workspace (docs/platforms.md)"),
    "openocd": FlashTool("openocd", "install the Debian package openocd"),
    "pyocd": FlashTool("pyocd", "install it with pip install pyocd"),
    "arduino-cli": FlashTool("arduino-cli", "install its release from https://arduino.github.io/arduino-cli/ "
                             "(not packaged in Debian; avrdude also flashes AVR boards)"),
    "avrdude": FlashTool("avrdude", "install the Debian package avrdude"),
    "az-sphere": FlashTool("az", "install the Azure CLI "
                           "(https://learn.microsoft.com/cli/azure/install-azure-cli); its azure-sphere "
                           "extension installs on first use"),
}

# The tool of a board whose file has no [flash] table.
FAMILY_TOOLS = {"zephyr": "west", "arduino": "arduino-cli", "azure-sphere": "az-sphere"}

# avrdude's programmer and speed per AVR part: the Arduino bootloaders' (boards.txt upload.protocol and
# upload.speed): optiboot on the Uno, stk500v2 ("wiring") on the Mega 2560.
AVRDUDE_BOOTLOADERS = {"atmega328p": ("arduino", 115200), "atmega2560": ("wiring", 115200)}


@dataclass(frozen=True)
class FlashPlan:
    tool: str
    command: list[str]
    artifact: Path  # what the command writes to the board; must exist unless dry-running


def not_applicable(board) -> str | None:
    """Why flashing does not apply to `board`, or None when it does."""
    if board.family == "host":
        return "it runs as a process on this machine (microc run starts it)"
    if board.flash.get("tool", "none" if board.qemu else None) == "none":
        return board.flash.get("reason", "an emulated board: microc run starts it under QEMU")
    return None


def plan_flash(project: Path, board, name: str, port: str | None = None) -> FlashPlan:
    """The command that flashes `project` onto `board` (arduino-cli falls back to avrdude on AVR parts
    when arduino-cli is not installed)."""
    reason = not_applicable(board)
    if reason is not None:
        raise FlashError(f"flashing does not apply to {board.name}: {reason}")
    tool = board.flash.get("tool", FAMILY_TOOLS.get(board.family))
    if tool not in TOOLS:
        raise FlashError(f"board {board.name} names no known flash tool ([flash] tool = {tool!r}; "
                         f"known: {', '.join(TOOLS)})")
    if tool == "arduino-cli" and shutil.which("arduino-cli") is None \
            and _avr_part(board) in AVRDUDE_BOOTLOADERS:
        tool = "avrdude"
    return _COMMANDS[tool](Path(project), board, name, port)


def _west(project: Path, board, name: str, port: str | None) -> FlashPlan:
    from microc.build.sdk import zephyr_elf
    return FlashPlan("west", ["west", "flash", "-d", str(project / "build")], zephyr_elf(project))


def _elf(project: Path, name: str) -> Path:
    return project / "build" / f"{name}.elf"


def _openocd(project: Path, board, name: str, port: str | None) -> FlashPlan:
    elf = _elf(project, name)
    cmd = ["openocd"]
    for cfg in board.flash["configs"]:  # e.g. ["interface/stlink.cfg", "target/stm32f4x.cfg"]
        cmd += ["-f", cfg]
    return FlashPlan("openocd", cmd + ["-c", f"program {elf} verify reset exit"], elf)


def _pyocd(project: Path, board, name: str, port: str | None) -> FlashPlan:
    elf = _elf(project, name)
    return FlashPlan("pyocd", ["pyocd", "flash", "-t", board.flash["target"], str(elf)], elf)


def _arduino_build(project: Path) -> Path:
    return project / "build" / "arduino"  # where microc.build.arduino has arduino-builder write


def _need_port(port: str | None, tool: str) -> str:
    if not port:
        raise FlashError(f"{tool} needs the board's serial port: add --port (e.g. --port /dev/ttyACM0)")
    return port


def _arduino_cli(project: Path, board, name: str, port: str | None) -> FlashPlan:
    build = _arduino_build(project)
    cmd = ["arduino-cli", "upload", "-p", _need_port(port, "arduino-cli"), "--fqbn", board.arduino["fqbn"],
           "--input-dir", str(build), str(project / name)]
    return FlashPlan("arduino-cli", cmd, build / f"{name}.ino.elf")


def _avr_part(board) -> str:
    return board.simavr.get("mcu", "")


def _avrdude(project: Path, board, name: str, port: str | None) -> FlashPlan:
    part = _avr_part(board)
    programmer, baud = AVRDUDE_BOOTLOADERS[part]
    hex_file = _arduino_build(project) / f"{name}.ino.hex"
    cmd = ["avrdude", "-p", part, "-c", programmer, "-P", _need_port(port, "avrdude"), "-b", str(baud), "-D",
           "-U", f"flash:w:{hex_file}:i"]
    return FlashPlan("avrdude", cmd, hex_file)


def _az_sphere(project: Path, board, name: str, port: str | None) -> FlashPlan:
    from microc.build.sdk import image_package
    package = image_package(project, name)
    return FlashPlan("az-sphere", ["az", "sphere", "device", "sideload", "deploy", "--image-package",
                                   str(package)], package)


_COMMANDS = {"west": _west, "openocd": _openocd, "pyocd": _pyocd, "arduino-cli": _arduino_cli,
             "avrdude": _avrdude, "az-sphere": _az_sphere}


def flash_project(project: str | Path, port: str | None = None, dry_run: bool = False) -> FlashPlan:
    """Flash a built project (or, with dry_run, only work out the command). Errors are one line: the
    board cannot be flashed, the tool is missing (with how to install it), the project is not built."""
    from microc.boards import load_board
    from microc.pipeline import read_manifest
    project = Path(project).resolve()
    manifest = read_manifest(project)
    board = load_board(manifest["board"])
    plan = plan_flash(project, board, manifest["name"], port)
    if dry_run:
        return plan
    tool = TOOLS[plan.tool]
    if shutil.which(tool.program) is None:
        raise FlashError(f"{tool.program} not found: {tool.install}")
    if not plan.artifact.is_file():
        hint = (" (the Azure Sphere SDK's build makes it: docs/platforms.md)" if plan.tool == "az-sphere"
                else "")
        raise FlashError(f"{plan.artifact} is missing: run microc build {project}{hint}")
    proc = subprocess.run(plan.command, capture_output=True, text=True)
    if proc.returncode != 0:
        from microc.build.tools import first_error
        raise FlashError(f"{plan.tool} failed: {first_error(proc.stderr + proc.stdout)}")
    return plan
