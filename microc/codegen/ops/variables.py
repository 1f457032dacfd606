"""Lowerings of the resource-variable operators (frontends/tflite_variables.py, docs/recurrent.md): byte
copies between the arena and the variables' place in the persistent region, as TFLM's kernels memcpy."""
from __future__ import annotations

from microc.codegen.lowering import LoweringContext, lowering
from microc.ir import Op


@lowering("READ_VARIABLE")
@lowering("ASSIGN_VARIABLE")
def lower_copy(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    return f"memcpy({ctx.ptr(y)}, {ctx.ptr(x)}, {y.nbytes});"


@lowering("CALL_ONCE")
def lower_call_once(op: Op, ctx: LoweringContext) -> str:
    """The init subgraph's assignments of constants, on the first invoke only: its has-run flag (input 0)
    is set then and, as TFLM's CALL_ONCE, never cleared, not even by a reset."""
    flag = ctx.ptr(op.inputs[0])
    copies = " ".join(f"memcpy({ctx.ptr(y)}, {ctx.ptr(x)}, {y.nbytes});" for x, y in zip(op.inputs[1:], op.outputs))
    return f"if (!{flag}[0]) {{ {copies} {flag}[0] = 1; }}"
