"""Lowerings of the resize kernels (runtime_c/include/mc_resize.h): RESIZE_NEAREST_NEIGHBOR (int8, int16, float32)
and RESIZE_BILINEAR (int8, float32). Which input rows and columns feed each output row and column depends
on the shapes and the options alone, so it is computed here with TFLM's own steps: float32 arithmetic
(numpy float32 is IEEE single, as TFLM's) for the float paths, TFLM's 10-bit fixed point for int8 bilinear.
int8 values are interpolated raw, as TFLM does (no requantization)."""
from __future__ import annotations

import math

import numpy as np

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import require_dtype
from microc.ir import DTYPE_BYTES, Op

F = np.float32


def _scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    if align_corners and out_size > 1:
        return F(in_size - 1) / F(out_size - 1)
    return F(in_size) / F(out_size)


def nearest_sources(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> list[int]:
    """TFLM's GetNearestNeighbor for every output index."""
    scale, offset = _scale(in_size, out_size, align_corners), F(0.5 if half_pixel else 0.0)
    out = []
    for v in range(out_size):
        pos = (F(v) + offset) * scale
        # TfLiteRound: half away from zero
        src = int(math.floor(abs(pos) + 0.5)) * (1 if pos >= 0 else -1) if align_corners else math.floor(pos)
        src = min(src, in_size - 1)
        out.append(max(0, src) if half_pixel else src)
    return out


def bilinear_float(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """TFLM's ComputeInterpolationValues: per output index (position, lower, upper)."""
    scale = _scale(in_size, out_size, align_corners)
    rows = []
    for v in range(out_size):
        pos = (F(v) + F(0.5)) * scale - F(0.5) if half_pixel else F(v) * scale
        rows.append((pos, max(int(math.floor(pos)), 0), min(int(math.ceil(pos)), in_size - 1)))
    return rows


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def bilinear_integer(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """TFLM's ComputeInterpolationValuesInteger: per output index (weight in 1/1024, lower, upper)."""
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    rows = []
    for v in range(out_size):
        pos = v * scale + scale // 2 - (1 << 9) if half_pixel else v * scale
        lo = max(_cdiv(pos, 1 << 10), 0)
        rows.append((pos - (1 << 10) * lo, lo, min(_cdiv(pos + (1 << 10) - 1, 1 << 10), in_size - 1)))
    return rows


def _geometry(op: Op) -> tuple[str, dict, tuple[bool, bool]]:
    # TFLM's RESIZE_NEAREST_NEIGHBOR copies int16 pixels too; its RESIZE_BILINEAR has no int16 path
    dtype = require_dtype(op, ("int8", "int16", "float32") if op.type == "RESIZE_NEAREST_NEIGHBOR"
                          else ("int8", "float32"))
    x, y = op.inputs[0], op.outputs[0]
    align, half = op.attrs.get("align_corners", False), op.attrs.get("half_pixel_centers", False)
    if op.type == "RESIZE_BILINEAR" and align and half:
        raise unsupported(op, "half_pixel_centers and align_corners together (TFLM refuses them)")
    n, in_h, in_w, c = x.shape  # shapes: checked by the validation pass
    return dtype, dict(batches=n, in_h=in_h, in_w=in_w, out_h=y.shape[1], out_w=y.shape[2]), (align, half)


@lowering("RESIZE_NEAREST_NEIGHBOR")
def lower_resize_nearest(op: Op, ctx: LoweringContext) -> str:
    dtype, g, opts = _geometry(op)
    x, y = op.inputs[0], op.outputs[0]
    rows = ctx.const(np.array(nearest_sources(g["in_h"], g["out_h"], *opts), np.int32), "rows", "int32_t")
    cols = ctx.const(np.array(nearest_sources(g["in_w"], g["out_w"], *opts), np.int32), "cols", "int32_t")
    p = ctx.struct("mc_resize_nearest_t", "resize", {**g, "pixel_bytes": x.shape[3] * DTYPE_BYTES[dtype],
                                                       "rows": rows, "cols": cols})
    return f"mc_resize_nearest({p}, (const uint8_t *){ctx.ptr(x)}, (uint8_t *){ctx.ptr(y)});"


@lowering("RESIZE_BILINEAR")
def lower_resize_bilinear(op: Op, ctx: LoweringContext) -> str:
    dtype, g, opts = _geometry(op)
    x, y = op.inputs[0], op.outputs[0]
    fields = {**g, "channels": x.shape[3]}
    interpolate = bilinear_float if dtype == "float32" else bilinear_integer
    for axis, size, out in (("y", g["in_h"], g["out_h"]), ("x", g["in_w"], g["out_w"])):
        pos, lo, hi = zip(*interpolate(size, out, *opts))
        fields[f"{axis}0"] = ctx.const(np.array(lo, np.int32), f"{axis}0", "int32_t")
        fields[f"{axis}1"] = ctx.const(np.array(hi, np.int32), f"{axis}1", "int32_t")
        if dtype == "float32":
            fields[f"pos_{axis}"] = ctx.const(np.array(pos, np.float32), f"pos_{axis}", "float")
        else:
            fields[f"w_{axis}"] = ctx.const(np.array(pos, np.int32), f"w_{axis}", "int32_t")
    p = ctx.struct("mc_resize_bilinear_t", "resize", fields)
    return f"mc_resize_bilinear_{'f32' if dtype == 'float32' else 's8'}({p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
