"""ONNX GRU, unrolled into TFLite operators (microc.frontends.onnx_gru): float32 compiled to C and run on
the host against onnxruntime (within FLOAT_RTOL x the largest reference magnitude); int8 and int16x8
through `microc quantize`, bit-exact with TFLite Micro running the quantized model, and within the
quantization error of onnxruntime's float outputs; one int8 case on the emulated Cortex-M4."""
import shutil

import numpy as np
import onnx
import pytest

import harness
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from microc.reference import reference_outputs
from onnx_builder import OnnxModel, assert_close, run_ort
from test_onnx_lstm import batch_major_reference, int8_on_qemu, quantized_errors


def gru_model(steps, batches, features, units, direction="forward", layout=0, lbr=0, h0=None, seed=0,
              outputs=2):
    """h0: None (absent), "const" (an initializer) or "input" (a graph input after x)."""
    m = OnnxModel(seed=seed)
    dirs = 2 if direction == "bidirectional" else 1
    x = m.input("x", [steps, batches, features] if layout == 0 else [batches, steps, features])
    ins = [x, m.weight(dirs, 3 * units, features), m.weight(dirs, 3 * units, units), m.weight(dirs, 6 * units)]
    state = [dirs, batches, units] if layout == 0 else [batches, dirs, units]
    if h0 == "const":
        ins += ["", m.weight(*state)]
    elif h0 == "input":
        ins += ["", m.input("h0", state)]
    attrs = dict(direction=direction, layout=layout) if layout else dict(direction=direction)
    outs = m.node("GRU", ins, n_out=outputs, hidden_size=units, linear_before_reset=lbr, **attrs)
    for o in (outs if outputs > 1 else [outs]):
        m.output(o)
    return m


def _samples(shapes, n, seed):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(n)]


@pytest.mark.parametrize("direction,layout,lbr,steps,batches,features,units,h0", [
    ("forward", 0, 0, 4, 2, 3, 5, None),
    ("forward", 0, 1, 1, 1, 6, 3, None),  # one step
    ("reverse", 0, 1, 3, 3, 2, 7, "const"),
    ("bidirectional", 0, 0, 3, 2, 4, 5, "const"),
    ("bidirectional", 0, 1, 2, 2, 3, 6, "input"),
    ("forward", 1, 0, 4, 2, 3, 5, "input"),
    ("bidirectional", 1, 1, 3, 2, 3, 6, None),
    ("forward", 0, 0, 12, 1, 2, 3, None),  # Y of 12 steps: more than TFLM's 10 CONCATENATION inputs
])
def test_gru_matches_onnxruntime(tmp_path, direction, layout, lbr, steps, batches, features, units, h0):
    build = lambda layout: gru_model(steps, batches, features, units, direction, layout, lbr, h0,  # noqa: E731
                                     seed=11)
    path = build(layout).save(tmp_path / "gru.onnx")
    dirs = 2 if direction == "bidirectional" else 1
    shapes = [(steps, batches, features) if layout == 0 else (batches, steps, features)]
    if h0 == "input":
        shapes.append((dirs, batches, units) if layout == 0 else (batches, dirs, units))
    samples = _samples(shapes, 2, 12)
    for sample, outs in zip(samples, harness.compile_and_run(path, samples, tmp_path / "build")):
        if layout == 0:
            assert_close(outs, run_ort(path, sample))
        else:
            want = batch_major_reference(tmp_path, build, sample)
            assert_close(outs, want)
            assert_close(reference_outputs(path, sample, 2), want)
    assert "GRU" not in {op.type for op in load_model(path).ops}


def test_bidirectional_gru_is_sanitizer_clean(tmp_path):
    path = gru_model(3, 2, 3, 5, "bidirectional", lbr=1, h0="const", seed=5).save(tmp_path / "gru.onnx")
    samples = _samples([(3, 2, 3)], 2, 6)
    for sample, outs in zip(samples, harness.compile_and_run_sanitized(path, samples, tmp_path / "build")):
        assert_close(outs, run_ort(path, sample))


def test_y_h_only_and_the_first_step_without_state(tmp_path):
    """Only Y_h used: no CONCATENATION; a zero initial state makes the first step's recurrent products
    vanish (no FULLY_CONNECTED on the state there: 2 input projections + 1 per later step x 2)."""
    m = gru_model(3, 1, 2, 4, outputs=2, seed=2)
    m.nodes[0].output[0] = ""
    m.outputs = m.outputs[1:]
    path = m.save(tmp_path / "gru.onnx")
    types = [op.type for op in load_model(path).ops]
    assert "CONCATENATION" not in types and types.count("FULLY_CONNECTED") == 2 + 2 * 2
    sample = _samples([(3, 1, 2)], 1, 3)[0]
    assert_close(harness.compile_and_run(path, [sample], tmp_path / "build")[0], run_ort(path, sample))


@pytest.mark.parametrize("attrs,match", [
    (dict(activations=["Sigmoid", "Relu"]), "activations=Sigmoid,Relu are not supported"),
    (dict(clip=2.0), "clip is not supported"),
    (dict(activation_beta=[1.0]), "activation_beta is not supported"),
    (dict(linear_before_reset=2), r"linear_before_reset=2 is not supported \(0 or 1\)"),
])
def test_refused_attributes_name_node_and_attribute(tmp_path, attrs, match):
    m = gru_model(2, 1, 3, 2, lbr=attrs.pop("linear_before_reset", 0))
    m.nodes[0].attribute.extend(onnx.helper.make_attribute(k, v) for k, v in attrs.items())
    with pytest.raises(UnsupportedOperator, match=match) as e:
        load_model(m.save(tmp_path / "m.onnx"))
    assert "\n" not in str(e.value) and str(e.value).startswith("GRU (node 0, 'GRU_")


def test_shorter_sequence_lens_is_refused(tmp_path):
    m = gru_model(3, 2, 3, 2)
    m.nodes[0].input.append(m.const(np.array([3, 2], np.int32)))
    with pytest.raises(UnsupportedOperator, match=r"sequence_lens \[3, 2\] is not supported"):
        load_model(m.save(tmp_path / "m.onnx"))


@pytest.mark.parametrize("scheme,mean_quanta,max_share", [("int8", 1.5, 0.08), ("int16x8", 40, 0.005)])
def test_quantized_gru_is_bit_exact_with_tflm(tmp_path, scheme, mean_quanta, max_share):
    """The float GRU quantized by microc: TFLM runs the same .tflite (every op a builtin) and microc's
    outputs equal its bit for bit. Dequantized, they are near onnxruntime's float outputs: measured, int8
    0.7-1.1 output quanta on average and 0.9-6.3% of the output range at most (int8 gates, TFLite's 1/256
    sigmoid); int16x8 20-27 of its quanta (65,536 over the range) on average, 0.13-0.23% of the range at
    most."""
    path = gru_model(4, 2, 3, 5, "bidirectional", lbr=1, seed=9).save(tmp_path / "gru.onnx")
    for mean, largest in quantized_errors(tmp_path, path, (4, 2, 3), scheme, 2):
        assert mean <= mean_quanta and largest <= max_share


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
def test_int8_gru_on_qemu(tmp_path):
    """`--quantize int8` of an ONNX GRU deployed to mps2-an386: bit-exact with TFLM on 3 samples."""
    path = gru_model(3, 1, 4, 6, "reverse", seed=3).save(tmp_path / "gru.onnx")
    report = int8_on_qemu(tmp_path, path, (3, 1, 4))
    assert report.match is True and report.comparison.max_abs_diff == 0
