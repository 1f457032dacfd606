"""Azure Sphere MT3620 real-time core: the project (CMakeLists.txt with the SDK's CMake functions,
app_manifest.json, linker.ld, vector table, the core's UART) renders, builds to an ELF with plain make and
arm-none-eabi-gcc, lays out as the Azure Sphere OS loads it, and runs on an emulated real-time core
(tests/mt3620_emulator.py: Unicorn with the MT3620's memory map and UART): the self-test passes and the
runner protocol verifies against TFLM over a pseudo-terminal. The SDK's image-package build is run only
where the SDK is installed (here a stand-in SDK checks the commands)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared_models import shared_model
from microc.boards import load_board
from microc.build import build_project
from microc.build.sdk import AZURE_SPHERE_RT_TOOLCHAIN, azure_sphere_cmake_commands
from microc.pipeline import compile_model
from microc.runner.session import run_project

BOARD = "azure-sphere-mt3620"
TCM, FLASH = (0x00100000, 0x00130000), (0x10000000, 0x10100000)  # Microsoft's sample linker.ld


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """hello_world_float (self-test) and hello_world_int8 (runner protocol) built for the board with make."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
    out = {}
    for model, selftest in (("tflm/hello_world_float", 3), ("tflm/hello_world_int8", 0)):
        p = tmp_path_factory.mktemp("az") / "p"
        compile_model(shared_model(model), BOARD, p, selftest=selftest)
        out[model] = (p, build_project(p))
    return out


def _tool(*args) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True).stdout


def _symbols(elf: Path) -> dict[str, tuple[int, int]]:
    out = _tool("arm-none-eabi-nm", "-S", elf)
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            syms[f[3]] = (int(f[0], 16), int(f[1], 16))
        elif len(f) == 3:
            syms[f[2]] = (int(f[0], 16), 0)
    return syms


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    out = _tool("arm-none-eabi-size", "-A", elf)
    return {f[0]: (int(f[2]), int(f[1])) for f in (l.split() for l in out.splitlines())
            if len(f) == 3 and f[1].isdigit() and int(f[2]) != 0}


def _word(elf: Path, address: int) -> int:
    """The 32-bit little-endian word at `address` of .text."""
    dump = subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(elf), "/dev/stdout"],
                          capture_output=True, check=True).stdout
    offset = address - FLASH[0]
    return int.from_bytes(dump[offset:offset + 4], "little")


@pytest.mark.parametrize("model", ["tflm/hello_world_float", "tflm/hello_world_int8"])
def test_elf_builds_and_lays_out_as_the_os_loads_it(built, model):
    project, res = built[model]
    elf = Path(res.artifact)
    assert elf == project.resolve() / "build" / f"{Path(model).name}.elf"
    header = subprocess.run(["arm-none-eabi-readelf", "-h", str(elf)], capture_output=True, text=True).stdout
    assert re.search(r"Entry point address:\s+0x10000000\n", header)  # the vector table, as in the sample
    assert "hard-float ABI" in header
    syms, sections = _symbols(elf), _sections(elf)
    assert syms["ExceptionVectorTable"] == (FLASH[0], 4 * (16 + 100))
    for name in (".text", ".rodata"):
        start, size = sections[name]
        assert FLASH[0] <= start and start + size <= FLASH[1], name
    for name in (".arena", ".bss", ".stack"):
        start, size = sections[name]
        assert TCM[0] <= start and start + size <= TCM[1], name
    stack_top = syms["StackTop"][0]
    assert stack_top == sections[".stack"][0] + sections[".stack"][1]
    assert sections[".stack"][1] == load_board(BOARD).stack_bytes
    assert _word(elf, FLASH[0]) == stack_top  # initial stack pointer
    reset = _word(elf, FLASH[0] + 4)
    assert reset & 1 and FLASH[0] <= reset < FLASH[1]  # a Thumb address in the code
    assert (res.flash_bytes, res.ram_bytes) == (sections[".text"][1] + sections[".rodata"][1],
                                                sum(sections[s][1] for s in (".arena", ".bss", ".stack")
                                                    ) + sections.get(".data", (0, 0))[1])


def test_project_has_the_sdk_build_files(built):
    project, _ = built["tflm/hello_world_float"]
    manifest = json.loads((project / "app_manifest.json").read_text())
    assert manifest["ApplicationType"] == "RealTimeCapable" and manifest["EntryPoint"] == "/bin/app"
    assert manifest["Name"] == "hello_world_float" and manifest["SchemaVersion"] == 1
    assert str(uuid.UUID(manifest["ComponentId"])) == load_board(BOARD).flash["component_id"]
    cmake = (project / "CMakeLists.txt").read_text()
    assert "project(hello_world_float C)" in cmake
    assert re.search(r"add_executable\(\$\{PROJECT_NAME\} startup\.c main\.c platform/mt3620_m4\.c ", cmake)
    assert "azsphere_target_add_image_package(${PROJECT_NAME})" in cmake
    assert "MC_UART_BASE=0x21040000u" in cmake
    assert "ENTRY(ExceptionVectorTable)" in (project / "linker.ld").read_text()
    assert not (project / "build" / "sdk").exists()  # no SDK here: make's ELF is the result


def test_sdk_build_runs_cmake_with_the_rtcore_toolchain(built, tmp_path, monkeypatch):
    """A stand-in SDK folder and cmake record the commands; the image package is the build's output."""
    project, _ = built["tflm/hello_world_float"]
    project = project.resolve()
    sdk = tmp_path / "sdk"
    (sdk / AZURE_SPHERE_RT_TOOLCHAIN).parent.mkdir(parents=True)
    (sdk / AZURE_SPHERE_RT_TOOLCHAIN).write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "cmake.log"
    fake_cmake = (f'echo "$@" >> {log}\n[ "$1" = --build ] && mkdir -p "$2" && '
                  'touch "$2/hello_world_float.imagepackage"\nexit 0\n')
    for tool, body in (("cmake", fake_cmake), ("ninja", "exit 0\n")):
        (bin_dir / tool).write_text("#!/bin/sh\n" + body)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AzureSphereDefaultSDKDir", str(sdk))
    build_project(project)
    out = project / "build" / "sdk"
    commands = [line.split() for line in log.read_text().splitlines()]
    assert commands == [c[1:] for c in azure_sphere_cmake_commands(project, sdk)]
    assert commands[0][:6] == ["-G", "Ninja", "-S", str(project), "-B", str(out)]
    assert f"-DCMAKE_TOOLCHAIN_FILE={sdk}/CMakeFiles/AzureSphereRTCoreToolchain.cmake" in commands[0]
    assert commands[1] == ["--build", str(out)]
    assert (out / "hello_world_float.imagepackage").is_file()


def test_run_without_a_port_says_the_board_is_not_emulated(built):
    project, _ = built["tflm/hello_world_float"]
    run = subprocess.run([sys.executable, "-m", "microc", "run", str(project)], capture_output=True,
                         text=True)
    assert run.returncode != 0
    assert run.stderr == ("microc: error: azure-sphere-mt3620 is not emulated here: flash it (microc flash) "
                          "and run with --port PORT (e.g. --port /dev/ttyACM0)\n")


EMULATOR = Path(__file__).with_name("mt3620_emulator.py")


def test_self_test_passes_on_the_emulated_core(built):
    """Float kernels in FPU instructions (Unicorn does not check CPACR, so not the FPU enable itself),
    .bss cleared over garbage RAM, the UART's output."""
    pytest.importorskip("unicorn")
    _, res = built["tflm/hello_world_float"]
    run = subprocess.run([sys.executable, str(EMULATOR), res.artifact], capture_output=True, text=True,
                         timeout=300)
    assert run.stdout == ("microc self-test: hello_world_float\nsample 0: ok\nsample 1: ok\nsample 2: ok\n"
                          "3/3 PASS\n"), run.stderr
    assert run.returncode == 0


def test_runner_protocol_verifies_over_a_pty_on_the_emulated_core(built):
    """microc run --port against the emulated core's UART on a pseudo-terminal: the serial-port path a
    real board takes; EXIT ends the firmware with mc_exit(0)."""
    pytest.importorskip("unicorn")
    project, res = built["tflm/hello_world_int8"]
    emulator = subprocess.Popen([sys.executable, str(EMULATOR), res.artifact, "--pty"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = emulator.stdout.readline().strip()
        report = run_project(project, samples=3, seed=0, verify=True, port=port, timeout=60)
        assert report.match and report.comparison is not None
        assert len(report.samples) == 5  # 3 random, all -128, all 127
        assert emulator.wait(timeout=60) == 0, emulator.stderr.read()
    finally:
        emulator.kill()
        emulator.wait()
