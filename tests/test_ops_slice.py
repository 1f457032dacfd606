"""STRIDED_SLICE, SPLIT, SPLIT_V: microc's C against TFLM (exact: these only move data)."""
import numpy as np
import pytest

from test_ops_pool import check, check_sanitized, models_of, samples_for
from test_ops_shape import _refused, qargs
from tflite_builder import ModelBuilder


# ---- STRIDED_SLICE ----

def add_strided_slice(b, dtype, tag, shape, begin, end, strides, out_shape, **masks):
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    consts = [b.const(f"{k}{tag}", np.array(v, np.int32)) for k, v in
              (("begin", begin), ("end", end), ("strides", strides))]
    y = b.tensor(f"y{tag}", out_shape, dtype, **qargs(dtype))
    b.op("STRIDED_SLICE", [x, *consts], [y], **masks)
    return [x], [shape], y


STRIDED_SLICE_CASES = [  # shape, begin, end, strides, output shape, masks
    ((1, 8, 6, 3), [0, 1, 0, 0], [1, 7, 6, 3], [1, 2, 1, 1], (1, 3, 6, 3), {}),
    ((1, 8, 6, 3), [0, 0, 1, 1], [1, 8, 5, 3], [1, 1, 3, 1], (1, 8, 2, 2), {}),
    ((4, 5), [-1, -2], [-5, -6], [-1, -1], (4, 4), {}),  # negative indices and strides: reversed
    ((4, 5), [3, 4], [0, 0], [-2, -3], (2, 2), {}),
    ((4, 5), [2, 1], [3, 3], [1, 1], (3, 2), dict(begin_mask=1)),
    ((4, 5), [2, 1], [0, 3], [1, 1], (2, 4), dict(end_mask=3)),
    ((4, 5), [2, 1], [0, 3], [-1, 1], (3, 2), dict(begin_mask=1)),  # reversed from the end
    ((4, 5), [2, 1], [0, 3], [-1, -1], (4, 5), dict(begin_mask=3, end_mask=3)),
    ((4, 5), [-100, 2], [100, 100], [1, 1], (4, 3), {}),  # clamped
    ((3, 4, 5), [1, 0, 0], [2, 4, 5], [1, 1, 1], (4, 5), dict(shrink_axis_mask=1)),
    ((3, 4, 5), [0, -1, 2], [3, 0, 3], [1, 1, 1], (3,), dict(shrink_axis_mask=6)),
    ((3, 4, 5), [0, 1, 4], [3, 4, 5], [5, 5, 5], (1, 1, 1), {}),  # strides beyond the dimensions
    ((3, 4, 5, 6), [1, 0, 1, 5], [3, 4, 5, 0], [1, 3, 2, -2], (2, 2, 2, 3), {}),
    ((12,), [1], [12], [4], (3,), {}),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_strided_slice(dtype, tmp_path):
    cases = [("slice", *c) for c in STRIDED_SLICE_CASES]
    model, feeds = models_of(dtype, cases, add_each_kind)
    check(model, samples_for(feeds, dtype, seed=11, n=2), tmp_path)


def test_strided_slice_refuses_rank_5(tmp_path):
    b = ModelBuilder()
    x, feeds, y = add_strided_slice(b, "float32", "", (1, 2, 1, 2, 2), [0] * 5, [1, 2, 1, 2, 2], [1] * 5,
                                    (1, 2, 1, 2, 2))
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, "rank 5")


@pytest.mark.parametrize("mask", ["ellipsis_mask", "new_axis_mask"])
def test_strided_slice_refuses_masks_tflm_does_not_implement(mask, tmp_path):
    b = ModelBuilder()
    x, feeds, y = add_strided_slice(b, "float32", "", (2, 3, 4), [0, 1, 0], [2, 3, 4], [1, 1, 1],
                                    (2, 2, 4), **{mask: 2})
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, f"{mask} is not supported")


def test_strided_slice_refuses_reads_outside_the_input(tmp_path):
    b = ModelBuilder()
    x, feeds, y = add_strided_slice(b, "float32", "", (3, 4), [5, 0], [6, 4], [1, 1], (4,),
                                    shrink_axis_mask=1)
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, "reads outside the input")


# ---- SPLIT, SPLIT_V ----

def add_split(b, dtype, tag, shape, axis, sizes, op="SPLIT"):
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    ax = b.const(f"axis{tag}", np.array([axis] if op == "SPLIT_V" else axis, np.int32))
    outs = []
    for i, n in enumerate(sizes):
        s = list(shape)
        s[axis % len(shape)] = n
        outs.append(b.tensor(f"y{tag}_{i}", s, dtype, **qargs(dtype)))
    if op == "SPLIT":
        b.op("SPLIT", [ax, x], outs, num_splits=len(sizes))
    else:
        sz = b.const(f"sizes{tag}", np.array(sizes, np.int32))
        b.op("SPLIT_V", [x, sz, ax], outs, num_splits=len(sizes))
    return [x], [shape], outs


SPLIT_CASES = [  # shape, axis, sizes, op
    ((1, 4, 6, 4), 3, [2, 2], "SPLIT"),
    ((1, 4, 6, 4), -3, [2, 2], "SPLIT"),
    ((6, 3), 0, [2, 2, 2], "SPLIT"),
    ((2, 3, 7), 2, [1, 4, 2], "SPLIT_V"),
    ((5, 2, 3), -3, [3, 2], "SPLIT_V"),
    ((8,), 0, [8], "SPLIT_V"),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_split(dtype, tmp_path):
    model, feeds = models_of(dtype, SPLIT_CASES, add_split)
    check(model, samples_for(feeds, dtype, seed=12, n=2), tmp_path)


def add_each_kind(b, dtype, tag, kind, *case):
    if kind == "slice":
        return add_strided_slice(b, dtype, tag, *case[:5], **case[5])
    return add_split(b, dtype, tag, *case)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_sanitized(dtype, tmp_path):
    cases = [("slice", *STRIDED_SLICE_CASES[i]) for i in (2, 7, 11, 12)] + \
            [("split", *SPLIT_CASES[i]) for i in (1, 3)]
    model, feeds = models_of(dtype, cases, add_each_kind)
    check_sanitized(model, samples_for(feeds, dtype, 1, n=1), tmp_path)
