"""ONNX LSTM onto the float32 UNIDIRECTIONAL_SEQUENCE_LSTM (microc.frontends.onnx_rnn): compiled to C, run
on the host several invocations in sequence, against onnxruntime (within FLOAT_RTOL x the largest
reference magnitude); every sample after the first also checks that no state carries over."""
import numpy as np
import onnx
import pytest

import harness
from microc.errors import MicrocError, UnsupportedOperator
from microc.frontends import load_model
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


def test_quantize_refuses_an_onnx_lstm_with_the_reason(tmp_path):
    from microc.api import quantize
    path = lstm_model(2, 1, 3, 2, outputs=1).save(tmp_path / "m.onnx")
    np.save(tmp_path / "cal.npy", np.zeros((2, 2, 1, 3), np.float32))
    with pytest.raises(UnsupportedOperator, match="an LSTM imported from ONNX resets its state every run") as e:
        quantize(path, tmp_path / "cal.npy", tmp_path / "q.tflite")
    assert "\n" not in str(e.value) and not (tmp_path / "q.tflite").exists()
