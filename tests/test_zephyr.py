"""Zephyr boards: projects render for every board, prj.conf names only Kconfig symbols checked in
Zephyr's sources, the model and runtime compile with arm-none-eabi-gcc under each board's CPU flags, the
platform file compiles against Zephyr's API signatures (stub headers) and behaves, and `microc build`
runs west with the exact arguments or says what is missing. Zephyr itself is not installed here."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from shared_models import shared_model
from microc import RUNTIME_C
from microc.boards import list_boards, load_board
from microc.build import build_project
from microc.errors import DoesNotFit, MicrocError
from microc.pipeline import compile_model

ZEPHYR_BOARDS = {  # microc board -> Zephyr board name (boards/<vendor>/<board>/*.yaml `identifier`)
    "zephyr-qemu_cortex_m3": "qemu_cortex_m3",
    "zephyr-mps2_an385": "mps2/an385",
    "zephyr-mps3_an547": "mps3/corstone300/an547",
    "zephyr-nucleo_l4r5zi": "nucleo_l4r5zi",
    "zephyr-stm32f746g_disco": "stm32f746g_disco",
    "zephyr-nrf52840dk": "nrf52840dk/nrf52840",
    "zephyr-nrf5340dk": "nrf5340dk/nrf5340/cpuapp",
}
EMULATED = {"zephyr-qemu_cortex_m3", "zephyr-mps2_an385", "zephyr-mps3_an547"}
# The architecture arm-none-eabi-gcc records (readelf -A, Tag_CPU_arch) for each board's -mcpu.
CPU_ARCH = {"cortex-m3": "v7", "cortex-m4": "v7E-M", "cortex-m7": "v7E-M", "cortex-m33": "v8-M.mainline",
            "cortex-m55": "v8.1-M.mainline"}

# Every Kconfig symbol a rendered prj.conf may name, and where it was checked in zephyrproject-rtos/zephyr.
KCONFIG_CHECKED = {
    "SERIAL": "drivers/serial/Kconfig: menuconfig SERIAL",
    "CONSOLE": "drivers/console/Kconfig: menuconfig CONSOLE",
    "UART_CONSOLE": "drivers/console/Kconfig: config UART_CONSOLE (depends on SERIAL && SERIAL_HAS_DRIVER)",
    "BOOT_BANNER": "kernel/Kconfig: config BOOT_BANNER (bool, default y, depends on CONSOLE_HAS_DRIVER; "
                   "docs.zephyrproject.org Kconfig reference)",
    "MAIN_STACK_SIZE": "kernel/Kconfig: config MAIN_STACK_SIZE (int; docs.zephyrproject.org Kconfig reference)",
    "FPU": "config FPU (arch/Kconfig); cmake/gcc-m-fpu.cmake sets -mfpu only if(CONFIG_FPU)",
    "REBOOT": "config REBOOT, 'Reboot functionality' (docs.zephyrproject.org Kconfig reference); it enables "
              "sys_reboot() of include/zephyr/sys/reboot.h",
}


def test_every_zephyr_board_file_names_its_zephyr_board():
    boards = {b.name: b for b in list_boards() if b.family == "zephyr"}
    assert set(boards) == set(ZEPHYR_BOARDS)
    for name, b in boards.items():
        assert b.zephyr["board"] == ZEPHYR_BOARDS[name]
        assert b.platform == ("zephyr.c",)
        assert b.flash["tool"] == ("none" if name in EMULATED else "west")


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """hello_world_int8 rendered for every Zephyr board."""
    model = shared_model("tflm/hello_world_int8")
    out = {}
    for name in ZEPHYR_BOARDS:
        out[name] = tmp_path_factory.mktemp(name.replace("/", "_")) / "p"
        compile_model(model, name, out[name])
    return out


@pytest.mark.parametrize("name", sorted(ZEPHYR_BOARDS))
def test_project_renders_a_zephyr_application(projects, name):
    p = projects[name]
    cmake = (p / "CMakeLists.txt").read_text()
    assert "find_package(Zephyr REQUIRED HINTS $ENV{ZEPHYR_BASE})" in cmake
    assert f"west build -b {ZEPHYR_BOARDS[name]} " in cmake
    assert "target_sources(app PRIVATE main.c platform/zephyr.c" in cmake
    assert (p / "platform" / "zephyr.c").read_bytes() == (RUNTIME_C / "platform" / "zephyr.c").read_bytes()
    assert "int main(void)" in (p / "main.c").read_text()
    assert (p / "model" / "hello_world_int8.c").is_file()
    assert {"mc_runner.c", "mc_fully_connected.c"} <= {f.name for f in (p / "runtime" / "src").iterdir()}
    assert not (p / "Makefile").exists() and not (p / "startup.c").exists()


@pytest.mark.parametrize("name", sorted(ZEPHYR_BOARDS))
def test_prj_conf_names_only_checked_kconfig_symbols(projects, name):
    board = load_board(name)
    settings = dict(line.split("=", 1) for line in (projects[name] / "prj.conf").read_text().splitlines()
                    if line and not line.startswith("#"))
    symbols = {k.removeprefix("CONFIG_") for k in settings}
    assert all(k.startswith("CONFIG_") for k in settings)
    assert symbols <= set(KCONFIG_CHECKED), symbols - set(KCONFIG_CHECKED)
    assert settings["CONFIG_SERIAL"] == "y"
    assert [settings[f"CONFIG_{k}"] for k in ("CONSOLE", "UART_CONSOLE", "BOOT_BANNER")] == ["n"] * 3
    assert settings["CONFIG_MAIN_STACK_SIZE"] == str(board.stack_bytes)
    assert ("CONFIG_FPU" in settings) == (board.features["fpu"] != "none")
    assert ("CONFIG_REBOOT" in settings) == (name not in EMULATED)


def test_a_self_test_halts_instead_of_rebooting(tmp_path):
    """A real board's self-test leaves CONFIG_REBOOT out: mc_exit then idles instead of starting over."""
    compile_model(shared_model("tflm/hello_world_int8"), "zephyr-nrf52840dk", tmp_path / "p", selftest=2)
    conf = (tmp_path / "p" / "prj.conf").read_text()
    assert "CONFIG_SERIAL=y" in conf and "CONFIG_REBOOT" not in conf
    assert (tmp_path / "p" / "model" / "selftest_data.c").is_file()


def test_fit_check_uses_the_zephyr_board_memory(tmp_path):
    """vww_96_int8's weights (262,880 bytes as laid out for the M3) plus code do not fit qemu_cortex_m3's
    256 KiB of flash."""
    with pytest.raises(DoesNotFit, match=r"weights 262,880\), zephyr-qemu_cortex_m3 has 262,144 in 'flash'"):
        compile_model(shared_model("mlperf_tiny/vww_96_int8"), "zephyr-qemu_cortex_m3", tmp_path / "p")
    assert not (tmp_path / "p").exists()


def _cpu_flags(board) -> list[str]:
    return list(board.toolchain.cflags)


@pytest.mark.parametrize("name", sorted(ZEPHYR_BOARDS))
def test_model_and_runtime_compile_under_the_board_cpu_flags(projects, name, tmp_path):
    """Every C file of the project but the platform file (which needs Zephyr's headers), -Werror, and
    each object carries the board's CPU and float ABI."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
    p, board = projects[name], load_board(name)
    sources = [p / "main.c", *sorted((p / "model").glob("*.c")), *sorted((p / "runtime" / "src").glob("*.c"))]
    cpu = next(f.split("=", 1)[1] for f in board.toolchain.cflags if f.startswith("-mcpu="))
    hard = "-mfloat-abi=hard" in board.toolchain.cflags
    for src in sources:
        obj = tmp_path / (src.stem + ".o")
        proc = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                               *_cpu_flags(board), "-DMC_PROFILE", f"-I{p / 'model'}",
                               f"-I{p / 'runtime' / 'include'}", "-c", str(src), "-o", str(obj)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(obj)], capture_output=True,
                               text=True).stdout
        assert re.search(rf"Tag_CPU_arch: {re.escape(CPU_ARCH[cpu])}\n", attrs), attrs
        assert ("Tag_ABI_VFP_args: VFP registers" in attrs) == hard


# Zephyr's API as platform/zephyr.c uses it, with the signatures of Zephyr's headers
# (include/zephyr/drivers/uart.h, kernel.h, device.h, sys/reboot.h), for a host build that drives it.
STUB_HEADERS = {
    "zephyr/kernel.h": """#include <stdint.h>
#include <stdbool.h>
uint32_t k_cycle_get_32(void);
uint64_t k_cycle_get_64(void);
void k_yield(void);
void k_sched_lock(void);
void k_cpu_idle(void);
void stub_panic(void);
#define k_panic() stub_panic()
""",
    "zephyr/device.h": """#include <stdbool.h>
struct device { const char *name; };
extern const struct device stub_console;
bool device_is_ready(const struct device *dev);
#define DEVICE_DT_GET(node_id) (&stub_console)
""",
    "zephyr/devicetree.h": "#define DT_CHOSEN(prop) prop\n",
    "zephyr/drivers/uart.h": """int uart_poll_in(const struct device *dev, unsigned char *p_char);
void uart_poll_out(const struct device *dev, unsigned char out_char);
""",
    "zephyr/sys/reboot.h": """enum sys_reboot_mode { SYS_REBOOT_COLD, SYS_REBOOT_WARM };
void sys_reboot(enum sys_reboot_mode mode);
""",
}

# Scripted hardware: k_cycle_get_32 wraps once; the UART has no byte for two polls; reboot and idle end
# the process with distinct statuses.
DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <zephyr/kernel.h>
#include <zephyr/device.h>
#include <zephyr/sys/reboot.h>
#include "mc_platform.h"
const struct device stub_console = {"uart0"};
static const uint32_t cycles[] = {10u, 0xFFFFFFF0u, 5u, 7u};
static unsigned n_cycles, polls, yields;
uint32_t k_cycle_get_32(void) { return cycles[n_cycles++]; }
uint64_t k_cycle_get_64(void) { return 0; }
void k_yield(void) { yields++; }
void k_sched_lock(void) {}
void k_cpu_idle(void) { exit(43); }
void stub_panic(void) { exit(44); }
bool device_is_ready(const struct device *dev) { return dev == &stub_console; }
int uart_poll_in(const struct device *dev, unsigned char *c) {
  (void)dev;
  if (++polls < 3) return -1;
  *c = 'A';
  return 0;
}
void uart_poll_out(const struct device *dev, unsigned char c) { (void)dev; printf("out %c\n", c); }
void sys_reboot(enum sys_reboot_mode mode) { exit(mode == SYS_REBOOT_COLD ? 42 : 41); }
int main(void) {
  int i;
  uint8_t c;
  mc_platform_init();
  for (i = 0; i < 4; i++) printf("ticks %llu\n", (unsigned long long)mc_ticks());
  c = mc_uart_getc();
  printf("got %c after %u yields\n", c, yields);
  mc_uart_putc('B');
  fflush(stdout);
  mc_exit(0);
  return 0;
}
"""


def _build_platform_with_stubs(tmp_path: Path, defines: list[str]) -> subprocess.CompletedProcess:
    for rel, text in STUB_HEADERS.items():
        (tmp_path / "inc" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "inc" / rel).write_text(text)
    (tmp_path / "driver.c").write_text(DRIVER)
    exe = tmp_path / "platform_test"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *defines, f"-I{tmp_path / 'inc'}",
                    f"-I{RUNTIME_C / 'include'}", str(RUNTIME_C / "platform" / "zephyr.c"),
                    str(tmp_path / "driver.c"), "-o", str(exe)], check=True, capture_output=True, text=True)
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=10)


def test_platform_extends_the_32_bit_cycle_counter_and_polls_the_console_uart(tmp_path):
    run = _build_platform_with_stubs(tmp_path, [])
    assert run.stdout.splitlines() == ["ticks 10", f"ticks {0xFFFFFFF0}", f"ticks {2**32 + 5}",
                                       f"ticks {2**32 + 7}", "got A after 2 yields", "out B"]
    assert run.returncode == 43  # no CONFIG_REBOOT: mc_exit idles for ever


@pytest.mark.parametrize("defines, status", [(["-DCONFIG_REBOOT=1"], 42),
                                              (["-DCONFIG_REBOOT=1", "-DCONFIG_QEMU_TARGET=1"], 43)])
def test_exit_reboots_a_real_board_and_halts_an_emulated_one(tmp_path, defines, status):
    assert _build_platform_with_stubs(tmp_path, defines).returncode == status


def test_build_without_west_or_zephyr_base_names_both_and_the_command(projects, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no west here
    monkeypatch.delenv("ZEPHYR_BASE", raising=False)
    p = projects["zephyr-nrf52840dk"]
    with pytest.raises(MicrocError) as e:
        build_project(p)
    msg = str(e.value)
    assert "west is not on PATH and ZEPHYR_BASE is not set" in msg and "\n" not in msg
    p = p.resolve()
    assert msg.endswith(f"run: west build -p auto -b nrf52840dk/nrf52840 -d {p / 'build'} {p}")


def test_build_with_zephyr_base_set_but_no_west_names_only_west(projects, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ZEPHYR_BASE", str(tmp_path))
    with pytest.raises(MicrocError, match=r"here: west is not on PATH; in a Zephyr workspace"):
        build_project(projects["zephyr-mps2_an385"])


def test_build_runs_west_and_measures_zephyr_elf(projects, monkeypatch, tmp_path):
    """A stand-in west on PATH records its arguments and leaves an ELF with known section sizes where
    west build leaves zephyr.elf; microc reads flash (text + data) and RAM (data + bss) from it."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
    elf = tmp_path / "sized.o"
    (tmp_path / "sized.c").write_text("const char t[1000] = {1};\nchar d[100] = {1};\nchar b[300];\n")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-fno-common", "-c",
                    str(tmp_path / "sized.c"), "-o", str(elf)], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    west = bin_dir / "west"
    west.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "west.args"}\nmkdir -p "$7/zephyr"\n'
                    f'cp {elf} "$7/zephyr/zephyr.elf"\n')
    west.chmod(west.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ZEPHYR_BASE", str(tmp_path))
    p = projects["zephyr-nrf5340dk"].resolve()
    res = build_project(p)
    assert (tmp_path / "west.args").read_text().split() == [
        "build", "-p", "auto", "-b", "nrf5340dk/nrf5340/cpuapp", "-d", str(p / "build"), str(p)]
    assert res.artifact == str(p / "build" / "zephyr" / "zephyr.elf")
    assert (res.flash_bytes, res.ram_bytes) == (1000 + 100, 100 + 300)
