"""CONCATENATION, PAD, PADV2, TRANSPOSE, RESHAPE, SQUEEZE: microc's C against TFLM (exact: these only
move data), and RESHAPE/SQUEEZE costing nothing when the planner aliases them."""
import numpy as np
import pytest

import harness
from microc.codegen.generate import generate
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from test_ops_pool import check, check_sanitized, models_of, samples_for
from tflite_builder import ModelBuilder

Q = (0.05, -3)


def qargs(dtype, q=Q):
    return dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}


# ---- CONCATENATION ----

def add_concat(b, dtype, tag, shapes, axis, const_index=None):
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
            ins.append(b.const(f"c{tag}_{i}", data, **qargs(dtype)))
        else:
            ins.append(b.tensor(f"x{tag}_{i}", s, dtype, **qargs(dtype)))
            feeds.append(s)
    y = b.tensor(f"y{tag}", out_shape, dtype, **qargs(dtype))
    b.op("CONCATENATION", ins, [y], axis=axis)
    return [t for i, t in enumerate(ins) if i != const_index], feeds, y


CONCAT_CASES = [  # shapes, axis
    ([(1, 4, 4, 3), (1, 4, 4, 5)], 3),
    ([(1, 4, 4, 3), (1, 4, 4, 5)], -1),
    ([(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1),
    ([(3, 2), (4, 2)], 0),
    ([(5,), (1,), (7,)], 0),
    ([(1, 2, 3, 2)] * 10, 2),
    ([(2, 3, 1, 4), (2, 3, 2, 4)], -2),
    ([(1, 2, 1, 2, 3, 2), (1, 2, 1, 2, 2, 2)], 4),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_concatenation(dtype, tmp_path):
    cases = CONCAT_CASES + [([(2, 3, 4), (2, 2, 4), (2, 1, 4)], 1, 1)]  # with a constant input
    model, feeds = models_of(dtype, cases, add_concat)
    check(model, samples_for(feeds, dtype, seed=1, n=2), tmp_path)


def test_concatenation_int8_requires_same_quantization(tmp_path):
    b = ModelBuilder()
    x0 = b.tensor("x0", (1, 4), "int8", scale=0.05, zero_point=0)
    x1 = b.tensor("x1", (1, 4), "int8", scale=0.1, zero_point=0)
    y = b.tensor("y", (1, 8), "int8", scale=0.05, zero_point=0)
    b.op("CONCATENATION", [x0, x1], [y], axis=1)
    b.inputs([x0, x1])
    b.outputs([y])
    _refused(b.build(), tmp_path, "share the output's scale")


# ---- PAD, PADV2 ----

def add_pad(b, dtype, tag, shape, pads, op="PAD", value=None, out_q=Q):
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    p = b.const(f"paddings{tag}", np.array(pads, np.int32))
    ins = [x, p]
    if value is not None:
        ins.append(b.const(f"value{tag}", np.array(value, np.int8 if dtype == "int8" else np.float32),
                           **qargs(dtype, out_q)))
    out_shape = [d + lo + hi for d, (lo, hi) in zip(shape, pads)]
    y = b.tensor(f"y{tag}", out_shape, dtype, **qargs(dtype, out_q))
    b.op(op, ins, [y])
    return [x], [shape], y


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
def test_pad(dtype, tmp_path):
    model, feeds = models_of(dtype, PAD_CASES, add_pad)
    check(model, samples_for(feeds, dtype, seed=2, n=2), tmp_path)


def test_pad_int8_uses_output_zero_point(tmp_path):
    shape, pads = (1, 3, 3, 2), [[0, 0], [1, 2], [2, 1], [0, 0]]
    cases = [(shape, pads, "PAD", None, (0.05, zp)) for zp in (-128, 127, 0, 9)]
    model, feeds = models_of("int8", cases, add_pad)
    check(model, samples_for(feeds, "int8", seed=4), tmp_path)


@pytest.mark.parametrize("dtype,values", [("int8", (-77, 127, -128)), ("float32", (-2.5, 0.0, 1e30))])
def test_padv2_constant_value(dtype, values, tmp_path):
    shape, pads = (1, 3, 4, 2), [[0, 0], [1, 1], [0, 2], [1, 0]]
    model, feeds = models_of(dtype, [(shape, pads, "PADV2", v) for v in values], add_pad)
    check(model, samples_for(feeds, dtype, seed=3), tmp_path)


# ---- TRANSPOSE ----

def add_transpose(b, dtype, tag, shape, perm):
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    p = b.const(f"perm{tag}", np.array(perm, np.int32))
    y = b.tensor(f"y{tag}", [shape[i] for i in perm], dtype, **qargs(dtype))
    b.op("TRANSPOSE", [x, p], [y])
    return [x], [shape], y


TRANSPOSE_CASES = [
    ((1, 4, 5, 3), (0, 3, 1, 2)),  # NHWC -> NCHW
    ((1, 3, 4, 5), (0, 2, 3, 1)),  # NCHW -> NHWC
    ((2, 3, 4, 5), (3, 2, 1, 0)),
    ((2, 3, 4), (1, 0, 2)),
    ((6, 7), (1, 0)),
    ((5,), (0,)),
    ((2, 3, 4, 5), (0, 1, 2, 3)),
    ((3, 1, 4, 1), (2, 1, 3, 0)),
    ((2, 3, 1, 2, 3), (4, 3, 0, 2, 1)),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_transpose(dtype, tmp_path):
    model, feeds = models_of(dtype, TRANSPOSE_CASES, add_transpose)
    check(model, samples_for(feeds, dtype, seed=5, n=2), tmp_path)


def test_transpose_6d_against_numpy(tmp_path):
    """TFLM transposes up to 5-D; microc's kernel goes to 6-D (ONNX models), checked with numpy."""
    shape, perm = (2, 3, 1, 2, 2, 3), (5, 3, 0, 4, 2, 1)
    model, feeds = models_of("float32", [(shape, perm)], add_transpose)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    samples = samples_for(feeds, "float32", seed=6, n=2)
    for sample, (out,) in zip(samples, harness.compile_and_run(path, samples, tmp_path)):
        np.testing.assert_array_equal(out, sample[0].transpose(perm))


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
    assert _invoke_body(gen.files["m.c"]).count("nothing to do") == 2
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
    assert "memcpy(" in _invoke_body(generate(load_model(path), "m").files["m.c"])


def add_each_kind(b, dtype, tag, kind, *case):
    return {"concat": add_concat, "pad": add_pad, "transpose": add_transpose}[kind](b, dtype, tag, *case)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_sanitized(dtype, tmp_path):
    cases = [("concat", [(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1), ("pad", *PAD_CASES[6]),
             ("pad", *PAD_CASES[2]), ("transpose", (2, 3, 4, 5), (3, 1, 0, 2))]
    model, feeds = models_of(dtype, cases, add_each_kind)
    check_sanitized(model, samples_for(feeds, dtype, 1, n=1), tmp_path)


def _refused(model: bytes, tmp_path, match: str):
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedOperator, match=match):
        harness.compile_and_run(path, [], tmp_path)


@pytest.mark.parametrize("perm", [[0, 4, 1, 2], [0, 0, 1, 2]])
def test_transpose_refuses_a_non_permutation(perm, tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (1, 2, 3, 4), "float32")
    p = b.const("perm", np.array(perm, np.int32))
    y = b.tensor("y", (1, 4, 2, 3), "float32")
    b.op("TRANSPOSE", [x, p], [y])
    b.inputs([x])
    b.outputs([y])
    _refused(b.build(), tmp_path, "is not a permutation of 4 axes")


def test_pad_refuses_paddings_computed_at_run_time(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (1, 3), "float32")
    p = b.tensor("paddings", (2, 2), "int32")
    y = b.tensor("y", (1, 5), "float32")
    b.op("PAD", [x, p], [y])
    b.inputs([x, p])
    b.outputs([y])
    _refused(b.build(), tmp_path, "paddings must be a constant int32 tensor")


def _invoke_body(c_source: str) -> str:
    """The generated invoke() alone (the LAYER request's per-layer switch repeats every call)."""
    return c_source.split("_invoke(void) {")[1].split("\n}\n")[0]
