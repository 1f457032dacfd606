"""Arduino boards (arduino-mega, arduino-uno): the sketch + library layout, builds with Debian's
arduino-builder and self-tests under simavr; the AVR memory rules (constants in flash, RAM refused)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_models import shared_model
from tflite_builder import ModelBuilder, quantize_bias, quantize_weights_per_channel
from microc import ROOT
from microc.build import build_project
from microc.boards import load_board
from microc.build.arduino import ArduinoBuildError
from microc.errors import DeviceError, DoesNotFit
from microc.pipeline import compile_model
from microc.runner.selftest import run_selftest_project
from microc.runner.simavr import uart_text

HELLO = "tflm/hello_world_int8"
LIB = "libraries/microc_hello_world_int8"


def _needs_avr_tools() -> None:
    for tool in ("arduino-builder", "avr-gcc", "simavr"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    if not Path("/usr/share/arduino/hardware/arduino/avr").is_dir():
        pytest.skip("the Arduino AVR core is not installed (Debian arduino-core-avr; scripts/setup.sh)")


def _digits_calibration(folder: Path) -> Path:
    """200 training digits of examples/digits as a calibration file."""
    sys.path.insert(0, str(ROOT / "examples" / "digits"))
    try:
        from data import calibration_set
    finally:
        sys.path.pop(0)
    np.save(folder / "cal.npy", calibration_set(200))
    return folder / "cal.npy"


def _selftest(model, board: str, project: Path, n: int, **kw):
    compile_model(model, board, project, selftest=n, **kw)
    build_project(project)
    return run_selftest_project(project, timeout=120)


def test_project_is_a_sketch_and_an_arduino_library(tmp_path):
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "arduino-mega", project, selftest=2)
    ino = (project / "hello_world_int8" / "hello_world_int8.ino").read_text()
    assert "#include <hello_world_int8.h>" in ino and "mc_main();" in ino
    props = dict(l.split("=", 1) for l in (project / LIB / "library.properties").read_text().splitlines())
    assert props["name"] == "microc_hello_world_int8" and props["architectures"] == "avr"
    assert props["includes"] == "hello_world_int8.h"
    src = {p.name for p in (project / LIB / "src").iterdir()}
    assert {"hello_world_int8.c", "hello_world_int8.h", "hello_world_int8_weights.c", "selftest_data.c",
            "main.c", "arduino.cpp", "mc_board.h", "mc_common.h", "mc_fully_connected.c"} <= src
    assert not any((project / d).exists() for d in ("runtime", "platform", "main.c"))
    assert "int mc_main(void)" in (project / LIB / "src" / "main.c").read_text()
    assert "#define MC_BAUDRATE 115200UL" in (project / LIB / "src" / "mc_board.h").read_text()
    weights = (project / LIB / "src" / "hello_world_int8_weights.c").read_text()
    # Every array of the model is FULLY_CONNECTED's: weights, bias, requantization table, all in flash.
    assert weights.count("MC_FLASH_ATTR") == 9 and "MC_WEIGHT_ATTR" not in weights


def test_simavr_output_is_read_without_colours_and_newline_dots():
    raw = "Loaded 4188 .text at address 0x0\nLoaded 238 .data\n\x1b[32mmicroc self-test: m.\n\x1b[0m" \
          "\x1b[32m1/1 PASS.\n\x1b[0m"
    assert uart_text(raw) == "microc self-test: m\n1/1 PASS\n"


def test_hello_world_passes_on_the_simulated_mega_with_weights_in_flash(tmp_path):
    _needs_avr_tools()
    res = _selftest(shared_model(HELLO), "arduino-mega", tmp_path / "p", 5)
    assert res.passed and res.exit_status == 0
    assert res.output.splitlines() == ["microc self-test: hello_world_int8"] + \
        [f"sample {i}: ok" for i in range(5)] + ["5/5 PASS"]
    assert len(_constants_in_flash(tmp_path / "p", "hello_world_int8")) == 9


def _constants_in_flash(project: Path, name: str, limit: int = 0x10000) -> dict[str, int]:
    """The model's constant arrays in the ELF, by name, with their addresses; fails unless all lie in
    flash below `limit` (AVR data addresses start at 0x800000 in the ELF)."""
    elf = project / "build" / "arduino" / f"{name}.ino.elf"
    nm = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    placed = {f[2]: int(f[0], 16) for f in (l.split() for l in nm.splitlines()) if len(f) == 3}
    arrays = [n for n in placed if re.fullmatch(rf"{name}_l\d+_(w|bias|bias_raw|mult|shift|rq)", n)]
    assert all(placed[n] < limit for n in arrays), {n: hex(placed[n]) for n in arrays}
    return {n: placed[n] for n in arrays}


def test_hello_world_passes_on_the_simulated_uno(tmp_path):
    _needs_avr_tools()
    res = _selftest(shared_model(HELLO), "arduino-uno", tmp_path / "p", 5)
    assert res.passed and res.output.splitlines()[-1] == "5/5 PASS"


def test_digits_int8_passes_on_the_simulated_mega(tmp_path):
    _needs_avr_tools()
    res = _selftest(ROOT / "examples" / "digits" / "digits_cnn.onnx", "arduino-mega", tmp_path / "p", 5,
                    name="digits", quantize="int8", calibration=_digits_calibration(tmp_path))
    assert res.passed and res.output.splitlines()[-1] == "5/5 PASS"
    # Two CONV_2D (weights, bias, bias_raw, multiplier, shift) and a FULLY_CONNECTED (weights, bias,
    # requantization table).
    assert len(_constants_in_flash(tmp_path / "p", "digits")) == 13


def test_a_wrong_expected_output_fails_under_simavr(tmp_path):
    _needs_avr_tools()
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "arduino-uno", project, selftest=2)
    data = project / LIB / "src" / "selftest_data.c"
    text = data.read_text()
    m = re.search(r"(mc_selftest_out1_0\[1\] MC_WEIGHT_ATTR = \{\s*)(-?\d+)", text)
    data.write_text(text[:m.start(2)] + str(int(m.group(2)) ^ 1) + text[m.end(2):])
    build_project(project)
    res = run_selftest_project(project, timeout=120)
    assert not res.passed
    assert res.output.splitlines()[-3:] == ["sample 0: ok", "sample 1: MISMATCH", "1/2 FAIL"]


def test_runner_firmware_too_big_for_uno_ram_is_refused(tmp_path):
    _needs_avr_tools()
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "arduino-uno", project)
    with pytest.raises(ArduinoBuildError, match=r"^firmware needs [\d,]+ bytes of RAM \(static data [\d,]+ "
                                                r"\+ stack 768\), arduino-uno has 2,048: exceeds by"):
        build_project(project)


@pytest.mark.parametrize("model", [HELLO, "digits"])
def test_deploy_verifies_through_the_runner_protocol_on_the_simulated_mega(model, tmp_path):
    """The libsimavr harness carries the protocol both ways: every output bit-exact with TFLM."""
    _needs_avr_tools()
    path = shared_model(HELLO) if model == HELLO else ROOT / "examples" / "digits" / "digits_cnn.onnx"
    extra = [] if model == HELLO else ["--quantize", "int8", "--calibration", str(_digits_calibration(tmp_path))]
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "arduino-mega",
                          "-o", str(tmp_path / "p"), "--verify", "--samples", "3", "--json", *extra],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True and report["max_abs_diff"] == 0 and report["samples"] == 5


def test_simavr_harness_missing_library_is_one_line(tmp_path, monkeypatch):
    import microc.runner.simavr as simavr
    monkeypatch.setattr(simavr, "build_harness", lambda: (None, "libsimavr's headers are missing: install "
                                                                 "the Debian package libsimavr-dev"))
    elf = tmp_path / "f.elf"
    elf.write_bytes(b"\x7fELF")
    board = load_board("arduino-mega")
    with pytest.raises(DeviceError, match="^arduino-mega: the simulator harness is unavailable: .*libsimavr-dev$"):
        simavr.simavr_device(board, elf, 5.0)


def test_missing_arduino_builder_names_the_package(tmp_path, monkeypatch):
    import microc.build.arduino
    project = tmp_path / "p"
    compile_model(shared_model(HELLO), "arduino-mega", project, selftest=1)
    real_which = shutil.which
    monkeypatch.setattr(microc.build.arduino.shutil, "which",
                        lambda t: None if t == "arduino-builder" else real_which(t))
    with pytest.raises(ArduinoBuildError, match="^arduino-builder not found: install the Debian package "
                                                "arduino-builder"):
        build_project(project)


def _fc_chain(path: Path, widths: tuple[int, ...]) -> Path:
    """An int8 model of FULLY_CONNECTED layers widths[0] -> widths[1] -> ... (random weights)."""
    rng = np.random.default_rng(1)
    b = ModelBuilder()
    prev = x = b.tensor("x", (1, widths[0]), "int8", scale=0.04, zero_point=-128)
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        wq, ws = quantize_weights_per_channel(rng.standard_normal((n_out, n_in)).astype(np.float32), 0)
        bq, bs = quantize_bias(rng.standard_normal(n_out), 0.04, ws)
        w = b.const(f"w{i}", wq, scale=ws, zero_point=0, axis=0)
        bias = b.const(f"b{i}", bq, scale=bs, zero_point=0, axis=0)
        y = b.tensor(f"y{i}", (1, n_out), "int8", scale=0.04, zero_point=-7)
        b.op("FULLY_CONNECTED", [prev, w, bias], [y])
        prev = y
    b.inputs([x])
    b.outputs([prev])
    path.write_bytes(b.build())
    return path


def test_an_array_over_32767_bytes_is_refused_before_anything_is_written(tmp_path):
    model = _fc_chain(tmp_path / "fc.tflite", (200, 200))
    with pytest.raises(DoesNotFit, match=r"^constant array fc_l0_w holds 40,000 bytes, arduino-mega allows "
                                         r"at most 32,767 in one array \(microc does not split arrays\)$"):
        compile_model(model, "arduino-mega", tmp_path / "p", name="fc")
    assert not (tmp_path / "p").exists()


def test_150_kb_of_weights_past_64_kb_of_flash_pass_on_the_simulated_mega(tmp_path):
    """__memx pointers reach the whole of the Mega's flash (constants from 0xE4 to past 0x20000)."""
    _needs_avr_tools()
    model = _fc_chain(tmp_path / "fc.tflite", (180, 180, 180, 180, 180))  # 4 x 34,560 bytes
    res = _selftest(model, "arduino-mega", tmp_path / "p", 2, name="fc")
    assert res.passed and res.output.splitlines()[-1] == "2/2 PASS"
    placed = _constants_in_flash(tmp_path / "p", "fc", limit=0x3E000)
    assert len(placed) == 12 and max(placed.values()) > 0x18000


def test_a_ram_overflow_at_link_counts_every_section_past_the_end():
    """avr-ld names each section past the end of RAM (its words for the benchmark's forest as node arrays
    on the Mega): the static data is up to the end of .bss (0x3010 - 0x200), not of .data alone."""
    from microc.boards import load_board
    from microc.build.arduino import _refuse_ram_overflow
    elf = "/tmp/p/build/arduino/random_forest_breast_cancer.ino.elf"
    output = (f"/usr/lib/gcc/avr/5.4.0/../../../avr/bin/ld: address 0x802a96 of {elf} section `.data' is not within "
              f"region `data'\n/usr/lib/gcc/avr/5.4.0/../../../avr/bin/ld: address 0x803010 of {elf} section `.bss' "
              f"is not within region `data'\ncollect2: error: ld returned 1 exit status\n")
    with pytest.raises(ArduinoBuildError, match=r"^firmware needs 12,816 bytes of RAM \(static data 11,792 \+ stack "
                                                r"1,024\), arduino-mega has 8,192: exceeds by 4,624 bytes$"):
        _refuse_ram_overflow(output, load_board("arduino-mega"))
    assert _refuse_ram_overflow("ld: cannot find -lm\n", load_board("arduino-mega")) == ""
