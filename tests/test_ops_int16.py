"""16x8 operators (int16 activations, int8 weights, int64 bias) and TRANSPOSE_CONV (int8, int16,
float32): microc's C, built with ASan/UBSan, against TFLM bit for bit (float32 within FLOAT_RTOL)."""
import numpy as np
import pytest

import harness
from test_ops_pool import check_sanitized
from test_ops_shape import _refused
from tflite_builder import ModelBuilder, run_tflm

RNG = np.random.default_rng(16)


def s16(b, name, shape, scale):
    return b.tensor(name, shape, "int16", scale=scale, zero_point=0)


def conv_weights(b, tag, out_c, k_h, k_w, in_c, in_scale, bias="int64"):
    """Per-channel int8 weights [out_c, k_h, k_w, in_c] and a bias of the given type (or none)."""
    w_s = RNG.uniform(0.002, 0.02, out_c).astype(np.float32)
    w = b.const(f"w{tag}", RNG.integers(-127, 128, (out_c, k_h, k_w, in_c)).astype(np.int8),
                scale=w_s, zero_point=0, axis=0)
    if bias is None:
        return w, None
    data = RNG.integers(-30000, 30000, out_c).astype(bias)
    return w, b.const(f"b{tag}", data, scale=w_s * np.float32(in_scale), zero_point=0, axis=0)


def int16_samples(shapes, n=3, dtypes=None):
    """Random int16 samples over the whole range, then all minimum and all maximum."""
    dtypes = dtypes or ["int16"] * len(shapes)
    out = [[RNG.integers(np.iinfo(d).min, np.iinfo(d).max, s, endpoint=True).astype(d)
            if d != "float32" else RNG.normal(0, 8, s).astype(np.float32) for s, d in zip(shapes, dtypes)]
           for _ in range(n)]
    return out + [[np.full(s, np.iinfo(d).min if d != "float32" else -1e3, d) for s, d in zip(shapes, dtypes)],
                  [np.full(s, np.iinfo(d).max if d != "float32" else 1e3, d) for s, d in zip(shapes, dtypes)]]


CONV_CASES = [  # input shape, out_c, kernel, stride, dilation, padding, bias type, activation
    ((1, 6, 7, 3), 4, (3, 3), (1, 1), (1, 1), "SAME", "int64", "NONE"),
    ((2, 7, 9, 5), 3, (3, 2), (2, 3), (1, 1), "SAME", "int64", "RELU"),
    ((1, 8, 8, 2), 5, (3, 3), (1, 1), (2, 2), "VALID", None, "RELU6"),
    ((1, 5, 6, 4), 2, (2, 2), (1, 2), (1, 1), "VALID", "int32", "NONE"),
]


def conv_model():
    """One model of every 16x8 multiply-accumulate case (one sanitized build)."""
    b, ins, shapes, outs = ModelBuilder(), [], [], []
    for k, (shape, out_c, (kh, kw), stride, dil, padding, bias, act) in enumerate(CONV_CASES):
        x = s16(b, f"x{k}", shape, 0.002)
        w, bt = conv_weights(b, k, out_c, kh, kw, shape[3], 0.002, bias)
        eff = [(kk - 1) * d + 1 for kk, d in zip((kh, kw), dil)]
        hw = [-(-n // s) if padding == "SAME" else (n - e) // s + 1
              for n, e, s in zip(shape[1:3], eff, stride)]
        y = s16(b, f"y{k}", (shape[0], *hw, out_c), 0.004)
        b.op("CONV_2D", [x, w, bt if bt is not None else -1], [y], padding=padding, stride=stride,
             dilation=dil, activation=act)
        ins, shapes, outs = ins + [x], shapes + [shape], outs + [y]
    # DEPTHWISE_CONV_2D (depth multiplier 2, SAME, stride 2; int64 bias), FULLY_CONNECTED
    x = s16(b, "dx", (1, 5, 6, 3), 0.003)
    dw_s = RNG.uniform(0.002, 0.02, 6).astype(np.float32)
    dw = b.const("dw", RNG.integers(-127, 128, (1, 3, 3, 6)).astype(np.int8), scale=dw_s, zero_point=0, axis=3)
    dwb = b.const("dwb", RNG.integers(-30000, 30000, 6).astype(np.int64), scale=dw_s * np.float32(0.003),
                  zero_point=0, axis=0)
    dy = s16(b, "dy", (1, 3, 3, 6), 0.005)
    b.op("DEPTHWISE_CONV_2D", [x, dw, dwb], [dy], padding="SAME", stride=(2, 2), depth_multiplier=2,
         activation="RELU")
    ins, shapes, outs = ins + [x], shapes + [(1, 5, 6, 3)], outs + [dy]
    for k, (bias, per_channel) in enumerate((("int64", True), ("int32", False), (None, True))):
        x = s16(b, f"fx{k}", (2, 20), 0.003)
        w_s = RNG.uniform(0.002, 0.02, 7 if per_channel else 1).astype(np.float32)
        w = b.const(f"fw{k}", RNG.integers(-127, 128, (7, 20)).astype(np.int8), scale=w_s, zero_point=0, axis=0)
        bt = -1 if bias is None else b.const(f"fb{k}", RNG.integers(-30000, 30000, 7).astype(bias),
                                             scale=np.resize(w_s, 7) * np.float32(0.003), zero_point=0, axis=0)
        y = s16(b, f"fy{k}", (2, 7), 0.02)
        b.op("FULLY_CONNECTED", [x, w, bt], [y])
        ins, shapes, outs = ins + [x], shapes + [(2, 20)], outs + [y]
    b.inputs(ins)
    b.outputs(outs)
    return b.build(), shapes


def test_int16_conv_fc_matches_tflm(tmp_path):
    """CONV_2D (int64 bias: TFLM's int64 requantization; no bias; int32 bias: its int32 one), SAME and
    VALID, strides, dilations, fused activations; DEPTHWISE_CONV_2D; FULLY_CONNECTED per channel and
    per tensor."""
    model, shapes = conv_model()
    check_sanitized(model, int16_samples(shapes), tmp_path)


def test_int16_elementwise_matches_tflm(tmp_path):
    """ADD/SUB (same shape, broadcast, fused RELU, different scales), MUL (broadcast), LEAKY_RELU (output scale
    different from the input's), PAD (pads with 0), STRIDED_SLICE, CONCATENATION, QUANTIZE between
    int8, int16, int32 and from float32, DEQUANTIZE int16."""
    b = ModelBuilder()
    a = s16(b, "a", (1, 3, 4, 8), 0.001)
    c = s16(b, "c", (8,), 0.0003)
    add = s16(b, "add", (1, 3, 4, 8), 0.0015)
    b.op("ADD", [a, c], [add])
    sub = s16(b, "sub", (1, 3, 4, 8), 0.0007)
    b.op("SUB", [c, a], [sub], activation="RELU")
    mul = s16(b, "mul", (1, 3, 4, 8), 0.00001)
    b.op("MUL", [a, c], [mul])
    leaky = s16(b, "leaky", (1, 3, 4, 8), 0.0004)
    b.op("LEAKY_RELU", [add], [leaky], alpha=0.3)
    pads = b.const("pads", np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32))
    pad = s16(b, "pad", (1, 6, 5, 8), 0.0004)
    b.op("PAD", [leaky, pads], [pad])
    begin, end, strides = (b.const(n, np.array(v, np.int32)) for n, v in
                           (("begin", [0, 5, 1, 1]), ("end", [1, 0, 5, 8]), ("strides", [1, -2, 2, 3])))
    sl = s16(b, "slice", (1, 3, 2, 3), 0.0004)
    b.op("STRIDED_SLICE", [pad, begin, end, strides], [sl])
    cat = s16(b, "cat", (1, 3, 4, 16), 0.001)
    b.op("CONCATENATION", [a, sub], [cat], axis=3)
    q8 = b.tensor("q8", (1, 3, 4, 8), "int8", scale=0.01, zero_point=5)
    b.op("QUANTIZE", [add], [q8])
    q16 = s16(b, "q16", (1, 3, 4, 8), 0.0002)
    b.op("QUANTIZE", [q8], [q16])
    q32 = b.tensor("q32", (1, 3, 4, 8), "int32", scale=1.5e-7, zero_point=0)
    b.op("QUANTIZE", [q16], [q32])
    back = s16(b, "back", (1, 3, 4, 8), 0.0009)
    b.op("QUANTIZE", [q32], [back])
    f = b.tensor("f", (5, 7), "float32")
    qf = s16(b, "qf", (5, 7), 0.05)
    b.op("QUANTIZE", [f], [qf])
    deq = b.tensor("deq", (1, 3, 4, 8), "float32")
    b.op("DEQUANTIZE", [back], [deq])
    b.inputs([a, c, f])
    b.outputs([add, sub, mul, leaky, pad, sl, cat, q8, q16, q32, back, qf, deq])
    samples = int16_samples([(1, 3, 4, 8), (8,), (5, 7)], dtypes=["int16", "int16", "float32"])
    check_sanitized(b.build(), samples, tmp_path)


# ---- TRANSPOSE_CONV: inputs output_shape, filter [out_c, k_h, k_w, in_c], input, bias ----

TCONV_CASES = [  # input shape, out_c, kernel, stride, padding, output H/W, bias, activation
    ((1, 3, 4, 3), 2, (3, 3), (2, 2), "SAME", (6, 8), True, "NONE"),
    ((1, 3, 4, 3), 2, (3, 3), (2, 2), "VALID", (7, 9), True, "RELU"),
    ((1, 3, 4, 3), 2, (3, 3), (2, 2), "VALID", (8, 10), False, "NONE"),  # output padding: one extra row/col
    ((2, 4, 3, 2), 3, (2, 4), (1, 3), "SAME", (4, 9), True, "NONE"),
    ((1, 2, 2, 4), 5, (4, 4), (3, 2), "VALID", (9, 6), True, "RELU6"),
    ((1, 5, 5, 2), 2, (1, 1), (1, 1), "SAME", (5, 5), True, "NONE"),
]


def add_tconv(b, dtype, tag, shape, out_c, kernel, stride, padding, out_hw, has_bias, act):
    kh, kw = kernel
    out_shape = (shape[0], *out_hw, out_c)
    oshape = b.const(f"shape{tag}", np.array(out_shape, np.int32))
    if dtype == "float32":
        x = b.tensor(f"x{tag}", shape, "float32")
        w = b.const(f"w{tag}", RNG.normal(0, 1, (out_c, kh, kw, shape[3])).astype(np.float32))
        bt = b.const(f"b{tag}", RNG.normal(0, 1, out_c).astype(np.float32)) if has_bias else -1
        y = b.tensor(f"y{tag}", out_shape, "float32")
    else:
        in_s = 0.002 if dtype == "int16" else 0.05
        x = b.tensor(f"x{tag}", shape, dtype, scale=in_s, zero_point=0 if dtype == "int16" else -7)
        w, bt = conv_weights(b, tag, out_c, kh, kw, shape[3], in_s,
                             ("int64" if dtype == "int16" else "int32") if has_bias else None)
        bt = -1 if bt is None else bt
        y = b.tensor(f"y{tag}", out_shape, dtype, scale=0.004 if dtype == "int16" else 0.3,
                     zero_point=0 if dtype == "int16" else 3)
    b.op("TRANSPOSE_CONV", [oshape, w, x, bt], [y], padding=padding, stride=stride, activation=act)
    return x, y


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_transpose_conv_matches_tflm(dtype, tmp_path):
    """Strides 1-3, SAME and VALID, output padding (outputs larger than the minimal size), no bias,
    fused activations, batches."""
    b, ins, shapes, outs = ModelBuilder(), [], [], []
    for k, case in enumerate(TCONV_CASES):
        x, y = add_tconv(b, dtype, str(k), *case)
        ins, shapes, outs = ins + [x], shapes + [case[0]], outs + [y]
    b.inputs(ins)
    b.outputs(outs)
    check_sanitized(b.build(), int16_samples(shapes, n=2, dtypes=[dtype] * len(shapes)), tmp_path)


W16 = {"CONV_2D": {"kernel": "gemm", "weights": "int16"}, "FULLY_CONNECTED": {"weights": "int16"},
       "TRANSPOSE_CONV": {"weights": "int16"}}


def long_sums_model():
    """TRANSPOSE_CONV int16 cases, a CONV_2D of 600-value patches (5x5x24, SAME, stride 2), and a
    FULLY_CONNECTED of 1,000 inputs (weights of -128 and 127 mixed in) whose all -32768 sample sums to
    about 2^31.5: more than the int32 runs hold, which the int16-weight kernels must hand to int64 in
    time (outputs scaled so that the sums stay visible)."""
    b, ins, shapes, outs = ModelBuilder(), [], [], []
    for k, case in enumerate(TCONV_CASES):
        x, y = add_tconv(b, "int16", str(k), *case)
        ins, shapes, outs = ins + [x], shapes + [case[0]], outs + [y]
    x = s16(b, "cx", (1, 5, 6, 24), 0.002)
    w, bt = conv_weights(b, "c", 5, 5, 5, 24, 0.002)
    y = s16(b, "cy", (1, 3, 3, 5), 0.03)
    b.op("CONV_2D", [x, w, bt], [y], padding="SAME", stride=(2, 2))
    ins, shapes, outs = ins + [x], shapes + [(1, 5, 6, 24)], outs + [y]
    x = s16(b, "lx", (2, 1000), 0.001)
    w = RNG.integers(-127, 128, (6, 1000)).astype(np.int8)
    w[0], w[1, :700] = -128, 127
    wt = b.const("lw", w, scale=np.full(6, 0.01, np.float32), zero_point=0, axis=0)
    y = s16(b, "ly", (2, 6), 1.0)
    b.op("FULLY_CONNECTED", [x, wt, -1], [y])
    b.inputs(ins + [x])
    b.outputs(outs + [y])
    return b.build(), shapes + [(2, 1000)]


def test_int16_weight_schedules_match_tflm(tmp_path):
    """The schedules with int16 weights (CONV_2D "gemm", FULLY_CONNECTED and TRANSPOSE_CONV "int16",
    the default on DSP targets) in their portable C under ASan/UBSan: every case of conv_model and of
    long_sums_model bit for bit with TFLM (UBSan would flag an int32 partial sum that overflows)."""
    for k, (model, shapes) in enumerate((conv_model(), long_sums_model())):
        path = tmp_path / f"m{k}.tflite"
        path.write_bytes(model)
        samples = int16_samples(shapes, n=2)
        schedules = W16 if k else {t: W16[t] for t in ("CONV_2D", "FULLY_CONNECTED")}
        got = harness.compile_and_run_sanitized(path, samples, tmp_path / str(k), schedules=schedules)
        for j, (sample, outs) in enumerate(zip(samples, got)):
            for i, (ref, out) in enumerate(zip(run_tflm(model, sample), outs)):
                np.testing.assert_array_equal(out, ref, err_msg=f"model {k}, sample {j}, output {i}")
    assert np.abs(run_tflm(model, samples[-2])[-1]).max() > 20000  # the long sums reached the output


def test_int16_refuses_a_nonzero_zero_point(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (1, 4, 4, 2), "int16", scale=0.01, zero_point=3)
    w, bt = conv_weights(b, "", 2, 3, 3, 2, 0.01)
    y = s16(b, "y", (1, 4, 4, 2), 0.02)
    b.op("CONV_2D", [x, w, bt], [y])
    b.inputs([x])
    b.outputs([y])
    _refused(b.build(), tmp_path, "zero point 0")


def test_int16_logistic_tanh_softmax_match_tflm(tmp_path):
    """LOGISTIC and TANH int16 (TFLM's table interpolation) over every int16 input: power-of-two input
    scales (2^-12 is the POT case of both, 2^-11 of TANH only) and general ones; SOFTMAX int16 (TFLM's
    two interpolated tables) over rows of 256, several betas."""
    b, ins, outs = ModelBuilder(), [], []
    for k, (in_scale, beta) in enumerate(((0.001, 1.0), (0.0001, 2.0), (0.05, 0.5))):
        y = s16(b, f"softmax{k}", (256, 256), 1 / 32768)
        x = s16(b, f"sx{k}", (256, 256), in_scale)
        b.op("SOFTMAX", [x], [y], beta=beta)
        ins, outs = ins + [x], outs + [y]
    for k, in_scale in enumerate((2.0**-12, 2.0**-11, 0.0007, 0.01, 2.5)):
        x = s16(b, f"x{k}", (256, 256), in_scale)
        for op in ("LOGISTIC", "TANH"):
            y = s16(b, f"{op.lower()}{k}", (256, 256), 2.0**-15)
            b.op(op, [x], [y])
            outs.append(y)
        ins.append(x)
    b.inputs(ins)
    b.outputs(outs)
    every = np.arange(-32768, 32768, dtype=np.int16).reshape(256, 256)
    shuffled = np.random.default_rng(7).permutation(every.reshape(-1)).reshape(256, 256)
    check_sanitized(b.build(), [[shuffled] * 3 + [every] * (len(ins) - 3)], tmp_path)


OPS16_SHAPES = [(2, 4, 6, 3), (3,), (5, 7), (1, 3, 4), (2, 3, 5), (2, 3, 5)]


def ops16_model() -> bytes:
    """SPLIT, SPLIT_V (negative axis), TRANSPOSE (rank 4 and 1), RESIZE_NEAREST_NEIGHBOR (plain,
    align_corners, half_pixel_centers), MAXIMUM and MINIMUM (same shape, broadcast; raw comparisons
    whatever the scales, as TFLM); AVERAGE_POOL_2D (SAME edges with fewer taps, VALID, fused RELU6);
    RELU (output scale smaller and larger than the input's), RELU6 (6.0 at 6000, and past int16);
    BATCH_MATMUL (constant rhs; computed operands with adj_y; adj_x with broadcast batches: TFLM's int64
    sums and int64 requantization); MEAN and SUM (TFLM's QuantizedMeanOrSum: inner, outer and all axes,
    keep_dims); SQUARED_DIFFERENCE (broadcast, equal operands, different scales); PADV2 (a constant pad
    value), SQUEEZE: one model (inputs of OPS16_SHAPES), one build."""
    b, outs = ModelBuilder(), []
    x = s16(b, "x", (2, 4, 6, 3), 0.001)
    z = s16(b, "z", (3,), 0.0005)

    def out(name, shape, scale=0.001):
        outs.append(s16(b, name, shape, scale))
        return outs[-1]

    def ints(name, values):
        return b.const(name, np.array(values, np.int32))
    b.op("SPLIT", [ints("ax0", 2), x], [out("split0", (2, 4, 3, 3)), out("split1", (2, 4, 3, 3))],
         num_splits=2)
    b.op("SPLIT_V", [x, ints("sizes", [1, 2, 1]), ints("ax1", [-3])],
         [out("splitv0", (2, 1, 6, 3)), out("splitv1", (2, 2, 6, 3)), out("splitv2", (2, 1, 6, 3))],
         num_splits=3)
    b.op("TRANSPOSE", [x, ints("perm4", [3, 0, 2, 1])], [out("t4", (3, 2, 6, 4))])
    b.op("TRANSPOSE", [z, ints("perm1", [0])], [out("t1", (3,), 0.0005)])
    for k, (hw, opts) in enumerate((((7, 5), {}), ((3, 9), {"align_corners": True}),
                                    ((8, 4), {"half_pixel_centers": True}))):
        b.op("RESIZE_NEAREST_NEIGHBOR", [x, ints(f"size{k}", hw)], [out(f"nearest{k}", (2, *hw, 3))], **opts)
    b.op("MAXIMUM", [x, z], [out("max", (2, 4, 6, 3))])
    b.op("MINIMUM", [z, x], [out("min", (2, 4, 6, 3), 0.002)])
    b.op("MAXIMUM", [x, x], [out("max_same", (2, 4, 6, 3))])
    for k, (hw, stride, padding, act, out_hw) in enumerate((((3, 3), (1, 1), "SAME", "NONE", (4, 6)),
                                                            ((2, 2), (2, 2), "VALID", "RELU6", (2, 3)),
                                                            ((3, 2), (2, 1), "SAME", "NONE", (2, 6)))):
        b.op("AVERAGE_POOL_2D", [x], [out(f"avg{k}", (2, *out_hw, 3))], filter_size=hw, stride=stride,
             padding=padding, activation=act)
    b.op("RELU", [x], [out("relu_down", (2, 4, 6, 3), 0.0023)])
    b.op("RELU", [x], [out("relu_up", (2, 4, 6, 3), 0.0004)])
    b.op("RELU6", [x], [out("relu6", (2, 4, 6, 3))])
    w = s16(b, "w", (5, 7), 0.0001)  # 6.0 is past int16: TFLM clamps it to 32767
    b.op("RELU6", [w], [out("relu6_all", (5, 7), 0.0001)])
    rhs = b.const("rhs", RNG.integers(-32768, 32768, (3, 5)).astype(np.int16), scale=0.0005, zero_point=0)
    b.op("BATCH_MATMUL", [x, rhs], [out("mm_const", (2, 4, 6, 5), 0.02)])
    b.op("BATCH_MATMUL", [x, x], [out("mm_adj_y", (2, 4, 6, 6), 0.05)], adj_y=True)
    m = s16(b, "m", (1, 3, 4), 0.002)
    r = s16(b, "r", (2, 3, 5), 0.0007)
    b.op("BATCH_MATMUL", [m, r], [out("mm_adj_x", (2, 4, 5), 0.03)], adj_x=True)
    for k, (op, axes, keep, shape, scale) in enumerate((("MEAN", [1, 2], True, (2, 1, 1, 3), 0.0007),
                                                        ("MEAN", [3, 0], False, (4, 6), 0.001),
                                                        ("SUM", [2], False, (2, 4, 3), 0.004),
                                                        ("SUM", [0, 1, 2, 3], True, (1, 1, 1, 1), 0.1))):
        b.op(op, [x, ints(f"axes{k}", axes)], [out(f"{op.lower()}{k}", shape, scale)], keep_dims=keep)
    r2 = s16(b, "r2", (2, 3, 5), 0.0003)
    b.op("SQUARED_DIFFERENCE", [x, z], [out("sqdiff", (2, 4, 6, 3), 0.05)])
    b.op("SQUARED_DIFFERENCE", [m, m], [out("sqdiff_same", (1, 3, 4), 0.001)])
    b.op("SQUARED_DIFFERENCE", [r, r2], [out("sqdiff_scales", (2, 3, 5), 0.02)])
    value = b.const("value", np.array([-1234], np.int16), scale=0.001, zero_point=0)
    b.op("PADV2", [x, ints("pads", [[0, 1], [2, 0], [0, 0], [1, 2]]), value], [out("padv2", (3, 6, 6, 6))])
    b.op("SQUEEZE", [m], [out("squeeze", (3, 4), 0.002)], squeeze_dims=(0,))
    b.inputs([x, z, w, m, r, r2])
    b.outputs(outs)
    return b.build()


def test_int16_copies_comparisons_pools_relus_match_tflm(tmp_path):
    """The operators of ops16_model, under ASan/UBSan (tests/test_ops_m4.py runs them on the Cortex-M4F)."""
    check_sanitized(ops16_model(), int16_samples(OPS16_SHAPES), tmp_path)


def test_int16_resize_bilinear_is_refused(tmp_path):
    """TFLM has no int16 RESIZE_BILINEAR: a one-line error with the supported types."""
    b = ModelBuilder()
    x, y = s16(b, "x", (1, 2, 2, 1), 0.01), s16(b, "y", (1, 3, 3, 1), 0.01)
    b.op("RESIZE_BILINEAR", [x, b.const("size", np.array([3, 3], np.int32))], [y])
    b.inputs([x])
    b.outputs([y])
    _refused(b.build(), tmp_path, r"int16 -> int16 is not supported \(supported: int8, float32\)")


def test_int16_batch_matmul_refuses_a_nonzero_zero_point(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (2, 3), "int16", scale=0.01, zero_point=4)
    w, y = s16(b, "w", (3, 4), 0.01), s16(b, "y", (2, 4), 0.02)
    b.op("BATCH_MATMUL", [x, w], [y])
    b.inputs([x, w])
    b.outputs([y])
    _refused(b.build(), tmp_path, "int16 tensors need zero point 0")
