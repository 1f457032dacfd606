"""ARM Arduino boards (arduino-nano33ble, arduino-portenta-h7, arduino-pico): their Mbed OS cores are not
installed here, so the rendered library's C/C++ is compiled with arm-none-eabi-gcc/g++ under each board's
CPU flags (the core's, from ArduinoCore-mbed boards.txt), the platform file against a stub of the part of
the Arduino API it uses; `microc build` without arduino-cli names what to install."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared_models import shared_model
from microc.boards import load_board
from microc.build import build_project
from microc.build.arduino import ArduinoBuildError
from microc.flash import plan_flash
from microc.pipeline import compile_model

HELLO = "tflm/hello_world_int8"
NAME = "hello_world_int8"
LIB = f"libraries/microc_{NAME}"
# board → (FQBN, library architecture, Tag_CPU_arch, Tag_FP_arch) as arm-none-eabi-readelf -A prints them
BOARDS = {
    "arduino-nano33ble": ("arduino:mbed_nano:nano33ble", "mbed_nano", "v7E-M", "VFPv4-D16"),
    "arduino-portenta-h7": ("arduino:mbed_portenta:envie_m7", "mbed_portenta", "v7E-M", "FPv5/FP-D16 for ARMv8"),
    "arduino-pico": ("arduino:mbed_rp2040:pico", "mbed_rp2040", "v6S-M", None),
}
WARNINGS = ("-Wall", "-Wextra", "-Werror")

# What runtime_c/platform/arduino.cpp uses of the Arduino core, declared as the core declares it
# (ArduinoCore-API: HardwareSerial/Stream, micros() returning unsigned long).
ARDUINO_STUB = """\
#ifndef ARDUINO_H_STUB
#define ARDUINO_H_STUB
#include <stddef.h>
#include <stdint.h>
class StubSerial {
 public:
  void begin(unsigned long baud);
  int available(void);
  int read(void);
  size_t write(uint8_t c);
  void flush(void);
  operator bool();
};
extern StubSerial Serial;
unsigned long micros(void);
#endif
"""


def _needs_arm_gcc() -> None:
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-readelf"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian gcc-arm-none-eabi; scripts/setup.sh)")


@pytest.fixture(scope="module", params=sorted(BOARDS))
def project(request, tmp_path_factory) -> tuple[str, Path]:
    board = request.param
    root = tmp_path_factory.mktemp(board) / "p"
    compile_model(shared_model(HELLO), board, root, selftest=2)
    return board, root


def test_board_files_name_the_core_and_its_memory():
    nano, portenta, pico = (load_board(b) for b in ("arduino-nano33ble", "arduino-portenta-h7", "arduino-pico"))
    assert (nano.memory["flash"].size, nano.memory["ram"].size) == (983_040, 262_144)
    assert (portenta.memory["flash"].size, portenta.memory["ram"].size) == (786_432, 523_624)
    assert (pico.memory["flash"].size, pico.memory["ram"].size) == (2_097_152, 270_336)
    for b in (nano, portenta, pico):
        assert b.arduino["fqbn"] == BOARDS[b.name][0] and b.arduino["fqbn"].startswith(b.arduino["core"] + ":")


def test_project_is_a_sketch_and_a_library_for_the_mbed_core(project):
    board, root = project
    fqbn, arch = BOARDS[board][:2]
    ino = (root / NAME / f"{NAME}.ino").read_text()
    assert f"({fqbn})" in ino and f"#include <{NAME}.h>" in ino and "mc_main();" in ino
    props = dict(l.split("=", 1) for l in (root / LIB / "library.properties").read_text().splitlines())
    assert props["architectures"] == arch and props["includes"] == f"{NAME}.h"
    src = {p.name for p in (root / LIB / "src").iterdir()}
    assert {f"{NAME}.c", f"{NAME}_weights.c", "selftest_data.c", "main.c", "arduino.cpp", "mc_board.h",
            "mc_fully_connected.c"} <= src


def _compile(cc: str, flags: list[str], source: Path, out: Path, include: list[Path]) -> None:
    cmd = [cc, *flags, *WARNINGS, "-O2", *[f"-I{d}" for d in include], "-c", str(source), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"


def _readelf(option: str, obj: Path) -> str:
    return subprocess.run(["arm-none-eabi-readelf", option, str(obj)], capture_output=True, text=True).stdout


def _assert_arch(obj: Path, board: str) -> None:
    """An ARM object for the board's CPU and FPU, with the core's float ABI: the Mbed cores are built
    -mfloat-abi=softfp (or soft), so float arguments go in core registers (no Tag_ABI_VFP_args)."""
    assert "Machine:                           ARM\n" in _readelf("-h", obj)
    attrs = _readelf("-A", obj)
    cpu_arch, fp_arch = BOARDS[board][2:]
    assert f"Tag_CPU_arch: {cpu_arch}\n" in attrs and "Tag_CPU_arch_profile: Microcontroller" in attrs, attrs
    assert (f"Tag_FP_arch: {fp_arch}\n" in attrs) if fp_arch else ("Tag_FP_arch" not in attrs), attrs
    assert "Tag_ABI_VFP_args" not in attrs, attrs


def test_library_c_sources_compile_for_the_board_cpu(project, tmp_path):
    _needs_arm_gcc()
    board, root = project
    flags = list(load_board(board).toolchain.cflags)
    src = root / LIB / "src"
    sources = sorted(src.glob("*.c"))
    assert {f"{NAME}.c", f"{NAME}_weights.c", "main.c", "mc_fully_connected.c"} <= {s.name for s in sources}
    for source in sources:
        obj = tmp_path / f"{source.stem}.o"
        _compile("arm-none-eabi-gcc", flags + ["-std=c99"], source, obj, [src])
        _assert_arch(obj, board)


# Models with kernels hello_world_int8 lacks: kws_ref_model's int8 CONV_2D, DEPTHWISE_CONV_2D,
# AVERAGE_POOL_2D and SOFTMAX; hello_world_float's float kernels (soft-float on the Pico). Rendered in
# runner-protocol mode, so mc_runner.c compiles too.
MODELS = {"mlperf_tiny/kws_ref_model": "mc_conv2d.c", "tflm/hello_world_float": "mc_fully_connected.c"}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_runner_library_compiles_for_the_board_cpu(board, model, tmp_path):
    _needs_arm_gcc()
    root = tmp_path / "p"
    compile_model(shared_model(model), board, root)
    name = Path(model).name
    src = root / f"libraries/microc_{name}" / "src"
    sources = sorted(src.glob("*.c"))
    assert {f"{name}.c", f"{name}_weights.c", "main.c", "mc_runner.c", MODELS[model]} <= {s.name for s in sources}
    for source in sources:
        obj = tmp_path / f"{source.stem}.o"
        _compile("arm-none-eabi-gcc", list(load_board(board).toolchain.cflags) + ["-std=c99"], source, obj, [src])
        _assert_arch(obj, board)


def test_weights_are_plain_const_in_flash(project, tmp_path):
    """No PROGMEM or __memx on ARM: the constants are ordinary read-only data (.rodata → flash)."""
    _needs_arm_gcc()
    board, root = project
    src = root / LIB / "src"
    obj = tmp_path / "w.o"
    _compile("arm-none-eabi-gcc", list(load_board(board).toolchain.cflags) + ["-std=c99"],
             src / f"{NAME}_weights.c", obj, [src])
    syms = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True).stdout.split("\n")
    kinds = {line.split()[1] for line in syms if line.strip()}
    assert kinds == {"R"}, syms  # every array read-only, none in .data or .bss


def test_platform_file_compiles_against_the_arduino_api(project, tmp_path):
    _needs_arm_gcc()
    board, root = project
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "Arduino.h").write_text(ARDUINO_STUB)
    obj = tmp_path / "arduino.o"
    src = root / LIB / "src"
    _compile("arm-none-eabi-g++", list(load_board(board).toolchain.cflags) + ["-std=gnu++14"],
             src / "arduino.cpp", obj, [stub, src])
    _assert_arch(obj, board)
    syms = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True).stdout
    for fn in ("mc_platform_init", "mc_uart_getc", "mc_uart_putc", "mc_uart_flush", "mc_ticks", "mc_exit"):
        assert f" T {fn}\n" in syms, syms  # extern "C", unmangled, as mc_platform.h declares them


def test_build_without_arduino_cli_names_it_and_the_core(project, monkeypatch):
    board, root = project
    monkeypatch.setenv("PATH", "/nonexistent")
    core = load_board(board).arduino["core"]
    with pytest.raises(ArduinoBuildError) as e:
        build_project(root)
    msg = str(e.value)
    assert "arduino-cli not found" in msg and f"arduino-cli core install {core}" in msg and "\n" not in msg


def test_arduino_cli_without_the_core_names_the_install_command(project, tmp_path, monkeypatch):
    """arduino-cli present but the core not installed: its error, with the command that installs the core.
    The stand-in arduino-cli prints what the real one prints then (arduino-cli 1.x) and records its args."""
    board, root = project
    core = load_board(board).arduino["core"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "arduino-cli"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n"
                    f"echo \"Error during build: Platform '{core}' not found: platform not installed\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(ArduinoBuildError) as e:
        build_project(root)
    assert f"not installed (is the core installed? arduino-cli core install {core})" in str(e.value)
    build = root.resolve() / "build" / "arduino"
    assert (tmp_path / "args").read_text().split() == [
        "compile", "--fqbn", BOARDS[board][0], "--libraries", str(root.resolve() / "libraries"),
        "--build-path", str(build), str(root.resolve() / NAME)]


def test_flash_uses_arduino_cli_upload(project):
    board, root = project
    plan = plan_flash(root, load_board(board), NAME, port="/dev/ttyACM0")
    assert plan.command == ["arduino-cli", "upload", "-p", "/dev/ttyACM0", "--fqbn", BOARDS[board][0],
                        "--input-dir", str(root / "build" / "arduino"), str(root / NAME)]
