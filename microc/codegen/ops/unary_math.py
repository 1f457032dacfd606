"""Lowerings of SQRT, RSQRT, EXP, LOG (runtime_c/include/mc_pointwise.h). TFLM runs SQRT, EXP and LOG in
float32 only, RSQRT in float32 and int8; int8 RSQRT is a 256-entry table of TFLM's integer arithmetic
(RsqrtEvalQuantized), whose inputs below the zero point stop the inference with an error, as in TFLM."""
from __future__ import annotations

import numpy as np

from microc.codegen.fixedpoint import inv_sqrt_quantized_multiplier_exp, multiply_by_quantized_multiplier
from microc.codegen.lowering import LoweringContext, lowering, unsupported
from microc.codegen.ops.common import require_dtype
from microc.codegen.ops.pointwise import int8_table, per_tensor
from microc.codegen.quant import quantize_multiplier
from microc.ir import Op

RSQRT_SHIFT = 20  # TFLM's kShift: keeps 1/sqrt(value) an integer
FUNCTIONS = {"SQRT": "MC_SQRT", "RSQRT": "MC_RSQRT", "EXP": "MC_EXP", "LOG": "MC_LOG"}


def rsqrt_table(op: Op) -> tuple[np.ndarray, int]:
    """The table of every int8 input, and the lowest input allowed (the input zero point)."""
    (in_s, in_zp), (out_s, out_zp) = per_tensor(op, op.inputs[0]), per_tensor(op, op.outputs[0])
    # SetRsqrtOutputMultiplier: 1 / (double)(std::sqrt(float scale) * float out_scale), in float32
    mult, shift = quantize_multiplier(1.0 / float(np.sqrt(np.float32(in_s)) * np.float32(out_s)))

    def rsqrt(q: int) -> int:
        value = q - in_zp
        if value <= 0:  # 0 is "the max output value"; below 0 the kernel refuses the input first
            return 127
        inv_mult, inv_shift = inv_sqrt_quantized_multiplier_exp(value, -1)
        data = multiply_by_quantized_multiplier(1, inv_mult, inv_shift + RSQRT_SHIFT)
        return multiply_by_quantized_multiplier(data, mult, shift - RSQRT_SHIFT) + out_zp
    return int8_table(rsqrt), in_zp


@lowering("SQRT")
@lowering("RSQRT")
@lowering("EXP")
@lowering("LOG")
def lower_math(op: Op, ctx: LoweringContext) -> str:
    dtype = require_dtype(op, ("int8", "float32") if op.type == "RSQRT" else ("float32",))
    x, y = op.inputs[0], op.outputs[0]
    if dtype == "float32":
        return f"mc_math_f32({FUNCTIONS[op.type]}, {ctx.ptr(x)}, {ctx.ptr(y)}, {y.size});"
    table, lowest = rsqrt_table(op)
    if lowest > 127:
        raise unsupported(op, f"input zero point {lowest} leaves no valid int8 input")
    return (f"if (mc_lut_s8_from({ctx.const(table, 'lut', 'int8_t')}, {lowest}, {ctx.ptr(x)}, {ctx.ptr(y)}, "
            f"{y.size}) != 0) return 1;")
