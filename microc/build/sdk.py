"""Builds through a platform's own SDK: Zephyr's `west build`, and the Azure Sphere SDK's CMake build of an
image package. Neither SDK can be installed on the machines microc is developed on, so each step first
says exactly what is missing and the command a user runs with the SDK (docs/platforms.md)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from microc.build.tools import run_tool
from microc.errors import MicrocError

SDK_TIMEOUT = 1800.0  # seconds
AZURE_SPHERE_SDK = Path("/opt/azurespheresdk")  # the Linux SDK's install folder
AZURE_SPHERE_RT_TOOLCHAIN = "CMakeFiles/AzureSphereRTCoreToolchain.cmake"


class SdkBuildError(MicrocError):
    pass


def west_build_command(project: Path, board) -> list[str]:
    """-p auto: a pristine build when the board changed; the build folder is the project's build/."""
    return ["west", "build", "-p", "auto", "-b", board.zephyr["board"], "-d", str(project / "build"),
            str(project)]


def zephyr_elf(project: Path) -> Path:
    return project / "build" / "zephyr" / "zephyr.elf"


def build_zephyr(project: Path, board) -> Path:
    """Run west build; the ELF is build/zephyr/zephyr.elf."""
    cmd = west_build_command(project, board)
    missing = [what for what, ok in (("west is not on PATH", shutil.which("west")),
                                     ("ZEPHYR_BASE is not set", os.environ.get("ZEPHYR_BASE"))) if not ok]
    if missing:
        raise SdkBuildError(f"cannot build for Zephyr here: {' and '.join(missing)}; in a Zephyr workspace "
                            f"(pip install west; west init ~/zephyrproject; cd ~/zephyrproject; west update; "
                            f"export ZEPHYR_BASE=~/zephyrproject/zephyr) run: {' '.join(cmd)}")
    _run(cmd, "west build")
    elf = zephyr_elf(project)
    if not elf.is_file():
        raise SdkBuildError(f"west build succeeded but left no {elf}")
    return elf


def zephyr_sizes(elf: Path, board) -> tuple[int, int]:
    """(flash, RAM) from `size` totals: Zephyr names its sections its own way (text, rodata, datas,
    bss, noinit, ...), so count by kind: flash is text + data (initial values), RAM is data + bss."""
    tool = board.toolchain.size if shutil.which(board.toolchain.size) else "size"
    try:
        out = subprocess.run([tool, str(elf)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SdkBuildError(f"cannot read the sizes of {elf.name} with {tool}: {e}") from None
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text + data, data + bss


def azure_sphere_sdk() -> Path | None:
    sdk = Path(os.environ.get("AzureSphereDefaultSDKDir", AZURE_SPHERE_SDK))
    return sdk if (sdk / AZURE_SPHERE_RT_TOOLCHAIN).is_file() else None


def image_package(project: Path, name: str) -> Path:
    return project / "build" / "sdk" / f"{name}.imagepackage"


def azure_sphere_cmake_commands(project: Path, sdk: Path) -> list[list[str]]:
    """The SDK's build (CMakeLists.txt) into build/sdk/, as its CMakePresets.json configure it."""
    gcc = shutil.which("arm-none-eabi-gcc")
    arm_gnu = str(Path(gcc).resolve().parent.parent) if gcc else "/usr"
    out = str(project / "build" / "sdk")
    return [["cmake", "-G", "Ninja", "-S", str(project), "-B", out, "-DCMAKE_BUILD_TYPE=Release",
             f"-DCMAKE_TOOLCHAIN_FILE={sdk / AZURE_SPHERE_RT_TOOLCHAIN}", f"-DARM_GNU_PATH={arm_gnu}"],
            ["cmake", "--build", out]]


def build_azure_sphere_package(project: Path, name: str) -> Path | None:
    """Where the Azure Sphere SDK is installed, also make the image package the device accepts; else
    None (the ELF from make is the build's result)."""
    sdk = azure_sphere_sdk()
    if sdk is None:
        return None
    for tool, how in (("cmake", "the Debian package cmake"), ("ninja", "the Debian package ninja-build")):
        if shutil.which(tool) is None:
            raise SdkBuildError(f"{tool} not found (the Azure Sphere SDK's build needs it): install {how}")
    for cmd in azure_sphere_cmake_commands(project, sdk):
        _run(cmd, "the Azure Sphere SDK's CMake build")
    package = image_package(project, name)
    if not package.is_file():
        raise SdkBuildError(f"the Azure Sphere SDK's build left no {package}")
    return package


def _run(cmd: list[str], what: str) -> None:
    run_tool(cmd, SdkBuildError, SDK_TIMEOUT, running=what, failed=f"{what} failed")
