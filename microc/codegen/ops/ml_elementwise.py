"""ML_ELEMENTWISE: the element-wise ONNX operators around a classical model's scores and labels
(microc.frontends.onnx_ml.convert_elementwise) as one C loop of plain arithmetic; no kernel: a handful of
values, float32 math as onnxruntime does it (powf, expf, logf, sqrtf). SCALER (ONNX-ML Scaler) too."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import CTYPES, LoweringContext, c_float, lowering, unsupported
from microc.ir import Op

_BINARY = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Less": "<", "Greater": ">", "Equal": "==",
           "LessOrEqual": "<=", "GreaterOrEqual": ">="}
_FLOAT_FN = {"Exp": "expf", "Log": "logf", "Sqrt": "sqrtf", "Abs": "fabsf"}


def _literal(value, dtype: str) -> str:
    if dtype == "float32":
        return c_float(float(value))
    return f"((int64_t){int(value)})" if dtype == "int64" else str(int(value))


def _operands(op: Op, ctx: LoweringContext) -> list[str]:
    out = []
    for kind, ref in op.attrs["operands"]:
        if kind == "input":
            t = op.inputs[ref]
            out.append(f"{ctx.ptr(t)}[{'i' if t.size > 1 else 0}]")
        elif ref.size == 1:
            out.append(_literal(ref[0], str(ref.dtype) if ref.dtype != np.float64 else "float32"))
        else:
            dtype = "float32" if ref.dtype.kind == "f" else ("bool" if ref.dtype == np.bool_ else "int64")
            out.append(f"{ctx.const(ref.astype(dtype), 'operand', CTYPES[dtype])}[i]")
    return out


def expression(op: Op, args: list[str]) -> str:
    kind, y = op.attrs["op"], op.outputs[0]
    if kind in _BINARY:
        return f"({args[0]} {_BINARY[kind]} {args[1]})"
    if kind == "Sum":
        return "(" + " + ".join(args) + ")"
    if kind in ("Max", "Min") and len(args) == 2:
        cmp = ">" if kind == "Max" else "<"
        return f"({args[0]} {cmp} {args[1]} ? {args[0]} : {args[1]})"
    if kind == "Neg":
        return f"(-{args[0]})"
    if kind == "Sign":
        return f"({args[0]} > 0 ? 1 : ({args[0]} < 0 ? -1 : 0))"
    if kind == "Not":
        return f"(!{args[0]})"
    if kind == "Where":
        return f"({args[0]} ? {args[1]} : {args[2]})"
    if kind == "Cast":
        return f"(({CTYPES[y.dtype]}){args[0]})"
    if kind == "Pow" and y.dtype == "float32":
        return f"powf({args[0]}, {args[1]})"
    if kind in _FLOAT_FN and y.dtype == "float32":
        return f"{_FLOAT_FN[kind]}({args[0]})"
    if kind == "Abs":
        return f"({args[0]} < 0 ? -{args[0]} : {args[0]})"
    raise unsupported(op, f"{kind} with {len(args)} operands of type {y.dtype} is not supported")


@lowering("ML_ELEMENTWISE")
def lower_ml_elementwise(op: Op, ctx: LoweringContext) -> str:
    y = op.outputs[0]
    value = expression(op, _operands(op, ctx))
    return f"{{ int32_t i; for (i = 0; i < {y.size}; ++i) {ctx.ptr(y)}[i] = ({CTYPES[y.dtype]}){value}; }}"


@lowering("SCALER")
def lower_scaler(op: Op, ctx: LoweringContext) -> str:
    """(x - offset) * scale per feature: one loop, no broadcasting kernel."""
    x, y = op.inputs[0], op.outputs[0]
    offset = ctx.const(op.attrs["offset"], "offset", "float")
    scale = ctx.const(op.attrs["scale"], "scale", "float")
    return (f"{{ int32_t i; for (i = 0; i < {y.size}; ++i) "
            f"{ctx.ptr(y)}[i] = ({ctx.ptr(x)}[i] - {offset}[i]) * {scale}[i]; }}")
