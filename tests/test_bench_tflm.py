"""scripts/bench_tflm.py: its argument and checkout checks, the TFLM firmware it writes into microc's
project, its table; and, where MICROC_TFLM_ROOT, MICROC_CMSIS_NN_ROOT and MICROC_TFLM_DEPS point at
checkouts (docs/benchmark.md says which), the real build and run on one model."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from microc import ROOT
from microc.errors import MicrocError
from shared_models import shared_model

SCRIPT = ROOT / "scripts" / "bench_tflm.py"
_spec = importlib.util.spec_from_file_location("bench_tflm", SCRIPT)
bench_tflm = sys.modules["bench_tflm"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_tflm)


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def stand_in(tmp_path: Path, leave_out: str = "") -> dict[str, Path]:
    """Empty folders laid out like the checkouts, minus `leave_out`."""
    files = {"tflm": "tensorflow/lite/micro/tools/make/Makefile", "cmsis_nn": "Include/arm_nnfunctions.h",
             "deps/flatbuffers": "include/flatbuffers/base.h", "deps/gemmlowp": "README", "deps/ruy": "README",
             "deps/kissfft": "README", "deps/cmsis": "CMSIS/Core/Include/core_cm4.h",
             "deps/cmsis/Cortex_DFP": "Device/README"}
    for folder, file in files.items():
        if folder != leave_out:
            (tmp_path / folder / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / file).write_text("")
    return {k: tmp_path / k for k in ("tflm", "cmsis_nn", "deps")}


def test_missing_checkout_is_one_line(tmp_path):
    done = run_script("--tflm-root", str(tmp_path / "nowhere"), "--cmsis-nn-root", str(tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"bench_tflm: error: TFLM checkout (--tflm-root) not found: {tmp_path}/nowhere/"
                           "tensorflow/lite/micro/tools/make/Makefile does not exist\n")


def test_argument_checks():
    missing = run_script("--cmsis-nn-root", "/tmp")
    assert missing.returncode == 2 and "--tflm-root" in missing.stderr.splitlines()[-1]
    board = run_script("--tflm-root", "/tmp", "--cmsis-nn-root", "/tmp", "--boards", "arduino-uno")
    assert board.returncode == 2 and "invalid choice: 'arduino-uno'" in board.stderr.splitlines()[-1]


@pytest.mark.parametrize("leave_out, named", [
    ("cmsis_nn", "CMSIS-NN checkout (--cmsis-nn-root) not found"),
    ("deps/ruy", "ruy (in --deps) not found"),
    ("deps/cmsis/Cortex_DFP", "Cortex_DFP (--deps/cmsis/Cortex_DFP) not found")])
def test_missing_part_is_named(tmp_path, leave_out, named):
    p = stand_in(tmp_path, leave_out)
    with pytest.raises(MicrocError, match=rf"^{re.escape(named)}"):
        bench_tflm.find_sources(str(p["tflm"]), str(p["cmsis_nn"]), str(p["deps"]))
    if leave_out == "cmsis_nn":  # and from the command line: one line, no traceback
        done = run_script("--tflm-root", str(p["tflm"]), "--cmsis-nn-root", str(p["cmsis_nn"]),
                          "--deps", str(p["deps"]))
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith(f"bench_tflm: error: {named}")


def test_sources_found_and_keyed(tmp_path):
    p = stand_in(tmp_path)
    s = bench_tflm.find_sources(str(p["tflm"]), str(p["cmsis_nn"]), str(p["deps"]))
    assert (s.cmsis, s.cortex_dfp, s.ruy) == (p["deps"] / "cmsis", p["deps"] / "cmsis/Cortex_DFP", p["deps"] / "ruy")
    assert len(s.key()) == 12 and s.key() == bench_tflm.find_sources(
        str(p["tflm"]), str(p["cmsis_nn"]), str(p["deps"])).key()


def test_model_ops():
    assert bench_tflm.model_ops(shared_model("mlperf_tiny/kws_ref_model")) == [
        "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"]
    assert bench_tflm.model_ops(shared_model("mlperf_tiny/pretrainedResnet_quant")) == [
        "ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEQUANTIZE", "FULLY_CONNECTED", "QUANTIZE", "RESHAPE", "SOFTMAX"]


def test_tflm_firmware_replaces_the_model(tmp_path):
    """The TFLM project is microc's with the model source swapped, TFLM set up before serving and the
    library linked by the C++ driver."""
    from microc.pipeline import compile_model
    model = shared_model("mlperf_tiny/ad01_int8")
    compile_model(model, "mps2-an386", tmp_path / "microc", name="model")
    build = bench_tflm.TflmBuild(tmp_path / "libtensorflow-microlite.a", ["-DTF_LITE_STATIC_MEMORY"])
    p = bench_tflm.tflm_project(tmp_path / "microc", tmp_path / "tflm", model, build,
                                bench_tflm.model_ops(model))
    assert sorted(f.name for f in (p / "model").iterdir()) == ["model.cc", "model.h"]
    cc = (p / "model" / "model.cc").read_text()
    array = cc.split("tflm_model_data[] = {\n")[1].split("\n};")[0]
    assert bytes(int(b) for b in array.replace("\n", "").split(",")) == model.read_bytes()
    assert "r->AddFullyConnected();" in cc and "MicroMutableOpResolver<1>" in cc
    main = (p / "main.c").read_text()
    assert main.index("tflm_setup();") < main.index("mc_serve(")
    mk = (p / "Makefile").read_text()
    assert "\t$(CXX) $(LDFLAGS) $(OBJS) -o $@ $(LDLIBS)" in mk
    assert f"LDLIBS := {build.lib} $(LDLIBS)" in mk and "-DTF_LITE_STATIC_MEMORY" in mk


def test_markdown_table():
    R = bench_tflm.Row
    rows = [R("kws", "mps2-an386", "microc", 100, 150, 16000, True, 9000),
            R("kws", "mps2-an386", "TFLM reference", 1000, 1500, 22000, True, 50000),
            R("kws", "mps2-an386", "TFLM CMSIS-NN", 200, None, 23000, False)]
    line = bench_tflm.markdown_table(rows).splitlines()[2]
    assert line == ("| kws | mps2-an386 | 100 | 150 | 1,000 | 1,500 | 200 | - | 16,000 | 22,000 | 23,000 "
                    "| 9,000 | 50,000 | - | 0.50 | - | NO |")


def test_git_commit(tmp_path):
    assert bench_tflm.git_commit(tmp_path) == "unknown (not a git checkout)"
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    (tmp_path / "f").write_text("a")
    subprocess.run(git + ["add", "f"], check=True)
    subprocess.run(git + ["commit", "-qm", "f"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout[:8]
    assert bench_tflm.git_commit(tmp_path) == head
    (tmp_path / "f").write_text("b")
    assert bench_tflm.git_commit(tmp_path) == head + "-dirty"


CHECKOUTS = [os.environ.get(v) for v in ("MICROC_TFLM_ROOT", "MICROC_CMSIS_NN_ROOT", "MICROC_TFLM_DEPS")]
# TFLM's counts on ad01_int8 for the commits docs/benchmark.md names (they do not depend on microc).
AD01_M4 = {("90b983c2", "4ab83cc3"): {"TFLM reference": 1_953_979, "TFLM CMSIS-NN": 583_101}}


@pytest.mark.skipif(not all(CHECKOUTS), reason="no TFLM checkout configured: MICROC_TFLM_ROOT, "
                    "MICROC_CMSIS_NN_ROOT and MICROC_TFLM_DEPS do not all point at checkouts (docs/benchmark.md)")
def test_real_run_ad01(tmp_path):
    """TFLM built from the checkouts (cached) with both kernel sets, run under QEMU beside microc: the
    outputs are equal, and for the commits docs/benchmark.md names the counts are its table's."""
    from microc import tflm_baselines
    model = shared_model("mlperf_tiny/ad01_int8")
    out = tmp_path / "baselines.json"
    done = subprocess.run([sys.executable, str(SCRIPT), str(model), "--tflm-root", CHECKOUTS[0],
                           "--cmsis-nn-root", CHECKOUTS[1], "--deps", CHECKOUTS[2], "--boards", "mps2-an386",
                           "--baselines", str(out)], capture_output=True, text=True, timeout=7200)
    assert done.returncode == 0, done.stderr
    got = tflm_baselines.read(out)
    rows = {r.tool: r for r in got.rows}
    assert sorted(rows) == ["TFLM CMSIS-NN", "TFLM reference", "microc"]
    assert all(r.matches_microc for r in rows.values())
    expected = AD01_M4.get((got.tflm_commit, got.cmsis_nn_commit))
    if expected:
        assert {t: rows[t].instructions for t in expected} == expected
    else:
        assert rows["TFLM reference"].instructions > rows["TFLM CMSIS-NN"].instructions > 0
    assert done.stdout.rstrip().endswith(got.source())
