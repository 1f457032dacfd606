"""The ONNX importer: small models built with onnx.helper, compiled to C by microc and run on the host,
against onnxruntime (float32: within FLOAT_RTOL x the largest reference magnitude); the IR it produces
(layout: no transposes inside the graph); and bad input."""
import numpy as np
import onnx
import pytest

import harness
from microc.codegen.generate import generate
from microc.errors import ModelFormatError, UnsupportedOperator
from microc.frontends import load_model
from onnx_builder import OnnxModel, assert_close, run_ort


def check(m: OnnxModel, tmp_path, shapes, n=2, seed=0, scale=1.0):
    """Compile m with microc, run n random samples on the host, compare with onnxruntime."""
    path = m.save(tmp_path / "model.onnx")
    rng = np.random.default_rng(seed)
    samples = [[(rng.standard_normal(s) * scale).astype(np.float32) for s in shapes] for _ in range(n)]
    got = harness.compile_and_run(path, samples, tmp_path / "build")
    for sample, outs in zip(samples, got):
        assert_close(outs, run_ort(path, sample))
    return load_model(path)


def op_types(graph):
    return [op.type for op in graph.ops]


# ---- convolution --------------------------------------------------------------------------------

def small_cnn(m: OnnxModel, channels=3):
    x = m.input("x", [1, channels, 8, 8])
    y = m.node("Conv", [x, m.weight(4, channels, 3, 3), m.weight(4)], pads=[1, 1, 1, 1])
    stats = [[1, 2, .5, 1], [0, .1, .2, .3], [.1, 0, -.1, .2], [1, 2, 3, .5]]  # scale, bias, mean, var
    y = m.node("BatchNormalization", [y] + [m.const(np.float32(s)) for s in stats])
    y = m.node("Relu", [y])
    y = m.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = m.node("Flatten", [y])
    y = m.node("Gemm", [y, m.weight(10, 64), m.weight(10)], transB=1)
    m.output(m.node("Softmax", [y]))


def test_cnn_with_batchnorm_relu_pool_flatten_gemm(tmp_path):
    m = OnnxModel()
    small_cnn(m)
    graph = check(m, tmp_path, [(1, 3, 8, 8)])
    # BN and Relu fold into the conv; the Flatten of NHWC data becomes a column permutation of the
    # Gemm weights: one TRANSPOSE at the input (C=3), none inside.
    assert op_types(graph) == ["TRANSPOSE", "CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"]
    assert graph.ops[1].attrs["activation"] == "RELU"


def test_single_channel_input_is_a_reshape(tmp_path):
    m = OnnxModel()
    small_cnn(m, channels=1)
    graph = check(m, tmp_path, [(1, 1, 8, 8)])
    assert op_types(graph)[0] == "RESHAPE" and "TRANSPOSE" not in op_types(graph)


@pytest.mark.parametrize("group,out_c", [(1, 6), (3, 6), (6, 6), (6, 12), (2, 4)])
def test_conv_groups_and_depthwise(tmp_path, group, out_c):
    m = OnnxModel()
    x = m.input("x", [1, 6, 7, 7])
    y = m.node("Conv", [x, m.weight(out_c, 6 // group, 3, 3), m.weight(out_c)], group=group,
               strides=[2, 1], pads=[0, 1, 2, 1])
    m.output(y)
    graph = check(m, tmp_path, [(1, 6, 7, 7)])
    conv = graph.ops[1]
    if group == 6:
        assert conv.type == "DEPTHWISE_CONV_2D" and conv.attrs["depth_multiplier"] == out_c // 6
    else:
        assert conv.type == "CONV_2D"


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad_dilation(tmp_path, auto_pad):
    m = OnnxModel()
    x = m.input("x", [1, 2, 9, 8])
    m.output(m.node("Conv", [x, m.weight(3, 2, 3, 2)], auto_pad=auto_pad, strides=[2, 2],
                    dilations=[1, 2] if auto_pad == "VALID" else [1, 1]))
    check(m, tmp_path, [(1, 2, 9, 8)])


@pytest.mark.parametrize("lo,hi,fused", [(0.0, 6.0, "RELU6"), (-1.0, 1.0, "RELU_N1_TO_1")])
def test_clip_fuses_into_conv(tmp_path, lo, hi, fused):
    m = OnnxModel()
    x = m.input("x", [1, 2, 5, 5])
    y = m.node("Conv", [x, m.weight(2, 2, 1, 1, scale=4.0)])
    m.output(m.node("Clip", [y, m.const(np.float32(lo)), m.const(np.float32(hi))]))
    graph = check(m, tmp_path, [(1, 2, 5, 5)], scale=3.0)
    assert graph.ops[1].attrs["activation"] == fused


# ---- element-wise and activations ----------------------------------------------------------------

@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_binary_broadcast_on_nchw_conv_output(tmp_path, op):
    m = OnnxModel()
    x = m.input("x", [1, 3, 4, 5])
    y = m.node("Conv", [x, m.weight(3, 3, 1, 1)])
    y = m.node(op, [y, m.weight(3, 1, 1)])  # per-channel constant, broadcast in NHWC order
    y = m.node(op, [m.weight(5), y])  # a constant along W, first operand
    y = m.node(op, [y, x])  # two run-time tensors
    m.output(m.node("Relu", [y]))
    graph = check(m, tmp_path, [(1, 3, 4, 5)])
    assert op_types(graph) == ["TRANSPOSE", "CONV_2D", op.upper(), op.upper(), op.upper(), "TRANSPOSE"]
    assert graph.ops[-2].attrs["activation"] == "RELU"  # fused


@pytest.mark.parametrize("op,attrs", [("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("HardSwish", {}),
                                      ("LeakyRelu", {"alpha": 0.2}), ("HardSigmoid", {}),
                                      ("HardSigmoid", {"alpha": 0.3, "beta": 0.4})])
def test_activations(tmp_path, op, attrs):
    m = OnnxModel()
    x = m.input("x", [2, 3, 7])
    m.output(m.node(op, [x], **attrs))
    check(m, tmp_path, [(2, 3, 7)], scale=4.0)


@pytest.mark.parametrize("bounds,op", [((0.0, None), "RELU"), ((0.0, 6.0), "RELU6"),
                                      ((-1.0, 1.0), "RELU_N1_TO_1")])
def test_clip_alone(tmp_path, bounds, op):
    m = OnnxModel()
    x = m.input("x", [4, 6])
    ins = [x, m.const(np.float32(bounds[0]))] + ([m.const(np.float32(bounds[1]))] if bounds[1] else [])
    m.output(m.node("Clip", ins))
    assert op_types(load_model(m.save(tmp_path / "ir.onnx"))) == [op]
    check(m, tmp_path, [(4, 6)], scale=5.0)


def test_standalone_batchnorm_identity_dropout(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 3, 4, 4])
    y = m.node("Identity", [x])
    y = m.node("BatchNormalization", [y, m.weight(3), m.weight(3), m.weight(3),
                                      m.const(np.float32([1, 2, 3]))], epsilon=1e-3)
    m.output(m.node("Dropout", [y]))
    check(m, tmp_path, [(2, 3, 4, 4)])


# ---- pooling and reductions -------------------------------------------------------------------------

@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
    dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]),
])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pools(tmp_path, op, attrs):
    if op == "MaxPool":
        attrs = {k: v for k, v in attrs.items() if k != "count_include_pad"}
    m = OnnxModel()
    x = m.input("x", [1, 2, 7, 8])
    m.output(m.node(op, [x], **attrs))
    check(m, tmp_path, [(1, 2, 7, 8)])


def test_global_average_pool_then_gemm(tmp_path):
    m = OnnxModel()
    x = m.input("x", [1, 4, 5, 5])
    y = m.node("Conv", [x, m.weight(8, 4, 3, 3)])
    y = m.node("GlobalAveragePool", [y])
    y = m.node("Flatten", [y])
    m.output(m.node("Gemm", [y, m.weight(8, 3), m.weight(3)]))
    graph = check(m, tmp_path, [(1, 4, 5, 5)])
    assert op_types(graph) == ["TRANSPOSE", "CONV_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED"]


@pytest.mark.parametrize("axes,keep", [([2, 3], 1), ([1], 0), ([3], 0), ([1, 2], 0), ([-1, 1], 1)])
def test_reduce_mean_axes_in_nhwc(tmp_path, axes, keep):
    for opset in (13, 18):
        m = OnnxModel(opset=opset)
        x = m.input("x", [2, 3, 4, 5])
        y = m.node("Relu", [m.node("Conv", [x, m.weight(3, 3, 1, 1)])])
        if opset < 18:
            m.output(m.node("ReduceMean", [y], axes=axes, keepdims=keep))
        else:
            m.output(m.node("ReduceMean", [y, m.const(np.int64(axes))], keepdims=keep))
        (tmp_path / str(opset)).mkdir()
        check(m, tmp_path / str(opset), [(2, 3, 4, 5)])


# ---- shapes and axes ----------------------------------------------------------------------------------

def test_shape_ops_move_no_data(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 12])
    y = m.node("Reshape", [x, m.const(np.int64([2, 3, 4]))])
    y = m.node("Unsqueeze", [y, m.const(np.int64([1]))])
    y = m.node("Transpose", [y], perm=[0, 2, 1, 3])  # moves a size-1 axis only: no data moves
    y = m.node("Squeeze", [y, m.const(np.int64([2]))])
    m.output(m.node("Tanh", [y]))
    graph = check(m, tmp_path, [(2, 12)])
    assert "TRANSPOSE" not in op_types(graph)


def test_transposes_cancel(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 3, 4])
    y = m.node("Transpose", [x], perm=[2, 0, 1])
    y = m.node("Sigmoid", [y])
    m.output(m.node("Transpose", [y], perm=[1, 2, 0]))
    assert op_types(check(m, tmp_path, [(2, 3, 4)])) == ["LOGISTIC"]


def test_transpose_output(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 3, 4])
    m.output(m.node("Transpose", [m.node("Relu", [x])], perm=[1, 2, 0]))
    assert op_types(check(m, tmp_path, [(2, 3, 4)])) == ["RELU", "TRANSPOSE"]


@pytest.mark.parametrize("axis", [1, -1, 2])
def test_concat_axis_remapped(tmp_path, axis):
    m = OnnxModel()
    x = m.input("x", [1, 2, 4, 4])
    a = m.node("Conv", [x, m.weight(3, 2, 1, 1)])
    b = m.node("Conv", [x, m.weight(3 if axis == 1 else 2, 2, 1, 1)])
    other = b if axis == 1 else m.node("Conv", [x, m.weight(3, 2, 1, 1)])
    m.output(m.node("Concat", [a, other], axis=axis))
    graph = check(m, tmp_path, [(1, 2, 4, 4)])
    assert graph.ops[-2].type == "CONCATENATION" or graph.ops[-1].type == "CONCATENATION"


def test_concat_with_constant(tmp_path):
    m = OnnxModel()
    x = m.input("x", [3, 4])
    m.output(m.node("Concat", [x, m.weight(2, 4)], axis=0))
    check(m, tmp_path, [(3, 4)])


def test_pad_nchw(tmp_path):
    m = OnnxModel()
    x = m.input("x", [1, 3, 4, 4])
    y = m.node("Conv", [x, m.weight(3, 3, 1, 1)])
    y = m.node("Pad", [y, m.const(np.int64([0, 1, 2, 0, 0, 0, 1, 3]))])  # channels too: a PAD op
    m.output(m.node("Conv", [y, m.weight(2, 4, 3, 3)]))
    assert "PAD" in op_types(check(m, tmp_path, [(1, 3, 4, 4)]))


def test_spatial_pad_fuses_into_conv(tmp_path):
    m = OnnxModel()
    x = m.input("x", [1, 3, 6, 6])
    y = m.node("Pad", [x, m.const(np.int64([0, 0, 1, 0, 0, 0, 0, 1]))])
    m.output(m.node("Conv", [y, m.weight(2, 3, 3, 3)], strides=[2, 2], pads=[1, 1, 1, 1]))
    graph = check(m, tmp_path, [(1, 3, 6, 6)])
    assert op_types(graph) == ["TRANSPOSE", "CONV_2D", "TRANSPOSE"]
    assert graph.ops[1].attrs["pads"] == (2, 1, 1, 2)


@pytest.mark.parametrize("opset,axis", [(13, -1), (13, 1), (13, 0), (11, 1), (11, 2), (11, 0)])
def test_softmax_axes(tmp_path, opset, axis):
    m = OnnxModel(opset=opset)
    x = m.input("x", [2, 3, 4])
    m.output(m.node("Softmax", [x], axis=axis))
    check(m, tmp_path, [(2, 3, 4)], scale=3.0)


def test_softmax_over_channels_of_nchw(tmp_path):
    m = OnnxModel()
    x = m.input("x", [1, 3, 4, 4])
    y = m.node("Conv", [x, m.weight(5, 3, 1, 1)])
    y = m.node("Softmax", [y], axis=1)
    m.output(m.node("Conv", [y, m.weight(2, 5, 1, 1)]))
    graph = check(m, tmp_path, [(1, 3, 4, 4)])
    assert op_types(graph) == ["TRANSPOSE", "CONV_2D", "SOFTMAX", "CONV_2D", "TRANSPOSE"]


def test_matmul_3d_and_constant_subgraph(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 3, 6])
    w = m.node("Transpose", [m.weight(4, 6)], perm=[1, 0])  # folded at import
    y = m.node("MatMul", [x, w])
    two = m.node("Constant", [], value=onnx.numpy_helper.from_array(np.float32(2.0)))
    m.output(m.node("Add", [y, m.node("Mul", [m.weight(4), two])]))
    graph = check(m, tmp_path, [(2, 3, 6)])
    assert op_types(graph) == ["FULLY_CONNECTED"]  # the Add of a constant vector is its bias


def test_gemm_alpha_beta_and_bias_row(tmp_path):
    m = OnnxModel()
    x = m.input("x", [3, 5])
    m.output(m.node("Gemm", [x, m.weight(5, 4), m.weight(1, 4)], alpha=0.5, beta=2.0))
    check(m, tmp_path, [(3, 5)])


# ---- dynamic shapes -------------------------------------------------------------------------------------

def dynamic_model(tmp_path):
    m = OnnxModel()
    x = m.input("input", ["N", 1, "H", 8])
    y = m.node("Conv", [x, m.weight(2, 1, 3, 3)], pads=[1, 1, 1, 1])
    m.output(m.node("Relu", [y]))
    return m.save(tmp_path / "dynamic.onnx")


def test_dynamic_shape_needs_input_shape(tmp_path):
    path = dynamic_model(tmp_path)
    with pytest.raises(ModelFormatError, match=r"input 'input' of dynamic.onnx has a dynamic shape "
                       r"\['N', 1, 'H', 8\]; fix it with --input-shape input=N,1,N,8"):
        load_model(path)


def test_input_shape_fixes_dynamic_dims(tmp_path):
    path = dynamic_model(tmp_path)
    graph = load_model(path, {"input": (1, 1, 6, 8)})
    assert graph.inputs[0].shape == (1, 1, 6, 8) and graph.outputs[0].shape == (1, 2, 6, 8)
    with pytest.raises(ModelFormatError, match="--input-shape names 'x', but the inputs of dynamic.onnx are"):
        load_model(path, {"x": (1, 1, 6, 8)})
    with pytest.raises(ModelFormatError, match="gives 'input' 3 dimensions"):
        load_model(path, {"input": (1, 6, 8)})


def test_cli_input_shape_deploys_on_host(tmp_path):
    import json
    import subprocess
    import sys
    path = dynamic_model(tmp_path)
    cmd = [sys.executable, "-m", "microc", "deploy", str(path), "--board", "host",
           "-o", str(tmp_path / "out"),
           "--input-shape", "input=1,1,6,8", "--verify", "--json", "--samples", "3"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] and report["outputs_checked"] == 3 * 2 * 6 * 8


# ---- bad input ------------------------------------------------------------------------------------------

def test_unsupported_operator_names_op_node_and_list(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 3])
    m.output(m.node("Erf", [m.node("Relu", [x])]))
    with pytest.raises(UnsupportedOperator) as e:
        load_model(m.save(tmp_path / "erf.onnx"))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("unsupported ONNX operator Erf (node 1, 'Erf_2'); supported: ")
    assert "Conv" in msg and "QuantizeLinear" in msg


@pytest.mark.parametrize("build,match", [
    (lambda m, x: m.node("Conv", [x, m.node("Relu", [m.input("w", [2, 3, 1, 1])])]),
     "weights must be constant"),
    (lambda m, x: m.node("Clip", [x, m.const(np.float32(-2)), m.const(np.float32(2))]),
     r"Clip to \[-2, 2\]: only \[0, 6\], \[-1, 1\] and \[0, inf\)"),
    (lambda m, x: m.node("Pad", [x, m.const(np.int64([0, 0, 1, 1, 0, 0, 1, 1]))], mode="reflect"),
     "reflect padding is not supported"),
    (lambda m, x: m.node("MatMul", [x, m.node("Relu", [m.input("w", [4, 4])])]),
     "MatMul of run-time tensors"),
    (lambda m, x: m.node("AveragePool", [x], kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1,
                         ceil_mode=1), "count_include_pad=1 with ceil_mode=1"),
])
def test_refusals_are_one_line_and_name_the_node(tmp_path, build, match):
    m = OnnxModel()
    x = m.input("x", [1, 3, 4, 4])
    m.output(build(m, x))
    with pytest.raises(UnsupportedOperator, match=match) as e:
        load_model(m.save(tmp_path / "m.onnx"))
    assert "\n" not in str(e.value) and "(node " in str(e.value)


@pytest.mark.parametrize("data", [b"", b"\x08\x07garbage\xff\xff\xff", b"not a model at all"])
def test_malformed_file(tmp_path, data):
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelFormatError, match="bad.onnx is not an ONNX model"):
        load_model(path)


def test_truncated_file(tmp_path):
    m = OnnxModel()
    small_cnn(m)
    data = m.save(tmp_path / "full.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFormatError, match="cut.onnx is not an ONNX model"):
        load_model(path)


def test_old_opset_refused(tmp_path):
    m = OnnxModel(opset=9)
    m.output(m.node("Relu", [m.input("x", [2])]))
    with pytest.raises(ModelFormatError, match="uses opset 9; microc reads opset 11 and later"):
        load_model(m.save(tmp_path / "old.onnx"))


def test_cli_bad_onnx_one_line_no_output_dir(tmp_path):
    import subprocess
    import sys
    m = OnnxModel()
    m.output(m.node("Erf", [m.input("x", [2, 3])]))
    path = m.save(tmp_path / "erf.onnx")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "microc", "compile", str(path), "--board", "host", "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and not out.exists()
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("microc: error: unsupported ONNX operator Erf")


# ---- QDQ ---------------------------------------------------------------------------------------------

def qdq(m: OnnxModel, x: str, scale: float, zp: int) -> str:
    s, z = m.const(np.float32(scale)), m.const(np.int8(zp))
    return m.node("DequantizeLinear", [m.node("QuantizeLinear", [x, s, z]), s, z])


def qdq_cnn(m: OnnxModel):
    """x -> Q/DQ -> Conv(int8 per-channel weights, int32 bias) -> Relu -> Q/DQ -> Flatten -> Gemm -> Q/DQ."""
    x = qdq(m, m.input("x", [1, 2, 6, 6]), 0.02, 3)
    w = m.rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8)
    w_scale = np.float32([0.01, 0.02, 0.015, 0.005])
    wq = m.node("DequantizeLinear", [m.const(w), m.const(w_scale), m.const(np.zeros(4, np.int8))], axis=0)
    bias = m.node("DequantizeLinear", [m.const(np.int32([100, -50, 7, 0])),
                                       m.const(w_scale * np.float32(0.02)), m.const(np.zeros(4, np.int32))],
                  axis=0)
    y = m.node("Relu", [m.node("Conv", [x, wq, bias], pads=[1, 1, 1, 1])])
    y = m.node("Flatten", [qdq(m, y, 0.03, -128)])
    g = m.rng.integers(-127, 128, (144, 5)).astype(np.int8)
    gq = m.node("DequantizeLinear", [m.const(g), m.const(np.float32(0.004)), m.const(np.int8(0))])
    m.output(qdq(m, m.node("Gemm", [y, gq]), 0.05, 10))
    return g


def test_qdq_folds_to_int8_ops(tmp_path):
    m = OnnxModel()
    g = qdq_cnn(m)
    path = m.save(tmp_path / "qdq.onnx")
    graph = load_model(path)
    assert op_types(graph) == ["QUANTIZE", "TRANSPOSE", "CONV_2D", "FULLY_CONNECTED", "DEQUANTIZE"]
    conv, fc = graph.ops[2], graph.ops[3]
    assert conv.attrs["activation"] == "RELU" and conv.inputs[0].dtype == "int8"
    assert conv.inputs[1].dtype == "int8" and conv.inputs[1].quant.axis == 0
    np.testing.assert_array_equal(conv.inputs[2].data, [100, -50, 7, 0])
    assert conv.outputs[0].quant.s == np.float32(0.03) and conv.outputs[0].quant.zp == -128
    assert fc.inputs[1].shape == (5, 144) and fc.outputs[0].quant.zp == 10
    # The Gemm weights' columns follow the NHWC order of the flattened conv output: IR column 1 is
    # (h=0, w=0, c=1), ONNX column 1 * 36.
    np.testing.assert_array_equal(fc.inputs[1].data[:, 1], g[36])
    rng = np.random.default_rng(1)
    samples = [[rng.standard_normal((1, 2, 6, 6)).astype(np.float32)] for _ in range(4)]
    got = harness.compile_and_run(path, samples, tmp_path / "build")
    for s, outs in zip(samples, got):
        want = run_ort(path, s)[0]
        quanta = np.abs(outs[0] - want) / 0.05
        assert quanta.max() <= 1.0 + 1e-3  # onnxruntime rounds its int8 arithmetic differently


def test_gemm_trans_a_and_matrix_bias(tmp_path):
    m = OnnxModel()
    x = m.input("x", [5, 3])
    y = m.node("Gemm", [x, m.weight(5, 4), m.weight(3, 4)], transA=1, beta=0.5)
    m.output(m.node("Relu", [y]))
    graph = check(m, tmp_path, [(5, 3)])
    assert op_types(graph) == ["TRANSPOSE", "FULLY_CONNECTED", "ADD"]
    assert graph.ops[2].attrs["activation"] == "RELU"


@pytest.mark.parametrize("op,attrs", [("Conv", dict(pads=[1, 2], strides=[2])),
                                      ("MaxPool", dict(kernel_shape=[3])),
                                      ("AveragePool", dict(kernel_shape=[2], strides=[2]))])
def test_1d_ops_run_as_2d(tmp_path, op, attrs):
    m = OnnxModel()
    x = m.input("x", [2, 3, 11])
    ins = [x, m.weight(4, 3, 3), m.weight(4)] if op == "Conv" else [x]
    m.output(m.node("Relu", [m.node(op, ins, **attrs)]))
    graph = check(m, tmp_path, [(2, 3, 11)])
    want = run_ort(tmp_path / "model.onnx", [np.zeros((2, 3, 11), np.float32)])[0]
    assert graph.outputs[0].shape == want.shape


def ort_quantize(m: OnnxModel, tmp_path, shape):
    """m quantized by onnxruntime.quantization.quantize_static (QDQ, int8, per-channel weights) on 20
    random samples; returns its path and the samples."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(shape).astype(np.float32) for _ in range(20)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter({"x": x} for x in data)

        def get_next(self):
            return next(self.samples, None)

    path = tmp_path / "q.onnx"
    quantize_static(str(m.save(tmp_path / "f.onnx")), str(path), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
    return path, data


def test_onnxruntime_qdq_with_concat_and_softmax(tmp_path):
    """TFLite's CONCATENATION copies int8 values and its SOFTMAX writes scale 1/256: where onnxruntime
    chose other parameters, QUANTIZE ops requantize."""
    m = OnnxModel(opset=13)
    a = m.node("Relu", [m.node("Conv", [m.input("x", [1, 3, 8, 8]), m.weight(8, 3, 3, 3), m.weight(8)],
                               pads=[1, 1, 1, 1])])
    b = m.node("Conv", [a, m.weight(8, 1, 3, 3), m.weight(8)], pads=[1, 1, 1, 1], group=8)
    y = m.node("Concat", [m.node("Relu", [m.node("Add", [a, b])]), a], axis=1)
    y = m.node("Flatten", [m.node("GlobalAveragePool", [m.node("AveragePool", [y], kernel_shape=[2, 2])])])
    m.output(m.node("Softmax", [m.node("Gemm", [y, m.weight(16, 10), m.weight(10)])]))
    path, data = ort_quantize(m, tmp_path, (1, 3, 8, 8))
    graph = load_model(path)
    assert op_types(graph) == ["QUANTIZE", "TRANSPOSE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "QUANTIZE",
                               "CONCATENATION", "AVERAGE_POOL_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED",
                               "SOFTMAX", "QUANTIZE", "DEQUANTIZE"]
    assert graph.ops[-3].outputs[0].quant.s == 1 / 256
    samples = [[x] for x in data[:5]]
    for s, outs in zip(samples, harness.compile_and_run(path, samples, tmp_path / "build")):
        # one quantum of rounding difference, doubled by the softmax's requantization from 1/256 to 1/255
        assert np.abs(outs[0] - run_ort(path, s)[0]).max() <= 3 / 255 * 1.001


def test_onnxruntime_quantize_static_model_runs_in_int8(tmp_path):
    from onnx import numpy_helper
    m = OnnxModel(opset=13)
    y = m.node("Conv", [m.input("x", [1, 1, 8, 8]), m.weight(4, 1, 3, 3), m.weight(4)], pads=[1, 1, 1, 1])
    y = m.node("MaxPool", [m.node("Relu", [y])], kernel_shape=[2, 2], strides=[2, 2])
    y = m.node("Relu", [m.node("Conv", [y, m.weight(8, 4, 3, 3), m.weight(8)], pads=[1, 1, 1, 1])])
    y = m.node("Flatten", [m.node("GlobalAveragePool", [y])])
    m.output(m.node("Gemm", [y, m.weight(10, 8), m.weight(10)], transB=1))
    path, data = ort_quantize(m, tmp_path, (1, 1, 8, 8))
    graph = load_model(path)
    assert op_types(graph) == ["QUANTIZE", "RESHAPE", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MEAN", "RESHAPE",
                               "FULLY_CONNECTED", "DEQUANTIZE"]
    assert all(op.outputs[0].dtype == "int8" for op in graph.ops[:-1])
    model = onnx.load(path)
    last = model.graph.node[-1]
    scale = float(numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == last.input[1])))
    samples = [[x] for x in data[:5]]
    for s, outs in zip(samples, harness.compile_and_run(path, samples, tmp_path / "build")):
        assert np.abs(outs[0] - run_ort(path, s)[0]).max() <= scale * 1.001


def test_quantize_static_model_is_verified_within_one_output_quantum(tmp_path):
    """`microc deploy --verify` compares a QDQ model's dequantized output with onnxruntime's in units of
    the output DequantizeLinear's scale: at least 99% of elements within one quantum."""
    import json
    import subprocess
    import sys
    from onnx import numpy_helper
    from microc.verify import onnx_output_quanta
    m = OnnxModel(opset=13)
    y = m.node("Conv", [m.input("x", [1, 2, 8, 8]), m.weight(6, 2, 3, 3), m.weight(6)], pads=[1, 1, 1, 1])
    y = m.node("MaxPool", [m.node("Relu", [y])], kernel_shape=[2, 2], strides=[2, 2])
    y = m.node("Flatten", [m.node("Relu", [m.node("Conv", [y, m.weight(8, 6, 3, 3), m.weight(8)])])])
    m.output(m.node("Gemm", [y, m.weight(32, 10), m.weight(10)]))
    path, _ = ort_quantize(m, tmp_path, (1, 2, 8, 8))
    model = onnx.load(path)
    last = model.graph.node[-1]
    assert last.op_type == "DequantizeLinear"
    scale = next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == last.input[1])
    assert onnx_output_quanta(path) == [float(scale)]
    cmd = [sys.executable, "-m", "microc", "deploy", str(path), "--board", "host",
           "-o", str(tmp_path / "out"), "--samples", "20", "--verify", "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["match"] is True and report["outputs_checked"] == 20 * 10
    assert report["within_one_quantum"] >= 0.99
    assert report["max_abs_diff"] <= 2 * scale  # no outlier: at most a carried-over second quantum


def test_quantum_comparison_needs_99_percent_within_one_quantum():
    from microc.verify import Comparison
    want = [np.zeros(100, np.float32)]
    off = np.zeros(100, np.float32)
    off[0] = 0.5  # one element two quanta away: 99% within one quantum
    c = Comparison(quanta=[0.25])
    assert c.add([np.full(100, 0.25, np.float32)], want) and c.add([off], want)
    assert c.match and c.quantum_share == 0.995
    off[1:3] = -0.5  # 97% in this sample, 98.67% over the run
    assert not c.add([off], want) and not c.match
    assert not Comparison().add([np.full(100, 0.25, np.float32)], want)  # the float tolerance


def test_global_max_pool_and_shared_constant(tmp_path):
    m = OnnxModel()
    x = m.input("x", [1, 3, 5, 6])
    bias = m.weight(3, 1, 1)
    y = m.node("Add", [m.node("Add", [x, bias]), bias])  # one constant array in flash for both
    m.output(m.node("GlobalMaxPool", [y]))
    graph = check(m, tmp_path, [(1, 3, 5, 6)])
    # The adds run in the input's NCHW order; the data moves to NHWC once, for the pool.
    assert op_types(graph) == ["ADD", "ADD", "TRANSPOSE", "MAX_POOL_2D", "RESHAPE"]
    assert graph.ops[0].inputs[1] is graph.ops[1].inputs[1]


def test_dropout_in_training_mode_refused(tmp_path):
    m = OnnxModel()
    x = m.input("x", [2, 3])
    m.output(m.node("Dropout", [x, m.const(np.float32(0.5)), m.const(np.bool_(True))]))
    with pytest.raises(UnsupportedOperator, match="Dropout in training mode is random"):
        load_model(m.save(tmp_path / "m.onnx"))



def test_pytorch_style_dynamic_reshape_folds(tmp_path):
    """x.view(x.size(0), -1) exports as Shape -> Gather -> Unsqueeze -> Concat -> Reshape: all constant
    once the shapes are static, so only the Gemm's column permutation remains."""
    m = OnnxModel()
    x = m.input("x", ["batch", 2, 4, 4])
    y = m.node("Conv", [x, m.weight(3, 2, 3, 3)], pads=[1, 1, 1, 1])
    n = m.node("Gather", [m.node("Shape", [y]), m.const(np.int64(0))], axis=0)
    n = m.node("Unsqueeze", [n, m.const(np.int64([0]))])
    target = m.node("Concat", [n, m.const(np.int64([-1]))], axis=0)
    y = m.node("Reshape", [y, target])
    m.output(m.node("Gemm", [y, m.weight(48, 5)]))
    path = m.save(tmp_path / "model.onnx")
    graph = load_model(path, {"x": (1, 2, 4, 4)})
    assert op_types(graph) == ["TRANSPOSE", "CONV_2D", "FULLY_CONNECTED"]
    model = generate(graph, "pt")
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    got = harness.run_shared(harness.build_shared(model, tmp_path / "build"), model, [x])
    assert_close(got, run_ort(path, [x]))


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 2, 3, 4, 2)])
def test_global_average_pool_other_ranks(tmp_path, shape):
    m = OnnxModel()
    m.output(m.node("GlobalAveragePool", [m.input("x", list(shape))]))
    assert op_types(check(m, tmp_path, [shape])) == ["MEAN"]


def test_nhwc_model_from_tf2onnx_needs_no_transpose(tmp_path):
    """tf2onnx wraps NHWC models in Transposes to NCHW and back: both only relabel the data's order."""
    m = OnnxModel()
    x = m.node("Transpose", [m.input("x", [1, 6, 5, 3])], perm=[0, 3, 1, 2])
    y = m.node("Relu", [m.node("Conv", [x, m.weight(4, 3, 3, 3), m.weight(4)], pads=[1, 1, 1, 1])])
    y = m.node("Conv", [y, m.weight(4, 1, 3, 3)], group=4, strides=[2, 2])
    m.output(m.node("Transpose", [y], perm=[0, 2, 3, 1]))
    assert op_types(check(m, tmp_path, [(1, 6, 5, 3)])) == ["CONV_2D", "DEPTHWISE_CONV_2D"]


def test_external_data_weights(tmp_path):
    m = OnnxModel()
    small_cnn(m)
    model = onnx.load(m.save(tmp_path / "inline.onnx"))
    onnx.save(model, tmp_path / "model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    got = harness.compile_and_run(tmp_path / "model.onnx", [[x]], tmp_path / "build")
    assert_close(got[0], run_ort(tmp_path / "inline.onnx", [x]))
    (tmp_path / "weights.bin").unlink()
    missing = r"model.onnx: Data of TensorProto .* should be stored in .*weights.bin"
    with pytest.raises(ModelFormatError, match=missing):
        load_model(tmp_path / "model.onnx")
