"""Build a rendered project with its board's toolchain (plain `make`), then measure the artifact."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from microc.build.tools import need_tool, run_tool
from microc.errors import MicrocError

BUILD_RESULT = "build/microc-build.json"
MAKE_TIMEOUT = 1800.0  # seconds; a big model's weights file takes a while to compile

# Sections of an ELF that occupy flash (loaded from it) and RAM (live there at run time). .data counts
# in both: its initial values sit in flash and are copied to RAM at reset.
FLASH_SECTIONS = re.compile(r"^\.(text|rodata|data|ARM\.exidx|ARM\.extab|init_array|fini_array|"
                            r"preinit_array|vectors|isr_vector|init|fini|srodata|sdata|eh_frame)")
RAM_SECTIONS = re.compile(r"^\.(data|bss|arena|sdata|sbss|noinit|stack|heap|tbss|tdata)")


@dataclass
class BuildResult:
    artifact: str
    flash_bytes: int
    ram_bytes: int


class BuildError(MicrocError):
    pass


def build_project(project: str | Path) -> BuildResult:
    from microc.boards import load_board
    from microc.pipeline import read_manifest
    project = Path(project).resolve()
    manifest = read_manifest(project)
    board = load_board(manifest["board"])
    if board.family == "arduino":
        from microc.build.arduino import build_arduino
        artifact = build_arduino(project, board, manifest["name"])
    elif board.family == "zephyr":
        from microc.build.sdk import build_zephyr
        artifact = build_zephyr(project, board)
    else:
        need_tool("make", "make", BuildError)
        need_tool(board.toolchain.cc, board.toolchain.debian_package, BuildError)
        _run_make(project)
        artifact = _artifact(project, manifest["name"])
        if board.family == "azure-sphere":  # the image package too, where the SDK is installed
            from microc.build.sdk import build_azure_sphere_package
            build_azure_sphere_package(project, manifest["name"])
    flash, ram = elf_sizes(artifact, board)
    result = BuildResult(str(artifact), flash, ram)
    (project / BUILD_RESULT).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def read_build_result(project: str | Path) -> dict:
    path = Path(project) / BUILD_RESULT
    if not path.is_file():
        raise MicrocError(f"{project} is not built yet: run microc build {project}")
    result = json.loads(path.read_text())
    if not Path(result["artifact"]).is_file():
        raise MicrocError(f"{result['artifact']} is missing: run microc build {project}")
    return result


def _run_make(project: Path) -> None:
    jobs = str(min(2, os.cpu_count() or 1))
    run_tool(["make", "-j", jobs], BuildError, MAKE_TIMEOUT, running=f"make in {project}",
             failed=f"build of {project.name} failed", cwd=project)


def _artifact(project: Path, name: str) -> Path:
    for candidate in (project / "build" / f"{name}.elf", project / "build" / name):
        if candidate.is_file():
            return candidate
    raise BuildError(f"make succeeded but left neither build/{name}.elf nor build/{name}")


def elf_sizes(elf: Path, board) -> tuple[int, int]:
    """(flash, RAM) bytes from the ELF's allocated sections, as `size -A` lists them."""
    if board.family == "zephyr":
        from microc.build.sdk import zephyr_sizes
        return zephyr_sizes(elf, board)
    sections = section_sizes(elf, board)
    return (sum(n for s, n in sections.items() if FLASH_SECTIONS.match(s)),
            sum(n for s, n in sections.items() if RAM_SECTIONS.match(s)))


def section_sizes(elf: Path, board) -> dict[str, int]:
    """Section name -> bytes, as `size -A` lists them."""
    tool = board.toolchain.size if shutil.which(board.toolchain.size) else "size"
    try:
        out = subprocess.run([tool, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise BuildError(f"cannot read section sizes of {elf.name} with {tool}: {e}") from None
    sections: dict[str, int] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].isdigit():
            sections[fields[0]] = sections.get(fields[0], 0) + int(fields[1])
    return sections
