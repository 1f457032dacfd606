"""The ONNX importer: small models built with onnx.helper, compiled to C by microc and run on the host,
against onnxruntime (float32: within FLOAT_RTOL x the largest reference magnitude); the IR it produces
(layout: no transposes inside the graph); and bad input."""
import numpy as np
import pytest
from onnx import TensorProto

import harness
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
    y = m.node("BatchNormalization", [y, m.const(np.float32([1, 2, .5, 1])), m.const(np.float32([0, .1, .2, .3])),
                                      m.const(np.float32([.1, 0, -.1, .2])), m.const(np.float32([1, 2, 3, .5]))])
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
