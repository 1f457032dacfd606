"""Lowering of BATCH_MATMUL (runtime_c/include/mc_matmul.h), int8, int16 and float32 as TFLM runs them. The
operands' batch dimensions broadcast (rank <= 5): each output batch's matrix offsets are computed here, and
adj_x/adj_y become strides, so the kernel reads the operands in place (TFLM copies them transposed)."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import require_dtype
from microc.codegen.quant import quantize_multiplier, reduced_multiplier
from microc.ir import Op
from microc.passes.validate import matmul_shapes


S16_MAX_DEPTH = 1 << 17  # int64 sums of int16 products times a 16-bit multiplier stay below 2^63


def _requant_fields(op: Op, dtype: str, depth: int) -> dict:
    """GetQuantizedConvolutionMultipler (the float32 product of the scales, in double / out scale);
    int16 (TFLM's int64 accumulator): zero points 0, the multiplier reduced to 16 bits as the 16x8
    convolutions' (mc_requantize64)."""
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    for t in (a, b, y):
        if t.quant is None or t.quant.per_channel:
            raise unsupported(op, f"{dtype} tensor '{t.name}' must be quantized per tensor")
    product = float(np.float32(a.quant.s) * np.float32(b.quant.s))
    mult, shift = quantize_multiplier(product / float(np.float32(y.quant.s)))
    if dtype == "int8":
        return dict(lhs_offset=-a.quant.zp, rhs_offset=-b.quant.zp, out_offset=y.quant.zp,
                    multiplier=mult, shift=shift)
    if any(t.quant.zp != 0 for t in (a, b, y)):
        raise unsupported(op, "int16 tensors need zero point 0 (TFLM checks)")
    if depth > S16_MAX_DEPTH:
        raise unsupported(op, f"int16 depth {depth} (at most {S16_MAX_DEPTH}: the int64 sums could overflow)")
    mult16, total_shift = reduced_multiplier(mult, shift)
    if not 1 <= total_shift <= 62:
        raise unsupported(op, "the requantization scale (lhs x rhs / output) is outside what TFLM's int64 "
                              "requantization handles (shift in [-31, 7])")
    return dict(lhs_offset=0, rhs_offset=0, out_offset=0, multiplier=mult16, shift=total_shift)


def batch_offsets(lhs_shape, rhs_shape, batch) -> tuple[list[int], list[int]]:
    """Each output batch's lhs and rhs matrix offsets (elements); size-1 batch dimensions broadcast."""
    offsets = []
    for shape in (lhs_shape, rhs_shape):
        dims = (1,) * (len(batch) - len(shape) + 2) + tuple(shape[:-2])
        size = int(np.prod(shape[-2:], dtype=np.int64))
        index = np.arange(int(np.prod(dims, dtype=np.int64)), dtype=np.int64).reshape(dims)
        offsets.append((np.broadcast_to(index, batch).reshape(-1) * size).astype(np.int64).tolist())
    return offsets[0], offsets[1]


@lowering("BATCH_MATMUL")
def lower_batch_matmul(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "int16", "float32"))
    if op.inputs[1].dtype != dtype:
        raise unsupported(op, f"operands {dtype} and {op.inputs[1].dtype} (TFLM needs one type)")
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    batch, rows, depth, cols = matmul_shapes(op)  # checked by the validation pass
    adj_x, adj_y = op.attrs.get("adj_x", False), op.attrs.get("adj_y", False)
    lhs_off, rhs_off = batch_offsets(a.shape, b.shape, batch)
    fields = {"batches": len(lhs_off), "rows": rows, "cols": cols, "depth": depth,
              "lhs_row_stride": 1 if adj_x else depth, "lhs_depth_stride": rows if adj_x else 1,
              "rhs_depth_stride": 1 if adj_y else cols, "rhs_col_stride": depth if adj_y else 1,
              "lhs_offsets": ctx.const(np.array(lhs_off, np.int32), "lhs_off", "int32_t"),
              "rhs_offsets": ctx.const(np.array(rhs_off, np.int32), "rhs_off", "int32_t")}
    if dtype != "float32":
        fields.update(_requant_fields(op, dtype, depth))
    p = ctx.struct("mc_batch_matmul_t", "matmul", fields)
    fn = "mc_batch_matmul_" + {"int8": "s8", "int16": "s16", "float32": "f32"}[dtype]
    return f"{fn}({p}, {ctx.ptr(a)}, {ctx.ptr(b)}, {ctx.ptr(y)});"
