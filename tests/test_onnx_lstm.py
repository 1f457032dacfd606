"""ONNX LSTM onto the float32 UNIDIRECTIONAL_SEQUENCE_LSTM (microc.frontends.onnx_rnn): compiled to C, run
on the host several invocations in sequence, against onnxruntime (within FLOAT_RTOL x the largest
reference magnitude); every sample after the first also checks that no state carries over. Through
`microc quantize`, unrolled into builtins (microc.frontends.onnx_unroll): int8 and int16x8 bit-exact with
TFLite Micro, and within the quantization error of onnxruntime's float outputs."""
import shutil

import numpy as np
import onnx
import pytest

import harness
from microc.errors import MicrocError, UnsupportedOperator
from microc.frontends import load_model
from microc.passes.calibration import observe_tensors
from microc.reference import reference_outputs
from onnx_builder import OnnxModel, assert_close, run_ort


def lstm_model(steps, batches, features, units, outputs=3, bias=True, seed=0, direction="forward", layout=0,
               **attrs):
    m = OnnxModel(seed=seed)
    dirs = 2 if direction == "bidirectional" else 1
    x = m.input("x", [steps, batches, features] if layout == 0 else [batches, steps, features])
    ins = [x, m.weight(dirs, 4 * units, features), m.weight(dirs, 4 * units, units)]
    if bias:
        ins.append(m.weight(dirs, 8 * units))
    if layout:
        attrs["layout"] = layout
    if direction != "forward":
        attrs["direction"] = direction
    outs = m.node("LSTM", ins, n_out=outputs, hidden_size=units, **attrs)
    for o in (outs if outputs > 1 else [outs]):
        m.output(o)
    return m


def batch_major_reference(tmp_path, build, sample):
    """onnxruntime cannot run layout=1: the reference is the same model (same seed, so the same weights)
    built with layout=0, run on the inputs (X, initial states) transposed to [seq or D, batch, ...], its
    outputs transposed back."""
    path = build(layout=0).save(tmp_path / "layout0.onnx")
    outs = run_ort(path, [x.transpose(1, 0, 2) for x in sample])
    return [o.transpose(2, 0, 1, 3) if o.ndim == 4 else o.transpose(1, 0, 2) for o in outs]


@pytest.mark.parametrize("steps,batches,features,units,outputs,bias", [
    (5, 2, 3, 4, 3, True),  # Y, Y_h, Y_c
    (1, 1, 6, 3, 1, False),  # Y only, no B, one step
])
def test_lstm_matches_onnxruntime_over_invocations(tmp_path, steps, batches, features, units, outputs, bias):
    path = lstm_model(steps, batches, features, units, outputs, bias).save(tmp_path / "lstm.onnx")
    rng = np.random.default_rng(1)
    samples = [[rng.standard_normal((steps, batches, features)).astype(np.float32)] for _ in range(3)]
    samples.append(samples[0])  # the first sample again: the same outputs (zero state each time)
    got = harness.compile_and_run(path, samples, tmp_path / "build")
    for sample, outs in zip(samples, got):
        assert_close(outs, run_ort(path, sample))
    for a, c in zip(got[0], got[3]):
        np.testing.assert_array_equal(a, c)
    assert [op.type for op in load_model(path).ops].count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 1


@pytest.mark.parametrize("direction,layout,zero", [
    ("forward", 0, True),  # constant zeros: the same code as no initial state
    ("bidirectional", 1, False),  # each direction's own constant initial_h and initial_c, batch-major
])
def test_constant_initial_state(tmp_path, direction, layout, zero):
    """The state is set to initial_h/initial_c before every run: the second sample starts from them too."""
    dirs = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(6)
    h0, c0 = [np.zeros((dirs, 2, 5), np.float32) if zero else rng.standard_normal((dirs, 2, 5)).astype(np.float32)
              for _ in "hc"]

    def build(layout):
        m = OnnxModel(seed=2)
        x = m.input("x", [3, 2, 4] if layout == 0 else [2, 3, 4])
        states = [m.const(s if layout == 0 else s.transpose(1, 0, 2)) for s in (h0, c0)]
        outs = m.node("LSTM", [x, m.weight(dirs, 20, 4), m.weight(dirs, 20, 5), m.weight(dirs, 40), "", *states],
                      n_out=3, hidden_size=5, direction=direction, **({"layout": 1} if layout else {}))
        for o in outs:
            m.output(o)
        return m
    path = build(layout).save(tmp_path / "lstm0.onnx")
    samples = [[rng.standard_normal((3, 2, 4) if layout == 0 else (2, 3, 4)).astype(np.float32)] for _ in range(2)]
    for sample, outs in zip(samples, harness.compile_and_run(path, samples, tmp_path / "build")):
        assert_close(outs, run_ort(path, sample) if layout == 0 else batch_major_reference(tmp_path, build, sample))


@pytest.mark.parametrize("direction,layout,steps,batches,features,units,outputs", [
    ("reverse", 0, 4, 2, 3, 5, 3),
    ("bidirectional", 0, 3, 1, 2, 3, 3),
    ("bidirectional", 0, 1, 3, 4, 2, 2),  # one step: nothing to reverse; Y and Y_h
    ("forward", 1, 4, 2, 3, 5, 3),
    ("bidirectional", 1, 3, 2, 3, 6, 3),
])
def test_lstm_directions_and_layouts(tmp_path, direction, layout, steps, batches, features, units, outputs):
    build = lambda layout: lstm_model(steps, batches, features, units, outputs, seed=3,  # noqa: E731
                                      direction=direction, layout=layout)
    path = build(layout).save(tmp_path / "lstm.onnx")
    rng = np.random.default_rng(5)
    shape = (steps, batches, features) if layout == 0 else (batches, steps, features)
    samples = [[rng.standard_normal(shape).astype(np.float32)] for _ in range(2)]
    for sample, outs in zip(samples, harness.compile_and_run(path, samples, tmp_path / "build")):
        want = run_ort(path, sample) if layout == 0 else batch_major_reference(tmp_path, build, sample)
        assert_close(outs, want)
        assert_close(reference_outputs(path, sample, outputs), want)  # what --verify compares with
    n_dirs = 2 if direction == "bidirectional" else 1
    assert [op.type for op in load_model(path).ops].count("UNIDIRECTIONAL_SEQUENCE_LSTM") == n_dirs


def test_full_sequence_lens_is_accepted(tmp_path):
    m = lstm_model(3, 2, 4, 3, outputs=2, seed=1)
    m.nodes[0].input.append(m.const(np.array([3, 3], np.int32)))
    path = m.save(tmp_path / "lens.onnx")
    sample = [np.random.default_rng(2).standard_normal((3, 2, 4)).astype(np.float32)]
    assert_close(harness.compile_and_run(path, [sample], tmp_path / "build")[0], run_ort(path, sample))


@pytest.mark.parametrize("attrs,match", [
    (dict(clip=1.0), "clip is not supported"),
    (dict(activations=["Sigmoid", "Relu", "Tanh"]), "activations=Sigmoid,Relu,Tanh are not supported"),
    (dict(input_forget=1), "input_forget=1 is not supported"),
    (dict(activation_alpha=[0.5]), "activation_alpha is not supported"),
])
def test_refused_attributes_name_node_and_attribute(tmp_path, attrs, match):
    m = lstm_model(2, 1, 3, 2, outputs=1, bias=False)
    m.nodes[0].attribute.extend(onnx.helper.make_attribute(k, v) for k, v in attrs.items())
    with pytest.raises(UnsupportedOperator, match=match) as e:
        load_model(m.save(tmp_path / "m.onnx"))
    assert "\n" not in str(e.value) and str(e.value).startswith("LSTM (node 0, 'LSTM_")


@pytest.mark.parametrize("extra,match", [
    (lambda m: [m.const(np.array([1], np.int32))], r"sequence_lens \[1\] is not supported \(only the full length, 2\)"),
    (lambda m: ["", "", "", m.weight(1, 6)], r"input P \(peepholes\) is not supported"),
    (lambda m: ["", m.input("h0", [1, 1, 2])], "initial_h must be absent or a constant"),
])
def test_refused_inputs(tmp_path, extra, match):
    m = OnnxModel()
    x = m.input("x", [2, 1, 3])
    m.output(m.node("LSTM", [x, m.weight(1, 8, 3), m.weight(1, 8, 2), m.weight(1, 16), *extra(m)],
                    hidden_size=2))
    with pytest.raises(UnsupportedOperator, match=match) as e:
        load_model(m.save(tmp_path / "m.onnx"))
    assert "\n" not in str(e.value) and "(node 0," in str(e.value)


def test_reset_state_lstm_is_not_exported_to_tflite(tmp_path):
    from microc.export.tflite import export_tflite
    graph = load_model(lstm_model(2, 1, 3, 2, outputs=1).save(tmp_path / "m.onnx"))
    with pytest.raises(MicrocError, match="resets its state per invocation"):
        export_tflite(graph)


def test_stacked_lstms_without_y(tmp_path):
    """LSTM -> Squeeze -> two LSTMs that output only Y_h (and Y_c): the second layer reads the first's
    Y, and the two state pairs are distinct."""
    m = OnnxModel(seed=4)
    x = m.input("x", [4, 1, 3])
    y1 = m.node("LSTM", [x, m.weight(1, 20, 3), m.weight(1, 20, 5)], hidden_size=5)
    s = m.node("Squeeze", [y1, m.const(np.array([1], np.int64))])
    _, h, c = m.node("LSTM", [s, m.weight(1, 8, 5), m.weight(1, 8, 2), m.weight(1, 16)], n_out=3, hidden_size=2)
    _, h2, _ = m.node("LSTM", [s, m.weight(1, 8, 5), m.weight(1, 8, 2)], n_out=3, hidden_size=2)
    m.nodes[-2].output[0] = m.nodes[-1].output[0] = m.nodes[-1].output[2] = ""
    for o in (h, c, h2):
        m.output(o)
    path = m.save(tmp_path / "stack.onnx")
    rng = np.random.default_rng(0)
    samples = [[rng.standard_normal((4, 1, 3)).astype(np.float32)] for _ in range(2)]
    for sample, outs in zip(samples, harness.compile_and_run(path, samples, tmp_path / "build")):
        assert_close(outs, run_ort(path, sample))


def test_bidirectional_batch_major_is_sanitizer_clean(tmp_path):
    """Both directions, batch-major, 2 batches, under ASan/UBSan (the reversing GATHERs, the two state
    pairs, the concatenations), against onnxruntime."""
    build = lambda layout: lstm_model(3, 2, 3, 5, seed=7, direction="bidirectional", layout=layout)  # noqa: E731
    path = build(1).save(tmp_path / "lstm.onnx")
    rng = np.random.default_rng(8)
    samples = [[rng.standard_normal((2, 3, 3)).astype(np.float32)] for _ in range(2)]
    for sample, outs in zip(samples, harness.compile_and_run_sanitized(path, samples, tmp_path / "build")):
        assert_close(outs, batch_major_reference(tmp_path, build, sample))


@pytest.mark.parametrize("direction,states,layout", [("bidirectional", "const", 0), ("reverse", "input", 0),
                                                     ("bidirectional", "input", 1)])
def test_unrolled_float_lstm_matches_onnxruntime(tmp_path, direction, states, layout):
    """The graph `microc quantize` calibrates (the LSTM unrolled into builtins), run in float32 on TFLM
    over two samples, against onnxruntime: with constant initial_h/initial_c, or run-time ones (the
    float path's LSTM kernel refuses those: its state is set before each run); layout=1 through the
    time-major model with the same weights."""
    dirs = 2 if direction == "bidirectional" else 1

    def build(layout):
        m = OnnxModel(seed=5)
        x = m.input("x", [3, 2, 4] if layout == 0 else [2, 3, 4])
        state = [dirs, 2, 5] if layout == 0 else [2, dirs, 5]
        h0, c0 = (m.weight(*state) if states == "const" else m.input(n, state) for n in "hc")
        outs = m.node("LSTM", [x, m.weight(dirs, 20, 4), m.weight(dirs, 20, 5), m.weight(dirs, 40), "", h0, c0],
                      n_out=3, hidden_size=5, direction=direction, **({"layout": 1} if layout else {}))
        for o in outs:
            m.output(o)
        return m
    path = build(layout).save(tmp_path / "lstm.onnx")
    graph = load_model(path, for_quantization=True)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in {op.type for op in graph.ops}
    rng = np.random.default_rng(1)
    shapes = [t.shape for t in graph.inputs]
    samples = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(2)]
    for sample, values in zip(samples, observe_tensors(graph, samples)):
        want = run_ort(path, sample) if layout == 0 else batch_major_reference(tmp_path, build, sample)
        assert_close([values[id(t)] for t in graph.outputs], want)


def quantized_errors(tmp_path, path, shape, scheme, outputs, seed=4):
    """`microc quantize` of the float ONNX recurrent model at `path` (32 calibration samples of `shape`),
    run by microc on the host over 3 samples and asserted bit-exact with TFLM running the same .tflite;
    returns, per sample and output, (mean |error|, max |error|) against onnxruntime's float outputs on
    the dequantized inputs, in output quanta and as a share of the reference's range."""
    from microc.api import quantize
    dtype = {"int8": np.int8, "int16x8": np.int16}[scheme]
    calibration = tmp_path / "calibration.npy"
    np.save(calibration, np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32))
    q = tmp_path / f"{path.stem}_{scheme}.tflite"
    quantize(path, calibration, q, scheme=scheme)
    graph = load_model(q)
    assert {t.dtype for t in graph.inputs + graph.outputs} == {np.dtype(dtype).name}
    rng = np.random.default_rng(seed)
    qin, info = graph.inputs[0].quant, np.iinfo(dtype)
    samples = [[np.clip(np.round(rng.standard_normal(shape).astype(np.float32) / qin.s) + qin.zp,
                        info.min, info.max).astype(dtype)] for _ in range(3)]
    errors = []
    for sample, outs in zip(samples, harness.compile_and_run(q, samples, tmp_path / "build")):
        for got, want in zip(outs, reference_outputs(q, sample, outputs)):
            np.testing.assert_array_equal(got, want)
        ref_in = (sample[0].astype(np.float32) - qin.zp) * np.float32(qin.s)
        for got, t, ref in zip(outs, graph.outputs, run_ort(path, [ref_in])):
            err = np.abs((got.astype(np.float32) - t.quant.zp) * t.quant.s - ref)
            errors.append((err.mean() / t.quant.s, err.max() / (ref.max() - ref.min())))
    return errors


@pytest.mark.parametrize("scheme,direction,mean_quanta,max_share", [("int8", "forward", 1.5, 0.08),
                                                                    ("int16x8", "bidirectional", 40, 0.005)])
def test_quantized_lstm_is_bit_exact_with_tflm(tmp_path, scheme, direction, mean_quanta, max_share):
    """`microc quantize` imports the LSTM unrolled into builtins (the float path keeps the LSTM kernel):
    microc's int8 / 16x8 outputs equal TFLM's bit for bit, and are near onnxruntime's float ones."""
    path = lstm_model(4, 2, 3, 5, seed=9, direction=direction).save(tmp_path / "lstm.onnx")
    for mean, largest in quantized_errors(tmp_path, path, (4, 2, 3), scheme, 3):
        assert mean <= mean_quanta and largest <= max_share


def int8_on_qemu(tmp_path, path, shape):
    """`compile --quantize int8` (32 random-normal calibration samples of `shape`) for mps2-an386, built
    and run on QEMU over 3 samples with --verify: the run's report."""
    from microc.build import build_project
    from microc.pipeline import compile_model
    from microc.runner.session import run_project
    calibration = tmp_path / "calibration.npy"
    np.save(calibration, np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32))
    project = tmp_path / "proj"
    compile_model(path, "mps2-an386", project, quantize="int8", calibration=calibration)
    build_project(project)
    return run_project(project, samples=3, seed=2, verify=True)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
def test_int8_lstm_on_qemu(tmp_path):
    """`--quantize int8` of a reverse ONNX LSTM deployed to mps2-an386: bit-exact with TFLM on 3 samples."""
    path = lstm_model(3, 1, 4, 6, seed=3, direction="reverse").save(tmp_path / "lstm.onnx")
    report = int8_on_qemu(tmp_path, path, (3, 1, 4))
    assert report.match is True and report.comparison.max_abs_diff == 0
