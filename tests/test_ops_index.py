"""GATHER, ARG_MAX, ARG_MIN, CAST: microc's C against TFLM (exact), and the refusals of bad models."""
import ctypes

import numpy as np
import pytest

import harness
from microc.codegen.generate import generate
from microc.errors import ModelFormatError
from microc.frontends import load_model
from test_ops_pool import check, check_sanitized, models_of
from test_ops_shape import _refused, qargs
from tflite_builder import ModelBuilder

# Inputs are described as (shape, dtype, high): int32 values in [0, high) (coordinates), others random.


def samples(feeds, seed, n=2):
    rng = np.random.default_rng(seed)

    def one(shape, dtype, high, k):
        if dtype == "int32":
            return rng.integers(0, high, shape, dtype=np.int32) if high else \
                rng.integers(-1000, 1000, shape, dtype=np.int32)
        if dtype == "int8":
            return np.full(shape, (-128, 127)[k - n], np.int8) if k >= n else rng.integers(-128, 128, shape, dtype=np.int8)
        if dtype == "int16":
            return rng.integers(-(2**15), 2**15, shape, dtype=np.int16)
        if dtype == "bool":
            return rng.integers(0, 2, shape).astype(np.bool_)
        x = rng.uniform(-high or -120, high or 120, shape).astype(np.float32)
        return np.round(x) if k % 2 else x  # ties of ARG_MAX/ARG_MIN
    return [[one(*f, k) for f in feeds] for k in range(n + 2)]


# ---- GATHER ----

def add_gather(b, dtype, tag, shape, coords, axis, batch_dims=0, const=True):
    coords = np.array(coords, np.int32)
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    ins, feeds = [x], [(shape, dtype, 0)]
    ax, bd = axis % len(shape), batch_dims % max(coords.ndim, 1) if batch_dims < 0 else batch_dims
    if const:
        c = b.const(f"coords{tag}", coords)
    else:
        c = b.tensor(f"coords{tag}", coords.shape, "int32")
        ins, feeds = ins + [c], feeds + [(coords.shape, "int32", shape[ax])]
    out = tuple(shape[:ax]) + coords.shape[bd:] + tuple(shape[ax + 1:])
    y = b.tensor(f"y{tag}", out, dtype, **qargs(dtype))
    b.op("GATHER", [x, c], [y], axis=axis, batch_dims=batch_dims)
    return ins, feeds, y


GATHER_CASES = [  # input shape, coordinates (values or shape if run time), axis, batch_dims, constant
    ((4, 5), [3, 0, 3], 0, 0, True),
    ((3, 4), [1, 3], -1, 0, True),
    ((4, 5), 2, 1, 0, True),  # scalar coordinates: the axis is dropped
    ((2, 6, 3), np.zeros((2, 2)), 1, 0, False),
    ((2, 5, 3), np.zeros((2, 4)), 1, 1, False),  # batch_dims
    ((2, 3, 5, 2), np.zeros((2, 3, 3)), -2, -1, False),
    ((7,), np.zeros((3, 2)), 0, 0, False),
]


def _gather_models(dtype, cases=GATHER_CASES):
    b = ModelBuilder()
    ins, feeds, outs = [], [], []
    for k, c in enumerate(cases):
        i, f, y = add_gather(b, dtype, str(k), *c)
        ins, feeds, outs = ins + i, feeds + f, outs + [y]
    b.inputs(ins)
    b.outputs(outs)
    return b.build(), feeds


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_gather(dtype, tmp_path):
    model, feeds = _gather_models(dtype)
    check(model, samples(feeds, seed=31), tmp_path)


def test_gather_coordinate_outside_the_axis_is_an_error_at_run_time(tmp_path):
    """TFLM reads outside its input; microc's invoke() stops and returns non-zero."""
    model, feeds = _gather_models("float32", [GATHER_CASES[3]])
    (tmp_path / "m.tflite").write_bytes(model)
    gen = generate(load_model(tmp_path / "m.tflite"), "m")
    lib = ctypes.CDLL(str(harness.build_shared(gen, tmp_path)))
    x, coords, y = np.ones((2, 6, 3), np.float32), np.array([[0, 5], [1, 2]], np.int32), np.zeros((2, 2, 2, 3), np.float32)
    args = [(ctypes.c_void_p * 2)(x.ctypes.data, coords.ctypes.data), (ctypes.c_void_p * 1)(y.ctypes.data)]
    assert lib.m_run(*args) == 0
    for bad in (6, -1):
        coords[1, 0] = bad
        assert lib.m_run(*args) == 1


def refused_as_malformed(model: bytes, tmp_path, match: str, error=ModelFormatError):
    """Compiling the model stops with one MicrocError (the validation pass's, by default) matching `match`."""
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(error, match=match):
        harness.compile_and_run(path, [], tmp_path)


def _bad_gather(tmp_path, error, match, **kw):
    b = ModelBuilder()
    x = b.tensor("x", (4, 5), "float32")
    c = b.const("c", np.array(kw.pop("coords", [1, 2]), kw.pop("ctype", np.int32)))
    y = b.tensor("y", kw.pop("out", (2, 5)), "float32")
    b.op("GATHER", [x, c], [y], **kw)
    b.inputs([x])
    b.outputs([y])
    refused_as_malformed(b.build(), tmp_path, match, error)


@pytest.mark.parametrize("kw,match", [
    (dict(ctype=np.int64), "coordinates 'c' are int64, expected int32"),
    (dict(out=(5, 2)), r"output 'y' \(5, 2\) must be \(2, 5\)"),
    (dict(axis=2), "axis 2 is out of range"),
    (dict(batch_dims=1), "batch_dims 1 does not fit"),
])
def test_gather_bad_models_are_one_line_errors(kw, match, tmp_path):
    _bad_gather(tmp_path, ModelFormatError, match, **kw)


def test_gather_constant_coordinates_outside_the_axis_are_refused(tmp_path):
    from microc.errors import UnsupportedOperator
    _bad_gather(tmp_path, UnsupportedOperator, r"coordinates \[1, 4\] outside the axis's 0..3", coords=[1, 4])


# ---- ARG_MAX, ARG_MIN ----

def add_arg(b, dtype, tag, op, shape, axis):
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    ax = b.const(f"axis{tag}", np.array([axis], np.int32))
    y = b.tensor(f"y{tag}", tuple(d for i, d in enumerate(shape) if i != axis % len(shape)), "int32")
    b.op(op, [x, ax], [y])
    return [x], [(shape, dtype, 0)], y


ARG_CASES = [((2, 5, 3), 1), ((4, 7), -1), ((6,), 0), ((1, 3, 3, 4), 3), ((3, 1, 2), 1), ((5, 2), 0)]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_arg_max_min(dtype, tmp_path):
    cases = [(op, *c) for op in ("ARG_MAX", "ARG_MIN") for c in ARG_CASES]
    model, feeds = models_of(dtype, cases, add_arg)
    check(model, samples(feeds, seed=32, n=3), tmp_path)


def test_arg_max_refuses_a_run_time_axis(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (2, 3), "float32")
    ax = b.tensor("ax", (1,), "int32")
    y = b.tensor("y", (2,), "int32")
    b.op("ARG_MAX", [x, ax], [y])
    b.inputs([x, ax])
    b.outputs([y])
    refused_as_malformed(b.build(), tmp_path, "the axis must be a constant int32 scalar")


# ---- CAST ----

def add_cast(b, _, tag, src, dst, shape=(2, 7)):
    x = b.tensor(f"x{tag}", shape, src)
    y = b.tensor(f"y{tag}", shape, dst)
    b.op("CAST", [x], [y], in_type=src, out_type=dst)
    # float -> int8/int16 stays within the target's range (static_cast is undefined outside it)
    return [x], [(shape, src, 100 if dst in ("int8", "int16") else 0)], y


CAST_CASES = [("int8", "float32"), ("int8", "int32"), ("int16", "int32"), ("int16", "int8"),
              ("int32", "int8"), ("int32", "int16"), ("int32", "float32"), ("float32", "int32"),
              ("float32", "int8"), ("float32", "int16"), ("bool", "float32"), ("bool", "int32"),
              ("float32", "float32")]


def test_cast(tmp_path):
    model, feeds = models_of(None, CAST_CASES, add_cast)
    check(model, samples(feeds, seed=33), tmp_path)


def test_cast_to_bool_is_refused(tmp_path):
    b = ModelBuilder()
    add_cast(b, None, "", "float32", "bool")
    b.inputs([0])
    b.outputs([1])
    _refused(b.build(), tmp_path, "float32 -> bool is not supported")


def test_sanitized(tmp_path):
    b = ModelBuilder()
    ins, feeds, outs = [], [], []
    parts = [(add_gather, "int8", GATHER_CASES[5]), (add_gather, "float32", GATHER_CASES[4]),
             (add_arg, "int8", ("ARG_MAX", *ARG_CASES[0])), (add_arg, "float32", ("ARG_MIN", *ARG_CASES[3])),
             *[(add_cast, None, c) for c in CAST_CASES[::2]]]
    for k, (add, dtype, case) in enumerate(parts):
        i, f, y = add(b, dtype, str(k), *case)
        ins, feeds, outs = ins + i, feeds + f, outs + [y]
    b.inputs(ins)
    b.outputs(outs)
    check_sanitized(b.build(), samples(feeds, seed=34, n=1), tmp_path)


def test_onnx_array_feature_extractor_is_a_gather(tmp_path):
    """ONNX-ML's ArrayFeatureExtractor imports to the same GATHER, checked against onnxruntime."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    idx = numpy_helper.from_array(np.array([3, 0, 4, 3], np.int64), "idx")
    graph = helper.make_graph(
        [helper.make_node("ArrayFeatureExtractor", ["X", "idx"], ["Y"], domain="ai.onnx.ml")], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 5])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])], [idx])
    path = tmp_path / "afe.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
                                                      helper.make_opsetid("ai.onnx.ml", 3)]), path)
    x = np.random.default_rng(35).normal(size=(1, 5)).astype(np.float32)
    (got,), = harness.compile_and_run(path, [[x]], tmp_path / "b")
    (want,) = onnxruntime.InferenceSession(str(path)).run(None, {"X": x})
    np.testing.assert_array_equal(got, want)
