"""RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR: microc's C against TFLM (int8 bit-exact, float32 within
FLOAT_RTOL) for up- and downsampling, non-integer ratios, sizes of 1 and every option TFLM accepts."""
import numpy as np
import pytest

from test_ops_index import refused_as_malformed
from test_ops_pool import check, check_sanitized, models_of, samples_for
from test_ops_reduce import both_dtypes
from test_ops_shape import _refused, qargs
from tflite_builder import ModelBuilder


def add_resize(b, dtype, tag, op, shape, size, align=False, half=False):
    x = b.tensor(f"x{tag}", shape, dtype, **qargs(dtype))
    s = b.const(f"size{tag}", np.array(size, np.int32))
    y = b.tensor(f"y{tag}", (shape[0], *size, shape[3]), dtype, **qargs(dtype))
    b.op(op, [x, s], [y], align_corners=align, half_pixel_centers=half)
    return [x], [shape], y


GEOMETRIES = [  # input shape, output size
    ((1, 3, 4, 2), (6, 8)), ((2, 7, 5, 3), (3, 2)), ((1, 5, 3, 1), (7, 4)), ((1, 4, 4, 2), (1, 1)),
    ((1, 3, 3, 2), (3, 3)), ((1, 1, 1, 3), (3, 2)), ((1, 6, 9, 1), (4, 13)),
]
OPTIONS = [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("op", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
def test_resize(op, dtype, tmp_path):
    options = OPTIONS + ([(True, True)] if op == "RESIZE_NEAREST_NEIGHBOR" else [])
    cases = [(op, shape, size, a, h) for shape, size in GEOMETRIES for a, h in options]
    model, feeds = models_of(dtype, cases, add_resize)
    check(model, samples_for(feeds, dtype, seed=51, n=2), tmp_path)


def test_bilinear_refuses_align_corners_with_half_pixel_centers(tmp_path):
    b = ModelBuilder()
    x, _, y = add_resize(b, "float32", "", "RESIZE_BILINEAR", (1, 2, 2, 1), (4, 4), True, True)
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, "half_pixel_centers and align_corners together")


@pytest.mark.parametrize("size,out,match", [
    (np.array([4, 4], np.int32), (1, 4, 5, 1), r"output 'y' \(1, 4, 5, 1\) float32 must be \(1, 4, 4, 1\)"),
    (np.array([4, 4, 1], np.int32), (1, 4, 4, 1), "must be a constant int32 tensor of 2 values"),
    (None, (1, 4, 4, 1), "must be a constant int32 tensor of 2 values"),
])
def test_bad_sizes_are_one_line_errors(size, out, match, tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (1, 2, 2, 1), "float32")
    s = b.const("s", size) if size is not None else b.tensor("s", (2,), "int32")
    y = b.tensor("y", out, "float32")
    b.op("RESIZE_NEAREST_NEIGHBOR", [x, s], [y])
    b.inputs([x] if size is not None else [x, s])
    b.outputs([y])
    refused_as_malformed(b.build(), tmp_path, match)


def test_sanitized(tmp_path):
    cases = [("RESIZE_NEAREST_NEIGHBOR", *GEOMETRIES[1], True, True), ("RESIZE_BILINEAR", *GEOMETRIES[0], False, True),
             ("RESIZE_BILINEAR", *GEOMETRIES[6], True, False)]
    check_sanitized(*both_dtypes(cases, add_resize), tmp_path)
