"""The test-model writer: models it builds run on TFLM and compute what numpy says they should."""

import numpy as np
import pytest
import tflite

from tflite_builder import (ModelBuilder, dequantize, quant_params_for, quantize, quantize_bias,
                            quantize_weights_per_channel, round_half_away, run_tflm)

IN_Q = (0.05, -3)  # int8 activation quantization used for most test inputs: range [-6.25, 6.5]


# ---- numpy references (NHWC activations, OHWI conv filters, 1HWC depthwise filters) ----


def _out_size_and_pad(size, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return (size - eff) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + eff - size, 0) // 2  # TFLite puts the extra pad after


def _windows(x, kh, kw, stride, dilation, padding):
    """Yield (i, j, patch) with patch[n, oy, ox, c] = padded input under filter tap (i, j)."""
    (sh, sw), (dh, dw) = stride, dilation
    oh, pt = _out_size_and_pad(x.shape[1], kh, sh, dh, padding)
    ow, pl = _out_size_and_pad(x.shape[2], kw, sw, dw, padding)
    xp = np.pad(x, ((0, 0), (pt, oh * sh + kh * dh), (pl, ow * sw + kw * dw), (0, 0)))
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i * dh:i * dh + oh * sh:sh, j * dw:j * dw + ow * sw:sw, :]


def conv2d_ref(x, w, b, stride=(1, 1), dilation=(1, 1), padding="SAME"):
    return sum(p @ w[:, i, j, :].T for i, j, p in
               _windows(x, w.shape[1], w.shape[2], stride, dilation, padding)) + b


def depthwise_ref(x, w, b, multiplier, stride=(1, 1), dilation=(1, 1), padding="SAME"):
    return sum(np.repeat(p, multiplier, axis=-1) * w[0, i, j, :] for i, j, p in
               _windows(x, w.shape[1], w.shape[2], stride, dilation, padding)) + b


def pool_ref(x, k, stride, padding, reduce):
    """Pooling over the window clipped to the input: TFLite ignores padded cells in both pools."""
    oh, pt = _out_size_and_pad(x.shape[1], k[0], stride[0], 1, padding)
    ow, pl = _out_size_and_pad(x.shape[2], k[1], stride[1], 1, padding)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = max(oy * stride[0] - pt, 0), max(ox * stride[1] - pl, 0)
            y1, x1 = oy * stride[0] - pt + k[0], ox * stride[1] - pl + k[1]
            out[:, oy, ox, :] = reduce(x[:, y0:y1, x0:x1, :], axis=(1, 2))
    return out


def softmax_ref(x, beta):
    e = np.exp(beta * (x - x.max(axis=-1, keepdims=True)))
    return e / e.sum(axis=-1, keepdims=True)


# ---- one test model: its builder plus the real-valued inputs and expected output ----


class Case:
    """Builds a model whose int8 or float32 tensors follow `dtype`; remembers the real values of
    every input so a numpy reference can be computed on exactly what TFLM sees."""

    def __init__(self, dtype, seed=0):
        self.b, self.dtype = ModelBuilder(), dtype
        self.rng = np.random.default_rng(seed)
        self.feeds, self.out_q = [], None

    def input(self, name, shape, q=IN_Q, dtype=None, lo=-3.0, hi=3.0):
        dtype = dtype or self.dtype
        x = self.rng.uniform(lo, hi, shape).astype(np.float32)
        if dtype == "float32":
            tid, feed, real = self.b.tensor(name, shape, dtype), x, x
        else:
            feed = quantize(x, *q, dtype=dtype)
            tid, real = self.b.tensor(name, shape, dtype, *q), dequantize(feed, *q)
        self.feeds.append(feed)
        return tid, real.astype(np.float64)

    def output(self, name, ref, q=None, dtype=None):
        """Output tensor shaped like the reference; int8 range fitted to it unless `q` given."""
        dtype = dtype or self.dtype
        if dtype == "float32":
            return self.b.tensor(name, ref.shape, dtype)
        self.out_q = q or quant_params_for(ref.min(), ref.max(), dtype)
        return self.b.tensor(name, ref.shape, dtype, *self.out_q)

    def weights(self, name, w, bias, axis, input_scale=IN_Q[0]):
        """Const weights + bias: float32 as given, or int8 per-channel with an int32 bias."""
        w, bias = w.astype(np.float32), bias.astype(np.float32)
        if self.dtype == "float32":
            return self.b.const(name, w), self.b.const(name + "_bias", bias), w, bias
        wq, ws = quantize_weights_per_channel(w, axis)
        bq, bs = quantize_bias(bias, input_scale, ws)
        w_real = wq * np.expand_dims(ws, tuple(d for d in range(w.ndim) if d != axis))
        return (self.b.const(name, wq, scale=ws, zero_point=0, axis=axis),
                self.b.const(name + "_bias", bq, scale=bs, zero_point=0, axis=0),
                w_real.astype(np.float64), bq * bs.astype(np.float64))

    def run(self, op, inputs, outputs, **options):
        self.b.op(op, inputs, outputs, **options)
        self.b.inputs([i for i in inputs if self.b._tensors[i]["buffer"] == 0])
        self.b.outputs(outputs)
        return run_tflm(self.b.build(), self.feeds)


# Each case builds one single-op model and returns (TFLM outputs, reference, LSB tolerance).
# The tolerance is in output quantization steps; it only matters for int8.


def case_conv_2d(c):
    x, xr = c.input("x", (1, 6, 6, 3))
    w, b, wr, br = c.weights("w", c.rng.normal(0, 0.5, (4, 3, 3, 3)), c.rng.normal(0, 1, 4), 0)
    ref = np.maximum(conv2d_ref(xr, wr, br, padding="SAME"), 0)
    y = c.output("y", ref)
    return c.run("CONV_2D", [x, w, b], [y], padding="SAME", activation="RELU"), ref, 1


def case_conv_2d_strided_dilated(c):
    x, xr = c.input("x", (1, 9, 9, 2))
    w, b, wr, br = c.weights("w", c.rng.normal(0, 0.5, (3, 3, 3, 2)), c.rng.normal(0, 1, 3), 0)
    ref = np.clip(conv2d_ref(xr, wr, br, (2, 2), (2, 2), "VALID"), 0, 6)  # 9x9 -> 3x3
    y = c.output("y", ref)
    return c.run("CONV_2D", [x, w, b], [y], padding="VALID", stride=(2, 2), dilation=(2, 2),
                 activation="RELU6"), ref, 1


def case_depthwise_conv_2d(c):
    x, xr = c.input("x", (1, 5, 5, 2))
    w, b, wr, br = c.weights("w", c.rng.normal(0, 0.5, (1, 3, 3, 4)), c.rng.normal(0, 1, 4), 3)
    ref = depthwise_ref(xr, wr, br, 2, padding="SAME")
    y = c.output("y", ref)
    return c.run("DEPTHWISE_CONV_2D", [x, w, b], [y], padding="SAME", depth_multiplier=2), ref, 1


def case_fully_connected(c):
    x, xr = c.input("x", (2, 5))
    w, b, wr, br = c.weights("w", c.rng.normal(0, 0.5, (3, 5)), c.rng.normal(0, 1, 3), 0)
    ref = np.maximum(xr @ wr.T + br, 0)
    y = c.output("y", ref)
    return c.run("FULLY_CONNECTED", [x, w, b], [y], activation="RELU"), ref, 1


def _pool(op, reduce, k, stride, padding, tol):
    def case(c):  # int8 pools compare raw values: output quantized like the input
        x, xr = c.input("x", (1, 6, 6, 3))
        ref = pool_ref(xr, k, stride, padding, reduce)
        y = c.output("y", ref, q=IN_Q)
        return c.run(op, [x], [y], filter_size=k, stride=stride, padding=padding), ref, tol
    return case


def _binary(op, fn, activation="NONE", shape_b=(1, 4, 4, 3)):
    def case(c):
        a, ar = c.input("a", (1, 4, 4, 3))
        b, br = c.input("b", shape_b, q=(0.03, 7))
        ref = fn(ar, br)
        ref = np.maximum(ref, 0) if activation == "RELU" else ref
        y = c.output("y", ref)
        return c.run(op, [a, b], [y], activation=activation), ref, 1
    return case


def case_reshape(c):
    x, xr = c.input("x", (1, 4, 4, 3))
    shape = c.b.const("shape", [1, 48], dtype="int32")
    ref = xr.reshape(1, 48)
    y = c.output("y", ref, q=IN_Q)
    return c.run("RESHAPE", [x, shape], [y], new_shape=(1, 48)), ref, 0


def case_squeeze(c):
    x, xr = c.input("x", (1, 1, 4, 3))
    ref = xr.reshape(4, 3)
    y = c.output("y", ref, q=IN_Q)
    return c.run("SQUEEZE", [x], [y], squeeze_dims=(0, 1)), ref, 0


def _unary(op, fn, out_q=None, tol=1, **options):
    def case(c):
        x, xr = c.input("x", (1, 4, 4, 3))
        ref = fn(xr)
        y = c.output("y", ref, q=out_q)
        return c.run(op, [x], [y], **options), ref, tol
    return case


def case_softmax(c):
    x, xr = c.input("x", (2, 10))
    ref = softmax_ref(xr, 0.5)
    y = c.output("y", ref, q=(1 / 256, -128))
    return c.run("SOFTMAX", [x], [y], beta=0.5), ref, 1


def case_concatenation(c):
    a, ar = c.input("a", (1, 4, 4, 3))
    b, br = c.input("b", (1, 4, 4, 2))
    ref = np.concatenate([ar, br], axis=-1)
    y = c.output("y", ref, q=IN_Q)
    return c.run("CONCATENATION", [a, b], [y], axis=-1), ref, 0


def case_pad(c):
    x, xr = c.input("x", (1, 4, 4, 3))
    pads = [[0, 0], [1, 2], [2, 1], [0, 0]]
    p = c.b.const("paddings", pads, dtype="int32")
    ref = np.pad(xr, pads)
    y = c.output("y", ref, q=IN_Q)
    return c.run("PAD", [x, p], [y]), ref, 0


def case_mean(c):
    x, xr = c.input("x", (1, 4, 4, 3))
    axis = c.b.const("axis", [1, 2], dtype="int32")
    ref = xr.mean(axis=(1, 2), keepdims=True)
    y = c.output("y", ref, q=(0.02, 1))
    return c.run("MEAN", [x, axis], [y], keep_dims=True), ref, 1


def case_quantize(c):
    """float32 -> int8 ("float32" variant) or int8 -> int8 requantization ("int8" variant)."""
    x, xr = c.input("x", (2, 8))
    y = c.output("y", xr, q=(0.1, 5), dtype="int8")
    return c.run("QUANTIZE", [x], [y]), xr, 0.5


def case_dequantize(c):
    """int8 or int16 (symmetric) -> float32; exact up to float rounding."""
    q = IN_Q if c.dtype == "int8" else (0.001, 0)
    x, xr = c.input("x", (2, 8), q=q)
    y = c.output("y", xr, dtype="float32")
    return c.run("DEQUANTIZE", [x], [y]), xr, 0


def hard_swish(x):
    return x * np.clip(x + 3, 0, 6) / 6


CASES = {
    "CONV_2D": case_conv_2d,
    "CONV_2D_strided_dilated": case_conv_2d_strided_dilated,
    "DEPTHWISE_CONV_2D": case_depthwise_conv_2d,
    "FULLY_CONNECTED": case_fully_connected,
    "AVERAGE_POOL_2D": _pool("AVERAGE_POOL_2D", np.mean, (2, 2), (2, 2), "VALID", tol=1),
    "MAX_POOL_2D": _pool("MAX_POOL_2D", np.max, (3, 3), (2, 2), "SAME", tol=0),
    "ADD": _binary("ADD", np.add, shape_b=(1, 1, 1, 3)),  # broadcast
    "SUB": _binary("SUB", np.subtract, activation="RELU"),
    "MUL": _binary("MUL", np.multiply),
    "RESHAPE": case_reshape,
    "SQUEEZE": case_squeeze,
    "SOFTMAX": case_softmax,
    # int8 LOGISTIC/TANH only run with these output parameters (see tflite_builder's docstring)
    "LOGISTIC": _unary("LOGISTIC", lambda x: 1 / (1 + np.exp(-x)), out_q=(1 / 256, -128)),
    "TANH": _unary("TANH", np.tanh, out_q=(1 / 128, 0)),
    "RELU": _unary("RELU", lambda x: np.maximum(x, 0), out_q=(0.03, -128)),
    "RELU6": _unary("RELU6", lambda x: np.clip(x, 0, 6), out_q=IN_Q, tol=0),
    "LEAKY_RELU": _unary("LEAKY_RELU", lambda x: np.where(x > 0, x, 0.1 * x), alpha=0.1),
    "HARD_SWISH": _unary("HARD_SWISH", hard_swish),
    "CONCATENATION": case_concatenation,
    "PAD": case_pad,
    "MEAN": case_mean,
    "QUANTIZE": case_quantize,
}
PARAMS = [(name, dt) for name in CASES for dt in ("float32", "int8")]
PARAMS += [("DEQUANTIZE", "int8"), ("DEQUANTIZE", "int16")]


@pytest.mark.parametrize("name,dtype", PARAMS)
def test_each_operator_runs_on_tflm_and_matches_numpy(name, dtype):
    c = Case(dtype)
    fn = case_dequantize if name == "DEQUANTIZE" else CASES[name]
    (out,), ref, tol_lsb = fn(c)
    assert out.shape == ref.shape
    if c.out_q is None:  # float output
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    else:
        assert out.dtype == np.int8
        scale, zp = c.out_q
        # +1e-6 absorbs float noise at exact half-step ties
        np.testing.assert_allclose(dequantize(out, scale, zp), ref, rtol=0,
                                   atol=(tol_lsb + 0.5) * scale + 1e-6)


# ---- the two models the brief names explicitly ----


def test_float_fully_connected_equals_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 16)).astype(np.float32)
    w = rng.normal(size=(10, 16)).astype(np.float32)
    bias = rng.normal(size=10).astype(np.float32)
    b = ModelBuilder()
    xi, yi = b.tensor("x", x.shape, "float32"), b.tensor("y", (3, 10), "float32")
    b.op("FULLY_CONNECTED", [xi, b.const("w", w), b.const("b", bias)], [yi])
    b.inputs([xi])
    b.outputs([yi])
    (out,) = run_tflm(b.build(), [x])
    np.testing.assert_allclose(out, x.astype(np.float64) @ w.T + bias, rtol=1e-6, atol=1e-6)


def test_fully_connected_without_bias_uses_minus_one():
    b = ModelBuilder()
    x, y = b.tensor("x", (1, 4), "float32"), b.tensor("y", (1, 2), "float32")
    w = np.arange(8, dtype=np.float32).reshape(2, 4)
    b.op("FULLY_CONNECTED", [x, b.const("w", w), -1], [y])
    b.inputs([x])
    b.outputs([y])
    (out,) = run_tflm(b.build(), [np.ones((1, 4), np.float32)])
    np.testing.assert_array_equal(out, [[6.0, 22.0]])


def _int8_conv_model(w_float, bias_float, in_q, out_q):
    wq, ws = quantize_weights_per_channel(w_float, axis=0)
    bq, bs = quantize_bias(bias_float, in_q[0], ws)
    b = ModelBuilder()
    x = b.tensor("input", (1, 8, 8, 3), "int8", *in_q)
    w = b.const("w", wq, scale=ws, zero_point=np.zeros(4), axis=0)
    bias = b.const("bias", bq, scale=bs, zero_point=0, axis=0)
    y = b.tensor("out", (1, 8, 8, 4), "int8", *out_q)
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride=(1, 1), dilation=(1, 1),
         activation="RELU")
    b.inputs([x])
    b.outputs([y])
    return b.build()


def test_int8_conv2d_per_channel_runs_and_depends_on_input():
    rng = np.random.default_rng(2)
    # Channel magnitudes differ by 100x so a per-tensor misreading of the scales would show.
    w = rng.normal(size=(4, 3, 3, 3)) * np.array([0.01, 0.1, 0.5, 1.0])[:, None, None, None]
    model = _int8_conv_model(w, rng.normal(size=4) * 0.1, (0.05, -3), (0.1, -128))
    x1 = rng.integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    x2 = rng.integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    (o1,), (o2,) = run_tflm(model, [x1]), run_tflm(model, [x2])
    assert o1.shape == (1, 8, 8, 4) and o1.dtype == np.int8
    assert not np.array_equal(o1, o2)
    assert np.array_equal(run_tflm(model, [x1])[0], o1)  # deterministic


def test_quantize_float_to_int8_int8_to_float_three_op_model():
    """float -> QUANTIZE -> int8 FULLY_CONNECTED -> DEQUANTIZE -> float, close to float math."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (4, 6)).astype(np.float32)
    w = rng.normal(0, 0.5, (5, 6)).astype(np.float32)
    bias = rng.normal(0, 0.1, 5).astype(np.float32)
    ref = x @ w.T + bias
    in_q, out_q = quant_params_for(-1, 1), quant_params_for(ref.min(), ref.max())
    wq, ws = quantize_weights_per_channel(w, 0)
    bq, bs = quantize_bias(bias, in_q[0], ws)

    b = ModelBuilder()
    xf, xq = b.tensor("x", x.shape, "float32"), b.tensor("xq", x.shape, "int8", *in_q)
    yq, yf = b.tensor("yq", ref.shape, "int8", *out_q), b.tensor("y", ref.shape, "float32")
    b.op("QUANTIZE", [xf], [xq])
    b.op("FULLY_CONNECTED", [xq, b.const("w", wq, scale=ws, axis=0),
                             b.const("b", bq, scale=bs, axis=0)], [yq])
    b.op("DEQUANTIZE", [yq], [yf])
    b.inputs([xf])
    b.outputs([yf])
    (out,) = run_tflm(b.build(), [x])
    # input rounding (<= in_scale/2 per element) and weight rounding bound the error loosely
    np.testing.assert_allclose(out, ref, atol=4 * out_q[0])


# ---- quantization helpers ----


def test_quantize_and_dequantize_helpers_are_bit_exact_with_tflm():
    x = np.concatenate([np.linspace(-7, 7, 301), (np.arange(-20, 20) + 0.5) * 0.05]).astype(
        np.float32)  # includes exact half-step ties
    scale, zp = 0.05, -3
    b = ModelBuilder()
    xf, xq, xd = (b.tensor("x", x.shape, "float32"), b.tensor("q", x.shape, "int8", scale, zp),
                  b.tensor("d", x.shape, "float32"))
    b.op("QUANTIZE", [xf], [xq])
    b.op("DEQUANTIZE", [xq], [xd])
    b.inputs([xf])
    b.outputs([xq, xd])
    q_tflm, d_tflm = run_tflm(b.build(), [x])
    np.testing.assert_array_equal(q_tflm, quantize(x, scale, zp))
    np.testing.assert_array_equal(d_tflm, dequantize(q_tflm, scale, zp))


def test_round_half_away_from_zero():
    v = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997], np.float32)
    np.testing.assert_array_equal(round_half_away(v), [-3, -2, -1, 1, 2, 3, 0, 0])


def test_quant_params_for_includes_zero_and_matches_tflite():
    assert quant_params_for(0.0, 6.0) == (np.float32(6 / 255), -128)
    assert quant_params_for(1.0, 6.0) == quant_params_for(0.0, 6.0)  # range widened to 0
    assert quant_params_for(-6.0, -1.0) == (np.float32(6 / 255), 127)
    scale, zp = quant_params_for(-1.0, 1.0)
    assert scale == np.float32(2 / 255) and zp == -1  # -128 + 127.5 rounds away from zero
    with pytest.raises(ValueError):
        quant_params_for(0.0, 0.0)


def test_quantize_weights_per_channel_symmetric():
    w = np.array([[[[1.0, -0.5]]], [[[0.0, 0.0]]], [[[-2.54, 0.3]]]], np.float32)  # (3,1,1,2)
    q, s = quantize_weights_per_channel(w, axis=0)
    np.testing.assert_allclose(s, np.float32([1 / 127, 1.0, 2.54 / 127]),
                               rtol=1e-7)
    assert q.dtype == np.int8 and q[0, 0, 0, 0] == 127 and q[2, 0, 0, 0] == -127
    assert np.all(q[1] == 0)
    q3, s3 = quantize_weights_per_channel(w, axis=3)  # depthwise layout: channel axis last
    np.testing.assert_allclose(s3, np.float32([2.54 / 127, 0.5 / 127]), rtol=1e-7)
    assert np.abs(q3.astype(int)).max() == 127


def test_quantize_bias_int32_with_product_scale():
    q, s = quantize_bias(np.array([0.1, -0.2, 100.0]), 0.05, np.array([0.01, 0.02, 0.5]))
    assert q.dtype == np.int32
    np.testing.assert_allclose(s, np.float32([0.0005, 0.001, 0.025]))
    np.testing.assert_array_equal(q, [200, -200, 4000])


# ---- the flatbuffer itself ----


def _sample_model():
    b = ModelBuilder()
    x, y = b.tensor("x", (1, 4), "int8", 0.5, 1), b.tensor("y", (1, 4), "int8", 0.5, 1)
    z = b.tensor("z", (1, 4), "int8", 0.5, 1)
    b.const("odd", np.arange(3, dtype=np.int8))  # odd length, to disturb alignment of the next
    w = b.const("w", np.ones(4, np.int32), scale=[0.1, 0.2, 0.3, 0.4], zero_point=0, axis=0)
    b.op("RELU", [x], [y])
    b.op("GELU", [y], [z])  # builtin code 150: only representable in builtin_code
    b.op("RELU", [y], [z])  # opcode reused
    b.inputs([x])
    b.outputs([z])
    return tflite.Model.GetRootAs(b.build(), 0), w


def test_model_header_buffers_and_opcodes():
    m, w = _sample_model()
    assert m.Version() == 3
    assert m.BuffersLength() == 3 and m.Buffers(0).DataLength() == 0
    codes = [(m.OperatorCodes(i).DeprecatedBuiltinCode(), m.OperatorCodes(i).BuiltinCode())
             for i in range(m.OperatorCodesLength())]
    assert codes == [(tflite.BuiltinOperator.RELU,) * 2, (127, tflite.BuiltinOperator.GELU)]
    sg = m.Subgraphs(0)
    assert [sg.Operators(i).OpcodeIndex() for i in range(sg.OperatorsLength())] == [0, 1, 0]
    for i in (1, 2):  # constant data starts 16-byte aligned within the file
        tab = m.Buffers(i)._tab
        assert tab.Vector(tab.Offset(4)) % 16 == 0
    q = sg.Tensors(w).Quantization()
    np.testing.assert_allclose(q.ScaleAsNumpy(), [0.1, 0.2, 0.3, 0.4], rtol=1e-7)
    assert list(q.ZeroPointAsNumpy()) == [0, 0, 0, 0] and q.QuantizedDimension() == 0


def test_bad_arguments_are_rejected():
    b = ModelBuilder()
    x = b.tensor("x", (1, 4), "float32")
    with pytest.raises(ValueError, match="unknown builtin"):
        b.op("NOT_AN_OP", [x], [x])
    with pytest.raises(TypeError):
        b.op("CONV_2D", [x], [x], stride=(1, 1), strides=(1, 1))
    with pytest.raises(TypeError, match="RELU takes no options"):
        b.op("RELU", [x], [x], alpha=0.1)
    with pytest.raises(ValueError, match="dtype"):
        b.const("c", [1, 2])
    with pytest.raises(ValueError, match="not static"):
        b.tensor("t", (1, -1), "float32")
    with pytest.raises(ValueError, match="zero points"):
        b.tensor("t", (2,), "int8", scale=[0.1, 0.2], zero_point=[0, 0, 0])


# Every option, read back with the tflite package's getters. Needed because TFLM does not look at
# some of them (MEAN keep_dims, RESHAPE new_shape, FULLY_CONNECTED keep_num_dims) and the numeric
# tests above use symmetric strides.
_ACT = tflite.ActivationFunctionType
_POOL = ("Pool2DOptions",
         dict(filter_size=(2, 3), padding="SAME", stride=(1, 2), activation="relu"),
         dict(FilterHeight=2, FilterWidth=3, Padding=tflite.Padding.SAME, StrideH=1, StrideW=2,
              FusedActivationFunction=_ACT.RELU))
_FUSED = (dict(activation="RELU_N1_TO_1"), dict(FusedActivationFunction=_ACT.RELU_N1_TO_1))
OPTION_READBACK = {  # op: (options table, builder keywords, getter -> expected value)
    "CONV_2D": ("Conv2DOptions",
                dict(padding="VALID", stride=(2, 3), dilation=(4, 5), activation="RELU6"),
                dict(Padding=tflite.Padding.VALID, StrideH=2, StrideW=3, DilationHFactor=4,
                     DilationWFactor=5, FusedActivationFunction=_ACT.RELU6)),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions",
                          dict(padding="VALID", stride=(3, 2), dilation=(1, 2),
                               depth_multiplier=3, activation="RELU"),
                          dict(Padding=tflite.Padding.VALID, StrideH=3, StrideW=2,
                               DilationHFactor=1, DilationWFactor=2, DepthMultiplier=3,
                               FusedActivationFunction=_ACT.RELU)),
    "FULLY_CONNECTED": ("FullyConnectedOptions", dict(activation="TANH", keep_num_dims=True),
                        dict(FusedActivationFunction=_ACT.TANH, KeepNumDims=True)),
    "AVERAGE_POOL_2D": _POOL,
    "MAX_POOL_2D": _POOL,
    "ADD": ("AddOptions", *_FUSED),
    "SUB": ("SubOptions", *_FUSED),
    "MUL": ("MulOptions", *_FUSED),
    "CONCATENATION": ("ConcatenationOptions", dict(axis=-2),
                      dict(Axis=-2, FusedActivationFunction=_ACT.NONE)),
    "RESHAPE": ("ReshapeOptions", dict(new_shape=(2, 24)), dict(NewShapeAsNumpy=[2, 24])),
    "SQUEEZE": ("SqueezeOptions", dict(squeeze_dims=(0, 2)), dict(SqueezeDimsAsNumpy=[0, 2])),
    "SOFTMAX": ("SoftmaxOptions", dict(beta=0.25), dict(Beta=0.25)),
    "LEAKY_RELU": ("LeakyReluOptions", dict(alpha=0.3), dict(Alpha=np.float32(0.3))),
    "MEAN": ("ReducerOptions", dict(keep_dims=True), dict(KeepDims=True)),
    "HARD_SWISH": ("HardSwishOptions", {}, {}),
    "PAD": ("PadOptions", {}, {}),
    "QUANTIZE": ("QuantizeOptions", {}, {}),
    "DEQUANTIZE": ("DequantizeOptions", {}, {}),
}


@pytest.mark.parametrize("op", sorted(OPTION_READBACK))
def test_builtin_options_read_back(op):
    table, kwargs, expected = OPTION_READBACK[op]
    b = ModelBuilder()
    x = b.tensor("x", (1, 4), "float32")
    b.op(op, [x], [x], **kwargs)
    operator = tflite.Model.GetRootAs(b.build(), 0).Subgraphs(0).Operators(0)
    assert operator.BuiltinOptionsType() == getattr(tflite.BuiltinOptions, table)
    options = getattr(tflite, table)()  # tflite.<Table> is the generated reader class
    options.Init(operator.BuiltinOptions().Bytes, operator.BuiltinOptions().Pos)
    for getter, value in expected.items():
        got = getattr(options, getter)()
        assert np.array_equal(got, value), (getter, got, value)


def test_option_less_ops_write_no_options_table():
    b = ModelBuilder()
    x = b.tensor("x", (1, 4), "float32")
    for op in ("RELU", "RELU6", "LOGISTIC", "TANH"):
        b.op(op, [x], [x])
    sg = tflite.Model.GetRootAs(b.build(), 0).Subgraphs(0)
    assert all(sg.Operators(i).BuiltinOptionsType() == tflite.BuiltinOptions.NONE
               for i in range(4))
