"""SQRT, RSQRT, EXP, LOG: microc's C against TFLM (float32 within FLOAT_RTOL; int8 RSQRT bit-exact, and an
error below the input zero point as TFLM's)."""
import ctypes

import numpy as np
import pytest

import harness
from microc.codegen.generate import generate
from microc.frontends import load_model
from test_ops_pool import check, check_sanitized, models_of
from test_ops_shape import _refused
from tflite_builder import ModelBuilder, run_tflm

SHAPES = [(2, 3, 4), (17,), (1, 5, 5, 2)]


def add_unary(b, dtype, tag, op, shape, q=None, out_q=None):
    qx = dict(scale=q[0], zero_point=q[1]) if q else {}
    qy = dict(scale=out_q[0], zero_point=out_q[1]) if out_q else {}
    x = b.tensor(f"x{tag}", shape, dtype, **qx)
    y = b.tensor(f"y{tag}", shape, dtype, **qy)
    b.op(op, [x], [y])
    return [x], [(shape, q[1] if q else None)], y


def float_samples(feeds, positive, seed):
    rng = np.random.default_rng(seed)
    draw = (lambda s: rng.uniform(1e-3, 20, s)) if positive else (lambda s: rng.normal(0, 3, s))
    return [[draw(s).astype(np.float32) for s, _ in feeds] for _ in range(2)]


@pytest.mark.parametrize("op", ["SQRT", "RSQRT", "EXP", "LOG"])
def test_float(op, tmp_path):
    model, feeds = models_of("float32", [(op, s) for s in SHAPES], add_unary)
    check(model, float_samples(feeds, op != "EXP", seed=61), tmp_path)


RSQRT_INT8 = [((0.05, -128), (0.1, -100)), ((0.002, -128), (0.5, 0)), ((1.0, -128), (0.01, -128)),
              ((0.1, -20), (0.05, 10)), ((0.3, 0), (0.02, -128)), ((4.0, 100), (0.003, 5))]


def int8_samples(feeds, seed):
    """Inputs at or above each input's zero point (below it TFLM refuses), and the two ends."""
    rng = np.random.default_rng(seed)
    out = [[rng.integers(zp, 128, s, dtype=np.int8) for s, zp in feeds] for _ in range(2)]
    return out + [[np.full(s, zp, np.int8) for s, zp in feeds], [np.full(s, 127, np.int8) for s, _ in feeds]]


def test_rsqrt_int8(tmp_path):
    cases = [("RSQRT", SHAPES[k % 3], q, out_q) for k, (q, out_q) in enumerate(RSQRT_INT8)]
    model, feeds = models_of("int8", cases, add_unary)
    check(model, int8_samples(feeds, seed=62), tmp_path)


def test_rsqrt_int8_below_the_zero_point_is_an_error_as_in_tflm(tmp_path):
    model, feeds = models_of("int8", [("RSQRT", (4,), (0.1, -20), (0.05, 10))], add_unary)
    (tmp_path / "m.tflite").write_bytes(model)
    lib = ctypes.CDLL(str(harness.build_shared(generate(load_model(tmp_path / "m.tflite"), "m"), tmp_path)))
    x, y = np.array([-20, 0, 5, 127], np.int8), np.zeros(4, np.int8)
    args = [(ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(y.ctypes.data)]
    assert lib.m_run(*args) == 0
    np.testing.assert_array_equal(y, run_tflm(model, [x])[0])
    x[2] = -21
    assert lib.m_run(*args) == 1
    with pytest.raises(RuntimeError):
        run_tflm(model, [x])


@pytest.mark.parametrize("op", ["SQRT", "EXP", "LOG"])
def test_int8_is_refused_as_tflm_does(op, tmp_path):
    b = ModelBuilder()
    x, _, y = add_unary(b, "int8", "", op, (4,), (0.1, 0), (0.1, 0))
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, "int8 -> int8 is not supported")


def test_sanitized(tmp_path):
    b = ModelBuilder()
    ins, feeds, outs = [], [], []
    for k, (dtype, op, q) in enumerate([("float32", "SQRT", None), ("float32", "RSQRT", None),
                                        ("float32", "EXP", None), ("float32", "LOG", None),
                                        ("int8", "RSQRT", RSQRT_INT8[3])]):
        i, f, y = add_unary(b, dtype, str(k), op, SHAPES[k % 3], *(q or ()))
        ins, feeds, outs = ins + i, feeds + f, outs + [y]
    b.inputs(ins)
    b.outputs(outs)
    rng = np.random.default_rng(63)
    sample = [rng.uniform(0.01, 5, s).astype(np.float32) for s, _ in feeds[:4]] + \
        [rng.integers(-20, 128, feeds[4][0], dtype=np.int8)]
    check_sanitized(b.build(), [sample], tmp_path)
