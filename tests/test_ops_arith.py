"""MAXIMUM, MINIMUM, DIV, SQUARED_DIFFERENCE: microc's C against TFLM, bit-exact for int8, within
FLOAT_RTOL for float32; broadcasting as ADD's."""
import numpy as np
import pytest

from test_ops_pool import check, check_sanitized, models_of, samples_for
from test_ops_shape import _refused
from tflite_builder import ModelBuilder


def add_binary(b, dtype, tag, op, a_shape, b_shape, qa=(0.05, -3), qb=(0.05, -3), qy=(0.05, -3),
               const_b=False, **options):
    def q(p):
        return dict(scale=p[0], zero_point=p[1]) if dtype == "int8" else {}
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    a = b.tensor(f"a{tag}", a_shape, dtype, **q(qa))
    if const_b:  # a positive divisor away from zero
        rng = np.random.default_rng(int(tag))
        data = rng.uniform(0.5, 3, b_shape).astype(np.float32) * rng.choice([-1, 1], b_shape)
        bb = b.const(f"b{tag}", data.astype(np.float32), **q(qb))
        ins, feeds = [a], [a_shape]
    else:
        bb = b.tensor(f"b{tag}", b_shape, dtype, **q(qb))
        ins, feeds = [a, bb], [a_shape, b_shape]
    y = b.tensor(f"y{tag}", out_shape, dtype, **q(qy))
    b.op(op, [a, bb], [y], **options)
    return ins, feeds, y


SHAPES = [((2, 3, 4), (2, 3, 4)), ((1, 4, 4, 3), (3,)), ((3, 1, 5), (1, 4, 1)), ((6,), (1,)),
          ((2, 1, 3, 1, 2, 2), (2, 2, 1, 3, 2, 1))]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
def test_maximum_minimum(op, dtype, tmp_path):
    # int8 compares raw values whatever the scales (TFLM does not requantize)
    cases = [(op, a, b) for a, b in SHAPES] + [(op, (2, 5), (5,), (0.1, 4), (0.02, -9), (0.3, 1))]
    model, feeds = models_of(dtype, cases, add_binary)
    check(model, samples_for(feeds, dtype, seed=21, n=2), tmp_path)


@pytest.mark.parametrize("activation", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
def test_div_float(activation, tmp_path):
    cases = [("DIV", a, b, None, None, None, True) for a, b in SHAPES[:4]]
    model, feeds = models_of("float32", cases, lambda b, d, tag, *c: add_binary(
        b, d, tag, *c, activation=activation))
    check(model, samples_for(feeds, "float32", seed=22, n=2), tmp_path)


def test_div_int8_refused(tmp_path):
    b = ModelBuilder()
    x, _, y = add_binary(b, "int8", "0", "DIV", (4,), (4,))
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, "int8 DIV is not supported")


SQDIFF_INT8 = [  # a shape, b shape, a, b, output quantization
    ((2, 3, 4), (2, 3, 4), (0.05, -3), (0.05, -3), (0.02, -128)),
    ((1, 4, 4, 3), (3,), (0.1, 10), (0.03, -7), (0.5, -100)),
    ((3, 1, 5), (1, 4, 1), (0.02, 0), (0.2, 5), (0.01, -128)),  # saturates
    ((6,), (1,), (0.004, 127), (0.004, -128), (0.0001, 3)),
]


def test_squared_difference_int8(tmp_path):
    model, feeds = models_of("int8", [("SQUARED_DIFFERENCE", *c) for c in SQDIFF_INT8], add_binary)
    check(model, samples_for(feeds, "int8", seed=23, n=3), tmp_path)


def test_squared_difference_float(tmp_path):
    model, feeds = models_of("float32", [("SQUARED_DIFFERENCE", a, b) for a, b in SHAPES], add_binary)
    check(model, samples_for(feeds, "float32", seed=24, n=2), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_sanitized(dtype, tmp_path):
    cases = [("MAXIMUM", *SHAPES[2]), ("MINIMUM", *SHAPES[4]), ("SQUARED_DIFFERENCE", *SHAPES[1])]
    if dtype == "float32":
        cases.append(("DIV", *SHAPES[2], None, None, None, True))
    model, feeds = models_of(dtype, cases, add_binary)
    check_sanitized(model, samples_for(feeds, dtype, 1, n=1), tmp_path)
