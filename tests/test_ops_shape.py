"""CONCATENATION, PAD, PADV2, TRANSPOSE, RESHAPE, SQUEEZE: microc's C against TFLM (exact: these only
move data), and RESHAPE/SQUEEZE costing nothing when the planner aliases them."""
import numpy as np
import pytest

import harness
from microc.codegen.generate import generate
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from test_ops_pool import check, check_sanitized, samples_for
from tflite_builder import ModelBuilder

Q = (0.05, -3)


def qargs(dtype, q=Q):
    return dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}


# ---- CONCATENATION ----

def concat_model(dtype, shapes, axis, const_index=None):
    b = ModelBuilder()
    rank = len(shapes[0])
    ax = axis % rank
    out_shape = list(shapes[0])
    out_shape[ax] = sum(s[ax] for s in shapes)
    rng = np.random.default_rng(0)
    ins, feeds = [], []
    for i, s in enumerate(shapes):
        if i == const_index:
            data = rng.integers(-128, 128, s).astype(np.int8) if dtype == "int8" else \
                rng.normal(0, 1, s).astype(np.float32)
            ins.append(b.const(f"c{i}", data, **qargs(dtype)))
        else:
            ins.append(b.tensor(f"x{i}", s, dtype, **qargs(dtype)))
            feeds.append(s)
    y = b.tensor("y", out_shape, dtype, **qargs(dtype))
    b.op("CONCATENATION", ins, [y], axis=axis)
    b.inputs([t for i, t in enumerate(ins) if i != const_index])
    b.outputs([y])
    return b.build(), feeds


CONCAT_CASES = [  # shapes, axis
    ([(1, 4, 4, 3), (1, 4, 4, 5)], 3),
    ([(1, 4, 4, 3), (1, 4, 4, 5)], -1),
    ([(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1),
    ([(3, 2), (4, 2)], 0),
    ([(5,), (1,), (7,)], 0),
    ([(1, 2, 3, 2)] * 10, 2),
    ([(2, 3, 1, 4), (2, 3, 2, 4)], -2),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("case", range(len(CONCAT_CASES)))
def test_concatenation(dtype, case, tmp_path):
    shapes, axis = CONCAT_CASES[case]
    model, feeds = concat_model(dtype, shapes, axis)
    check(model, samples_for(feeds, dtype, seed=case, n=2), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_concatenation_constant_input(dtype, tmp_path):
    model, feeds = concat_model(dtype, [(2, 3, 4), (2, 2, 4), (2, 1, 4)], 1, const_index=1)
    check(model, samples_for(feeds, dtype, seed=1, n=2), tmp_path)


def test_concatenation_int8_requires_same_quantization(tmp_path):
    b = ModelBuilder()
    x0 = b.tensor("x0", (1, 4), "int8", scale=0.05, zero_point=0)
    x1 = b.tensor("x1", (1, 4), "int8", scale=0.1, zero_point=0)
    y = b.tensor("y", (1, 8), "int8", scale=0.05, zero_point=0)
    b.op("CONCATENATION", [x0, x1], [y], axis=1)
    b.inputs([x0, x1])
    b.outputs([y])
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    with pytest.raises(UnsupportedOperator, match="share the output's scale"):
        harness.compile_and_run(path, [], tmp_path)


# ---- PAD, PADV2 ----

def pad_model(dtype, shape, pads, op="PAD", value=None, out_q=Q):
    b = ModelBuilder()
    x = b.tensor("x", shape, dtype, **qargs(dtype))
    p = b.const("paddings", np.array(pads, np.int32))
    ins = [x, p]
    if value is not None:
        ins.append(b.const("value", np.array(value, np.int8 if dtype == "int8" else np.float32),
                           **qargs(dtype, out_q)))
    out_shape = [d + lo + hi for d, (lo, hi) in zip(shape, pads)]
    y = b.tensor("y", out_shape, dtype, **qargs(dtype, out_q))
    b.op(op, ins, [y])
    b.inputs([x])
    b.outputs([y])
    return b.build()


PAD_CASES = [  # shape, paddings
    ((1, 5, 5, 3), [[0, 0], [1, 1], [1, 1], [0, 0]]),
    ((1, 4, 6, 2), [[0, 0], [0, 1], [2, 0], [0, 0]]),
    ((2, 3, 3, 2), [[1, 0], [0, 0], [0, 0], [1, 2]]),
    ((3, 4), [[2, 1], [0, 3]]),
    ((5,), [[3, 4]]),
    ((2, 3, 4), [[0, 0], [0, 0], [0, 0]]),
    ((1, 2, 3, 2, 2), [[0, 1], [1, 0], [0, 0], [2, 1], [0, 0]]),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("case", range(len(PAD_CASES)))
def test_pad(dtype, case, tmp_path):
    shape, pads = PAD_CASES[case]
    check(pad_model(dtype, shape, pads), samples_for([shape], dtype, seed=case, n=2), tmp_path)


@pytest.mark.parametrize("zp", [-128, 127, 0])
def test_pad_int8_uses_output_zero_point(zp, tmp_path):
    shape, pads = (1, 3, 3, 2), [[0, 0], [1, 2], [2, 1], [0, 0]]
    model = pad_model("int8", shape, pads, out_q=(0.05, zp))
    check(model, samples_for([shape], "int8", seed=abs(zp)), tmp_path)


@pytest.mark.parametrize("dtype,value", [("int8", -77), ("int8", 127), ("float32", -2.5)])
def test_padv2_constant_value(dtype, value, tmp_path):
    shape, pads = (1, 3, 4, 2), [[0, 0], [1, 1], [0, 2], [1, 0]]
    check(pad_model(dtype, shape, pads, "PADV2", value), samples_for([shape], dtype, seed=3), tmp_path)


# ---- TRANSPOSE ----

def transpose_model(dtype, shape, perm):
    b = ModelBuilder()
    x = b.tensor("x", shape, dtype, **qargs(dtype))
    p = b.const("perm", np.array(perm, np.int32))
    y = b.tensor("y", [shape[i] for i in perm], dtype, **qargs(dtype))
    b.op("TRANSPOSE", [x, p], [y])
    b.inputs([x])
    b.outputs([y])
    return b.build()


TRANSPOSE_CASES = [
    ((1, 4, 5, 3), (0, 3, 1, 2)),  # NHWC -> NCHW
    ((1, 3, 4, 5), (0, 2, 3, 1)),  # NCHW -> NHWC
    ((2, 3, 4, 5), (3, 2, 1, 0)),
    ((2, 3, 4), (1, 0, 2)),
    ((6, 7), (1, 0)),
    ((5,), (0,)),
    ((2, 3, 4, 5), (0, 1, 2, 3)),
    ((3, 1, 4, 1), (2, 1, 3, 0)),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("case", range(len(TRANSPOSE_CASES)))
def test_transpose(dtype, case, tmp_path):
    shape, perm = TRANSPOSE_CASES[case]
    check(transpose_model(dtype, shape, perm), samples_for([shape], dtype, seed=case, n=2), tmp_path)


# ---- RESHAPE, SQUEEZE ----

def reshape_chain_model(dtype):
    """x -> RESHAPE -> SQUEEZE -> ADD(itself): the reshapes alias their input, the ADD reads them."""
    b = ModelBuilder()
    x = b.tensor("x", (1, 2, 3, 4), dtype, **qargs(dtype))
    shape = b.const("shape", np.array([1, 1, 6, 4], np.int32))
    r = b.tensor("r", (1, 1, 6, 4), dtype, **qargs(dtype))
    b.op("RESHAPE", [x, shape], [r], new_shape=(1, 1, 6, 4))
    s = b.tensor("s", (6, 4), dtype, **qargs(dtype))
    b.op("SQUEEZE", [r], [s], squeeze_dims=(0, 1))
    y = b.tensor("y", (6, 4), dtype, **qargs(dtype, (0.1, 0)))
    b.op("ADD", [s, s], [y])
    b.inputs([x])
    b.outputs([y, s])
    return b.build()


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_reshape_and_squeeze_alias(dtype, tmp_path):
    model = reshape_chain_model(dtype)
    check(model, samples_for([(1, 2, 3, 4)], dtype, seed=5), tmp_path)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    gen = generate(load_model(path), "m")
    assert gen.files["m.c"].count("nothing to do") == 2
    assert "memcpy(((" not in gen.files["m.c"]


def test_reshape_of_constant_copies(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (2, 3), "float32")
    c = b.const("c", np.arange(6, dtype=np.float32).reshape(1, 6))
    shape = b.const("shape", np.array([2, 3], np.int32))
    r = b.tensor("r", (2, 3), "float32")
    b.op("RESHAPE", [c, shape], [r], new_shape=(2, 3))
    y = b.tensor("y", (2, 3), "float32")
    b.op("MUL", [x, r], [y])
    b.inputs([x])
    b.outputs([y])
    model = b.build()
    check(model, samples_for([(2, 3)], "float32", seed=6), tmp_path)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    assert "memcpy(" in generate(load_model(path), "m").files["m.c"].split("_invoke")[1]


def test_sanitized(tmp_path):
    for dtype in ("int8", "float32"):
        model, feeds = concat_model(dtype, [(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1)
        check_sanitized(model, samples_for(feeds, dtype, 1, n=1), tmp_path / f"concat{dtype}")
        shape, pads = PAD_CASES[6]
        check_sanitized(pad_model(dtype, shape, pads), samples_for([shape], dtype, 1, n=1),
                        tmp_path / f"pad{dtype}")
        check_sanitized(transpose_model(dtype, (2, 3, 4, 5), (3, 1, 0, 2)),
                        samples_for([(2, 3, 4, 5)], dtype, 1, n=1), tmp_path / f"tr{dtype}")
