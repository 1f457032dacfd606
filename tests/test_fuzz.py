"""Malformed models never crash microc: a fixed-seed run of the mutation fuzzer (scripts/fuzz.py), and the
crashes earlier runs found, each as a small model that reproduces it. The tflite ones that the
validation pass now refuses are in tests/test_validate.py; these are the frontends' reading errors."""
from __future__ import annotations

import shutil
import sys

import numpy as np
import onnx
import pytest
from onnx_builder import OnnxModel
from test_cli_errors import assert_one_line_error, microc
from test_validate import one_op_model

from microc import ROOT
from microc.errors import ModelFormatError
from microc.ir import Graph, Op, Quant, Tensor
from microc.passes.validate import validate

sys.path.insert(0, str(ROOT / "scripts"))
import fuzz  # noqa: E402

CI_CASES = 240  # about a minute on two cores, plus the sanitized builds
CI_SEED = 0


@pytest.mark.skipif(not (ROOT / "examples").is_dir(), reason="needs the repository checkout")
def test_fixed_seed_campaign():
    results = fuzz.fuzz(CI_CASES, seed=CI_SEED, jobs=2, sanitize_every=40)
    s = fuzz.summary(results)
    assert [s[o] for o in fuzz.FAILURES] == [0] * len(fuzz.FAILURES), s["failures"]
    assert s["clean"] + s["accepted"] == CI_CASES
    assert s["clean"] > 0 and s["accepted"] > 0
    assert s["sanitized_runs"] >= 2, s  # accepted mutants built with ASan/UBSan ran clean


def test_mutations_are_reproducible():
    seed = bytes(range(256)) * 4
    for i in range(20):
        a = fuzz.mutate(seed, seed[::-1], np.random.default_rng([7, i]))
        b = fuzz.mutate(seed, seed[::-1], np.random.default_rng([7, i]))
        assert a == b and a[0] != seed


def test_classification(tmp_path):
    """Outcomes as the fuzzer sees them, on real command lines."""
    ok = tmp_path / "ok.onnx"
    m = OnnxModel()
    m.output(m.node("Relu", [m.input("x", [1, 4])]))
    m.save(ok)
    out = tmp_path / "out"
    assert fuzz.classify(microc("compile", ok, "--board", "host", "-o", out), out)[0] == "accepted"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(ok.read_bytes()[:40])
    out2 = tmp_path / "out2"
    outcome, detail = fuzz.classify(microc("compile", bad, "--board", "host", "-o", out2), out2)
    assert outcome == "clean" and detail.startswith("microc: error: bad.onnx"), detail


def test_fork_server_answers_as_the_command_does(tmp_path):
    """A case compiled by a forked warm interpreter gets the exit status and output `python -m microc`
    gives."""
    m = OnnxModel()
    m.output(m.node("Relu", [m.input("x", [1, 4])]))
    ok = m.save(tmp_path / "ok.onnx")
    (tmp_path / "cut.onnx").write_bytes(ok.read_bytes()[:40])
    server = fuzz.ForkServer()
    try:
        for i, model in enumerate([ok, tmp_path / "cut.onnx", tmp_path / "none.tflite"]):
            args = ("compile", model, "--board", "host", "-o", tmp_path / f"out{i}")
            forked = server.run(*args)
            shutil.rmtree(tmp_path / f"out{i}", ignore_errors=True)
            direct = microc(*args)
            assert (forked.returncode, forked.stdout, forked.stderr) == \
                (direct.returncode, direct.stdout, direct.stderr)
    finally:
        server.close()


# ---- regressions: crashes found by scripts/fuzz.py ----

def test_onnx_attribute_of_the_wrong_type(tmp_path):
    """Was `TypeError: int() argument must be ... not 'NoneType'` reading Conv's group (bit flips in the
    attribute's type field)."""
    m = OnnxModel()
    m.output(m.node("Conv", [m.input("x", [1, 2, 4, 4]), m.weight(2, 1, 3, 3)], group=2))
    model = onnx.load(m.save(tmp_path / "ok.onnx"))
    for a in model.graph.node[0].attribute:
        if a.name == "group":
            a.type = onnx.AttributeProto.STRING
    onnx.save(model, tmp_path / "g.onnx")
    assert_one_line_error(microc("compile", tmp_path / "g.onnx", "--board", "host", "-o", tmp_path / "o"),
                          "g.onnx is malformed")
    assert not (tmp_path / "o").exists()


def test_onnx_pads_beyond_int32(tmp_path):
    """Was `OverflowError: Python integer ... out of bounds for int32` converting Pad."""
    m = OnnxModel()
    m.output(m.node("Pad", [m.input("x", [1, 4]), m.const(np.array([0, 2**54, 0, 1], np.int64))]))
    m.save(tmp_path / "p.onnx")
    assert_one_line_error(microc("compile", tmp_path / "p.onnx", "--board", "host", "-o", tmp_path / "o"),
                          "p.onnx is malformed", "OverflowError")


def test_zero_points_and_scales_of_different_lengths():
    """Was `AssertionError: per-channel quantization has no single zero point` (flipped vector length)."""
    q = Quant(np.array([0.5]), np.zeros(4, np.int64))
    x, y = Tensor("x", (1, 4), "int8", q), Tensor("y", (1, 4), "int8", Quant(np.array([0.5]), np.zeros(1)))
    with pytest.raises(ModelFormatError, match=r"operator 0 \(RELU, 'y'\): tensor 'x' has 1 scales and 4 zero"):
        validate(Graph("g", [Op("RELU", [x], [y], name="y", index=0)], [x], [y]))


def test_onnx_names_that_are_not_text(tmp_path):
    """Was `TypeError: Object of type bytes is not JSON serializable` writing metadata.json: protobuf
    hands a name with invalid UTF-8 over as bytes."""
    m = OnnxModel()
    m.output(m.node("Relu", [m.input("x", [1, 4])]))
    good = m.save(tmp_path / "ok.onnx").read_bytes()
    name = m.nodes[0].name.encode()
    assert good.count(name) == 1
    (tmp_path / "n.onnx").write_bytes(good.replace(name, b"\xff\xfe" + name[2:]))
    assert_one_line_error(microc("compile", tmp_path / "n.onnx", "--board", "host", "-o", tmp_path / "o"),
                          "not UTF-8 text")


def test_names_that_end_a_c_comment(tmp_path):
    """A name holding */ (a TFLite name is any bytes) no longer ends the generated code's comment early."""
    import harness
    path = tmp_path / "c.tflite"
    path.write_bytes(one_op_model("RELU", (1, 4), (1, 4), y_name="y */ oops\n"))
    data = np.array([[-1, 0, 2, -3]], np.float32)
    (out,), = harness.compile_and_run(path, [[data]], tmp_path / "build")
    assert out.tolist() == [[0, 0, 2, 0]]


def test_names_with_newlines_stay_on_one_line(tmp_path):
    """Was a five-line error: an ONNX input named 'x\\n' (a flipped bit) quoted in the message."""
    m = OnnxModel()
    m.output(m.node("Relu", [m.input("x", ["N", 4])]))
    good = m.save(tmp_path / "ok.onnx").read_bytes()
    (tmp_path / "nl.onnx").write_bytes(good.replace(b"\n\x01x", b"\n\x01\n"))
    line = assert_one_line_error(microc("compile", tmp_path / "nl.onnx", "--board", "host", "-o",
                                        tmp_path / "o"), "dynamic shape")
    assert "'\\n'" in line
