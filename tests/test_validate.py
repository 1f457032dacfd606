"""The validation pass (microc/passes/validate.py): malformed models are refused at load time with one
line naming the operator, the tensor and what is wrong, never a traceback from a later stage. The models
are made with the tests' builder; several reproduce crashes the fuzzer (scripts/fuzz.py) found."""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_cli_errors import assert_one_line_error, microc
from tflite_builder import ModelBuilder

from microc.errors import ModelFormatError
from microc.frontends import load_model
from microc.ir import Graph, Op, Quant, Tensor
from microc.passes.validate import validate


def fc_model(w_shape=(3, 4), w_scale=0.1, w_zp=0, x_shape=(1, 4), y_shape=(1, 3), bias=3, x_scale=0.5,
             y_scale=1.0, y_zp=0, w_axis=0, x_quant=True) -> bytes:
    """int8 FULLY_CONNECTED x @ w.T + bias, with every part adjustable (defaults: well-formed)."""
    b = ModelBuilder()
    x = b.tensor("x", x_shape, "int8", scale=x_scale if x_quant else None, zero_point=0 if x_quant else None)
    w = b.const("w", np.ones(w_shape, np.int8), scale=w_scale, zero_point=w_zp, axis=w_axis)
    inputs = [x, w]
    if bias:
        inputs.append(b.const("bias", np.zeros(bias, np.int32), scale=0.05))
    y = b.tensor("y", y_shape, "int8", scale=y_scale, zero_point=y_zp)
    b.op("FULLY_CONNECTED", inputs, [y])
    b.inputs([x])
    b.outputs([y])
    return b.build()


def conv_model(x_shape=(1, 5, 5, 2), w_shape=(4, 3, 3, 2), y_shape=(1, 5, 5, 4), bias=4, **options) -> bytes:
    b = ModelBuilder()
    x = b.tensor("x", x_shape, "float32")
    w = b.const("w", np.ones(w_shape, np.float32))
    inputs = [x, w] + ([b.const("bias", np.zeros(bias, np.float32))] if bias else [])
    y = b.tensor("y", y_shape, "float32")
    b.op("CONV_2D", inputs, [y], **options)
    b.inputs([x])
    b.outputs([y])
    return b.build()


def one_op_model(op: str, x_shape, y_shape, y_name: str = "y", consts=(), **options) -> bytes:
    """A float32 model of one operator on input x (plus constant inputs) writing y."""
    b = ModelBuilder()
    x = b.tensor("x", x_shape, "float32")
    inputs = [x] + [b.const(f"c{i}", c) for i, c in enumerate(consts)]
    y = b.tensor(y_name, y_shape, "float32")
    b.op(op, inputs, [y], **options)
    b.inputs([x])
    b.outputs([y])
    return b.build()


def refused(tmp_path, model: bytes, *fragments: str) -> str:
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(ModelFormatError) as e:
        load_model(path)
    message = str(e.value)
    assert "\n" not in message
    for f in fragments:
        assert f in message, message
    return message


def test_well_formed_models_pass(tmp_path):
    for model in (fc_model(), conv_model(), conv_model(y_shape=(1, 3, 3, 4), padding="VALID"),
                  conv_model(y_shape=(1, 3, 3, 4), stride=(2, 2))):
        path = tmp_path / "ok.tflite"
        path.write_bytes(model)
        load_model(path)


def test_fully_connected_weights_of_rank_3(tmp_path):
    """Was `ValueError: too many values to unpack` in the FULLY_CONNECTED lowering."""
    refused(tmp_path, fc_model(w_shape=(3, 2, 2)), "operator 0 (FULLY_CONNECTED", "weights 'w'", "rank 2")


def test_fully_connected_depth_mismatch(tmp_path):
    refused(tmp_path, fc_model(w_shape=(3, 5)), "operator 0 (FULLY_CONNECTED", "input depth 5")
    refused(tmp_path, fc_model(y_shape=(1, 4)), "output 'y'")


def test_fully_connected_bias_length(tmp_path):
    """Was `ValueError: operands could not be broadcast together` folding the bias (fuzz case)."""
    refused(tmp_path, fc_model(bias=5), "bias 'bias'", "3 values")


@pytest.mark.parametrize("scale", [math.nan, math.inf, 0.0, -0.5, 1e-45])
def test_bad_scale(tmp_path, scale):
    """NaN was `ValueError: cannot convert float NaN to integer`."""
    refused(tmp_path, fc_model(w_scale=scale), "operator 0 (FULLY_CONNECTED", "tensor 'w'",
            f"scale {np.float32(scale):g}")


def test_zero_point_out_of_range(tmp_path):
    refused(tmp_path, fc_model(y_zp=200), "tensor 'y'", "zero point 200", "int8")


def test_per_channel_scales_must_match_the_channels(tmp_path):
    refused(tmp_path, fc_model(w_scale=[0.1, 0.2]), "tensor 'w'", "2 per-channel scales", "(3, 4)")
    refused(tmp_path, fc_model(w_scale=[0.1] * 4, w_axis=1), "weights 'w'", "one per output channel")


def test_int8_activation_without_quantization(tmp_path):
    """Was `AttributeError: 'NoneType' object has no attribute 'scale'` (fuzz case)."""
    refused(tmp_path, fc_model(x_quant=False), "tensor 'x'", "without quantization parameters")


def test_requantization_beyond_q31(tmp_path):
    """A multiplier the C kernels would shift left by 32 or more (undefined behaviour)."""
    refused(tmp_path, fc_model(x_scale=1e6, y_scale=1e-6), "requantization scale")


def test_conv_filter_rank_and_channels(tmp_path):
    refused(tmp_path, conv_model(w_shape=(4, 3, 6)), "operator 0 (CONV_2D", "filter 'w'", "rank 4")
    refused(tmp_path, conv_model(w_shape=(4, 3, 3, 3)), "filter depth 3")
    refused(tmp_path, conv_model(y_shape=(1, 5, 5, 5)), "does not map")
    refused(tmp_path, conv_model(x_shape=(1, 5, 5)), "input 'x' must have rank 4")


def test_conv_strides_dilations_and_output_size(tmp_path):
    refused(tmp_path, conv_model(stride=(0, 1)), "stride (0, 1)", ">= 1")
    refused(tmp_path, conv_model(dilation=(1, -2)), "dilation (1, -2)")
    refused(tmp_path, conv_model(y_shape=(1, 7, 5, 4)), "output H 7", "padding SAME", "expected [5]")
    refused(tmp_path, conv_model(y_shape=(1, 5, 5, 4), padding="VALID"), "output H 5", "expected [3]")


def test_pool_window(tmp_path):
    model = one_op_model("MAX_POOL_2D", (1, 4, 4, 2), (1, 3, 2, 2), filter_size=(2, 2), stride=(2, 2))
    refused(tmp_path, model, "operator 0 (MAX_POOL_2D", "output H 3", "expected [2]")


def test_binary_shapes_must_broadcast(tmp_path):
    model = one_op_model("ADD", (1, 4), (1, 4), consts=[np.ones((3,), np.float32)])
    refused(tmp_path, model, "operator 0 (ADD", "do not broadcast")


def test_elementwise_output_shape(tmp_path):
    refused(tmp_path, one_op_model("RELU", (1, 4), (1, 8)), "operator 0 (RELU", "output 'y' (1, 8)", "(1, 4)")


def test_activation_read_before_written():
    x, t, y = (Tensor(n, (1, 4), "float32") for n in "xty")
    ops = [Op("RELU", [t], [y], name="y", index=0), Op("RELU", [x], [t], name="t", index=1)]
    with pytest.raises(ModelFormatError, match=r"operator 0 \(RELU, 'y'\): input 't' is read before"):
        validate(Graph("g", ops, [x], [y]))


def test_softmax_beta_must_be_finite():
    x, y = Tensor("x", (1, 4), "float32"), Tensor("y", (1, 4), "float32")
    op = Op("SOFTMAX", [x], [y], {"beta": math.nan}, name="y", index=0)
    with pytest.raises(ModelFormatError, match="option beta is nan"):
        validate(Graph("g", [op], [x], [y]))


def test_activation_quantized_per_channel():
    q = Quant(np.array([0.1, 0.2]), np.zeros(2, np.int64), axis=1)
    x, y = Tensor("x", (1, 2), "int8", q), Tensor("y", (1, 2), "int8", q)
    with pytest.raises(ModelFormatError, match=r"operator 0 \(RELU, ''\): tensor 'x' is an activation quantized"):
        validate(Graph("g", [Op("RELU", [x], [y], index=0)], [x], [y]))


def test_unknown_operators_are_left_to_the_lowering(tmp_path):
    """An operator microc does not know is refused by name (the lowering's message), not by validation."""
    path = tmp_path / "floor.tflite"
    path.write_bytes(one_op_model("FLOOR", (1, 4), (1, 4)))
    load_model(path)


def test_through_the_command_line(tmp_path):
    path = tmp_path / "bad.tflite"
    path.write_bytes(fc_model(w_shape=(3, 2, 2)))
    out = tmp_path / "out"
    assert_one_line_error(microc("compile", path, "--board", "host", "-o", out), "FULLY_CONNECTED",
                          "weights 'w'")
    assert not out.exists()
