"""Board projects: the fit check, rendering (self-contained, plain make), the build step and its
errors, and the self-test firmware."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from shared_models import shared_model
from microc.boards import Region, load_board
from microc.build import BuildError, build_project, read_build_result
from microc.codegen.generate import generate
from microc.errors import DoesNotFit, MicrocError
from microc.frontends import load_model
from microc.pipeline import compile_model
from microc.project import check_fits
from microc.runner.session import run_project
from microc.runner.selftest import run_selftest_project

AD01 = "mlperf_tiny/ad01_int8"  # 10 layers, arena 768 B, weights 297,632 B (portable)
HELLO = "tflm/hello_world_int8"


def _small_board(ram: int, flash: int):
    b = load_board("mps2-an386")
    return dataclasses.replace(b, memory={"flash": Region(0, flash), "ram": Region(0x20000000, ram)})


@pytest.fixture(scope="module")
def ad01():
    return generate(load_model(shared_model(AD01)), "ad01")


def test_fit_check_names_ram_needed_and_available(ad01):
    assert ad01.metadata["arena_bytes"] == 768
    with pytest.raises(DoesNotFit) as e:
        check_fits(ad01, _small_board(ram=32 * 1024, flash=4 << 20))
    assert str(e.value) == ("model needs 35,584 bytes of RAM (runtime data 2,048 + arena 768 + stack 32,768), "
                            "mps2-an386 has 32,768 in 'ram': exceeds by 2,816 bytes")


def test_fit_check_names_flash_needed_and_available(ad01):
    with pytest.raises(DoesNotFit) as e:
        check_fits(ad01, _small_board(ram=4 << 20, flash=256 * 1024))
    assert str(e.value) == ("model needs 311,200 bytes of flash (code estimate 13,568 + weights 297,632), "
                            "mps2-an386 has 262,144 in 'flash': exceeds by 49,056 bytes")


def test_fit_check_passes_real_boards_and_the_host(ad01):
    for name in ("host", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"):
        check_fits(ad01, load_board(name))


def test_compile_refuses_a_board_too_small_and_leaves_nothing(tmp_path, monkeypatch):
    import microc.boards
    monkeypatch.setattr(microc.boards, "load_board", lambda name: _small_board(ram=4 << 20, flash=64 * 1024))
    out = tmp_path / "out"
    with pytest.raises(DoesNotFit, match=r"bytes of flash .* exceeds by"):
        compile_model(shared_model(AD01), "mps2-an386", out)
    assert list(tmp_path.iterdir()) == []


def test_host_project_is_self_contained_and_builds_with_plain_make(tmp_path):
    project = tmp_path / "hw"
    compile_model(shared_model(HELLO), "host", project)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(project, moved)  # nothing points back into the microc checkout
    for rel in ("Makefile", "main.c", "model/hello_world_int8.c", "runtime/include/mc_runner.h",
                "runtime/src/mc_runner.c", "platform/host.c"):
        assert (moved / rel).is_file(), rel
    assert "microc" not in (moved / "Makefile").read_text().replace("microc for", "")
    # Only the sources it calls: FULLY_CONNECTED's kernel and the runner, no convolution.
    sources = {p.name for p in (moved / "runtime" / "src").iterdir()}
    assert {"mc_fully_connected.c", "mc_runner.c"} <= sources and "mc_conv2d.c" not in sources
    subprocess.run(["make", "-s"], cwd=moved, env={"PATH": "/usr/bin:/bin"}, check=True, capture_output=True)
    assert (moved / "build" / "hello_world_int8").is_file()


def test_a_model_named_like_a_source_folder_builds_on_host(tmp_path):
    """build/model (the executable) once clashed with build/model/ (the model's objects)."""
    src = tmp_path / "model.tflite"
    shutil.copyfile(shared_model(HELLO), src)
    project = tmp_path / "p"
    compile_model(src, "host", project)
    result = build_project(project)
    assert result.artifact == str(project / "build" / "model")
    assert run_project(project, samples=2, verify=True).match is True


def test_cortex_m_project_renders_the_board_memory_map(tmp_path):
    _needs("arm-none-eabi-gcc")
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "mps3-an547", project)
    ld = (project / "link.ld").read_text()
    assert "ITCM (rwx) : ORIGIN = 0x00000000, LENGTH = 0x00080000" in ld
    assert "DTCM (rwx) : ORIGIN = 0x20000000, LENGTH = 0x00080000" in ld
    assert "0xE000ED88" in (project / "startup.c").read_text()  # FPU and MVE enabled: the M55 has both
    assert "-mcpu=cortex-m55" in (project / "Makefile").read_text()
    res = build_project(project)
    sections = _sections(res.artifact)
    assert sections[".text"][1] < 0x80000 and 0x01000000 <= sections[".rodata"][1] < 0x01200000
    assert 0x20000000 <= sections[".arena"][1] < 0x20080000


def test_m3_board_is_soft_float_without_fpu_enable(tmp_path):
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "mps2-an385", project)
    assert "0xE000ED88" not in (project / "startup.c").read_text()
    assert "-mfloat-abi=soft" in (project / "Makefile").read_text()


def test_build_reports_flash_and_ram_from_the_elf(tmp_path):
    _needs("arm-none-eabi-gcc")
    project = tmp_path / "p"
    compile_model(shared_model(AD01), "mps2-an386", project)
    res = build_project(project)
    s = {k: v[0] for k, v in _sections(res.artifact).items()}
    assert res.flash_bytes == s[".text"] + s[".rodata"] + s.get(".data", 0) + s.get(".ARM.exidx", 0)
    assert res.ram_bytes == s.get(".data", 0) + s[".arena"] + s[".bss"] + s[".stack"]
    assert res.flash_bytes > 284_256 and s[".arena"] >= 768 and s[".stack"] == 0x8000
    assert read_build_result(project)["flash_bytes"] == res.flash_bytes


def test_read_build_result_before_build_says_to_build(tmp_path):
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "host", project)
    with pytest.raises(MicrocError, match="not built yet: run microc build"):
        read_build_result(project)


def test_compiler_error_is_one_line_with_the_first_error(tmp_path):
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "host", project)
    (project / "model" / "broken.c").write_text("int broken(void) { return undeclared_thing; }\n")
    with pytest.raises(BuildError) as e:
        build_project(project)
    msg = str(e.value)
    assert "\n" not in msg and "model/broken.c" in msg and "undeclared_thing" in msg and "error" in msg


def test_missing_toolchain_names_the_debian_package(tmp_path, monkeypatch):
    import microc.build
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "mps2-an386", project)
    real_which = shutil.which
    monkeypatch.setattr(microc.build.shutil, "which",
                        lambda tool: None if tool.startswith("arm-none-eabi") else real_which(tool))
    with pytest.raises(BuildError, match="arm-none-eabi-gcc not found: install the Debian package "
                                         "gcc-arm-none-eabi"):
        build_project(project)


@pytest.mark.parametrize("model,board", [(HELLO, "host"), ("tflm/hello_world_float", "host"),
                                         (HELLO, "mps2-an386")])
def test_selftest_firmware_passes(model, board, tmp_path):
    if board != "host":
        _needs("arm-none-eabi-gcc")
        _needs("qemu-system-arm")
    project = tmp_path / "p"
    compile_model(shared_model(model), board, project, selftest=3)
    build_project(project)
    res = run_selftest_project(project, timeout=30)
    assert res.passed and res.exit_status == 0
    lines = res.output.splitlines()
    # a board whose link script bounds the stack also prints its high-water mark (mc_stack.h)
    stack = [f"stack {res.stack_bytes} bytes"] if board != "host" else []
    assert lines[-4 - len(stack):] == ["sample 0: ok", "sample 1: ok", "sample 2: ok", *stack, "3/3 PASS"]
    assert (res.stack_bytes or 0) > (0 if board != "host" else -1)


def test_selftest_firmware_fails_on_a_wrong_expected_output(tmp_path):
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "host", project, selftest=2)
    data = project / "model" / "selftest_data.c"
    text = data.read_text()
    # The first expected output of sample 1: one int8 value, changed by one.
    m = re.search(r"(mc_selftest_out1_0\[1\] MC_WEIGHT_ATTR = \{\s*)(-?\d+)", text)
    data.write_text(text[:m.start(2)] + str(int(m.group(2)) ^ 1) + text[m.end(2):])
    build_project(project)
    res = run_selftest_project(project, timeout=30)
    assert not res.passed and res.exit_status == 1
    assert res.output.splitlines()[-3:] == ["sample 0: ok", "sample 1: MISMATCH", "1/2 FAIL"]


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def _sections(elf) -> dict[str, tuple[int, int]]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    rows = [l.split() for l in out.splitlines()]
    return {r[0]: (int(r[1]), int(r[2])) for r in rows if len(r) == 3 and r[1].isdigit()}


def test_selftest_through_the_cli(tmp_path):
    import json
    import sys
    project = tmp_path / "p"

    def microc(*args):
        return subprocess.run([sys.executable, "-m", "microc", *args], capture_output=True, text=True)

    assert microc("compile", str(shared_model(HELLO)), "--board", "host", "-o", str(project),
                  "--selftest", "2").returncode == 0
    assert microc("build", str(project)).returncode == 0
    run = microc("run", str(project), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"selftest": True, "passed": True, "exit_status": 0, "stack_bytes": None,
                                      "counter": "timer", "counter_note": "", "instructions": None,
                                      "cycles": None, "per_sample": [],
                                      "output": "microc self-test: hello_world_int8\nsample 0: ok\n"
                                                "sample 1: ok\n2/2 PASS\n"}
