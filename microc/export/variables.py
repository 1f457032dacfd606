"""Resource variables written back to .tflite (the inverse of microc/frontends/tflite_variables.py), so
TFLM can run an IR graph that has them: calibration and the layer-by-layer search (microc/divergence.py).
Each variable is a VAR_HANDLE per use, named by a shared_name of its own; CALL_ONCE gets an init
subgraph assigning its constants; the has-run flag is TFLM's CALL_ONCE's own again."""
from __future__ import annotations

from typing import Callable

from microc.export.flatbuffer import ModelWriter
from microc.ir import Op, Tensor

VARIABLE_OPS = ("READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


def is_resource(t: Tensor) -> bool:
    """A resource variable or CALL_ONCE's flag: no tensor of the .tflite (ir.Tensor.reset_fill)."""
    return t.variable and t.reset_fill is not None


def write_variable_op(writer: ModelWriter, op: Op, index: dict[int, int], names: dict[int, str],
                      write_tensor: Callable[[ModelWriter, Tensor], int]) -> None:
    """`op` as TFLite's operators; `names`: id(variable) -> shared_name, filled as variables come;
    `write_tensor`: the exporter's (CALL_ONCE's constants are written again in its init subgraph)."""
    if op.type == "READ_VARIABLE":
        writer.op("READ_VARIABLE", [_handle(writer, op.inputs[0], names)], [index[id(op.outputs[0])]])
    elif op.type == "ASSIGN_VARIABLE":
        writer.op("ASSIGN_VARIABLE", [_handle(writer, op.outputs[0], names), index[id(op.inputs[0])]], [])
    else:
        k = writer.add_subgraph(f"init{op.index}")
        for value, var in zip(op.inputs[1:], op.outputs):
            writer.op("ASSIGN_VARIABLE", [_handle(writer, var, names), write_tensor(writer, value)], [])
        writer.select(0)
        writer.op("CALL_ONCE", [], [], init_subgraph_index=k)


def _handle(writer: ModelWriter, var: Tensor, names: dict[int, str]) -> int:
    """A VAR_HANDLE of `var` in the current subgraph; its output's index."""
    if id(var) not in names:
        taken = set(names.values())
        names[id(var)] = next(n for n in (var.name, *(f"{var.name}#{i}" for i in range(1, len(taken) + 2)))
                              if n not in taken)
    h = writer.tensor(f"{names[id(var)]}/handle", (), "resource")
    writer.op("VAR_HANDLE", [], [h], shared_name=names[id(var)])
    return h
