"""Resource variables of a .tflite model (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE) turned
into the IR's variable tensors, as TFLM runs them (docs/recurrent.md).

TFLM keys a variable by VAR_HANDLE's (container, shared_name) (a handle without a container matches any),
gives it a buffer at the first ASSIGN_VARIABLE it prepares (subgraph 0's operators in order, then the
other subgraphs'), of that value's size, filled with the int8 zero point of the value's quantization (0
without one; memset byte by byte, whatever the dtype), and fills it so again on every reset. Here each
variable is one IR Tensor (variable=True, in the planner's persistent region) whose dtype, shape and
quantization are its first assignment's; the handles disappear:

    READ_VARIABLE(handle) -> y        becomes  READ_VARIABLE(variable) -> y
    ASSIGN_VARIABLE(handle, x)        becomes  ASSIGN_VARIABLE(x) -> variable
    CALL_ONCE(init_subgraph_index)    becomes  CALL_ONCE(flag, c1, c2, ...) -> (v1, v2, ...)

CALL_ONCE's init subgraph is lowered at compile time: it may only assign constants to variables (what
the TFLite converter writes for a variable's initial value), and runs on the first invoke only. Its
has-run flag is one more variable byte that a reset leaves alone, because TFLM's Reset() does not reset
CALL_ONCE either: after a reset the variables hold their zero-point fill, not the init values.
"""
from __future__ import annotations

from typing import Callable

from microc.errors import ModelFormatError, UnsupportedOperator
from microc.ir import Op, Tensor

VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


class _Variables:
    """The model's resource variables by (container, shared_name), in TFLM's order of creation."""

    def __init__(self):
        self.keys: list[tuple[str | None, str]] = []
        self.tensors: dict[int, Tensor] = {}  # key index -> the variable, once an assignment fixed it

    def find(self, container: str | None, shared_name: str) -> int:
        """The variable's key (TFLM's FindId, else a new one); -1 where TFLM's FindId would compare a
        container with a variable's null one (strcmp with NULL: it crashes)."""
        if container is not None and any(c is None for c, _ in self.keys):
            return -1
        for i, (c, n) in enumerate(self.keys):
            if (container is None or container == c) and shared_name == n:
                return i
        self.keys.append((container, shared_name))
        return len(self.keys) - 1

    def assigned(self, key: int, value: Tensor) -> Tensor:
        """The variable, made from the first value assigned to it (TFLM's MicroResourceVariables::Allocate)."""
        if key not in self.tensors:
            fill = int(value.quant.zero_point[0]) & 0xFF if value.quant is not None else 0  # int8-cast
            self.tensors[key] = Tensor(name=self.keys[key][1] or f"variable{key}", shape=tuple(value.shape),
                                       dtype=value.dtype, quant=value.quant, variable=True, reset_fill=fill)
        return self.tensors[key]


def lower_variables(ops: list[Op], read_subgraph: Callable[[int], list[Op]], count: int) -> list[Op]:
    """Subgraph 0's operators `ops` with resource variables as variable tensors. `read_subgraph(k)`: the
    operators of subgraph k (of `count`) as the frontend reads them (handles are tensors of dtype type13)."""
    if not any(op.type in VARIABLE_OPS for op in ops):
        return ops
    variables = _Variables()
    subgraphs = {k: read_subgraph(k) for k in _init_subgraphs(ops, count)}
    subgraphs[0] = ops
    handles = {k: _handles(sg_ops, variables, k) for k, sg_ops in sorted(subgraphs.items())}
    for k in sorted(subgraphs):  # TFLM prepares the subgraphs in order: the first assignment fixes a variable
        for op in subgraphs[k]:
            if op.type == "ASSIGN_VARIABLE":
                if len(op.inputs) != 2 or op.inputs[1] is None or op.outputs:
                    raise ModelFormatError(f"{_where(op, k)}: needs 2 inputs and no outputs")
                variables.assigned(_key(op, handles[k], k), op.inputs[1])
    out = []
    for op in ops:
        if op.type == "CALL_ONCE":
            k = op.attrs["init_subgraph_index"]
            once = _call_once(op, subgraphs[k], handles[k], variables, k)
            if once.outputs:  # an init subgraph that assigns nothing does nothing
                out.append(once)
        elif op.type in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
            out.append(_lower(op, handles[0], variables))
        elif op.type != "VAR_HANDLE":
            out.append(op)
    return out


def _handles(ops: list[Op], variables: _Variables, subgraph: int) -> dict[int, int]:
    """id(handle tensor) -> variable key, from the subgraph's VAR_HANDLE operators."""
    out = {}
    for op in ops:
        if op.type == "VAR_HANDLE":
            if len(op.outputs) != 1 or not op.attrs.get("shared_name"):
                raise ModelFormatError(f"{_where(op, subgraph)}: needs one output and a shared_name")
            key = variables.find(op.attrs.get("container"), op.attrs["shared_name"])
            if key < 0:
                raise UnsupportedOperator(f"{_where(op, subgraph)}: a container after a variable without one "
                                          "(TFLM's FindId then compares with a null container and crashes)")
            out[id(op.outputs[0])] = key
    return out


def _init_subgraphs(ops: list[Op], count: int) -> list[int]:
    inits = []
    for op in ops:
        if op.type == "CALL_ONCE":
            k = op.attrs.get("init_subgraph_index")
            if not isinstance(k, int) or not 0 < k < count or op.inputs or op.outputs:
                raise ModelFormatError(f"{_where(op)}: needs no inputs or outputs and an init subgraph "
                                       f"between 1 and {count - 1} (has {k})")
            inits.append(k)
    return sorted(set(inits))


def _key(op: Op, handles: dict[int, int], subgraph: int) -> int:
    h = op.inputs[0] if op.inputs else None
    if h is None or id(h) not in handles:
        raise ModelFormatError(f"{_where(op, subgraph)}: input 0 must be the output of a VAR_HANDLE")
    return handles[id(h)]


def _lower(op: Op, handles: dict[int, int], variables: _Variables) -> Op:
    if op.type == "READ_VARIABLE" and (len(op.inputs), len(op.outputs)) != (1, 1):
        raise ModelFormatError(f"{_where(op)}: needs 1 input and 1 output")
    key = _key(op, handles, 0)
    var = variables.tensors.get(key)
    if var is None:
        raise UnsupportedOperator(f"{_where(op)}: variable '{variables.keys[key][1]}' is read but never "
                                  "assigned (TFLM gives a variable its buffer at its first ASSIGN_VARIABLE)")
    if op.type == "READ_VARIABLE":
        _same_layout(op, op.outputs[0], var)
        return Op(op.type, [var], list(op.outputs), {}, op.name, op.index)
    _same_layout(op, op.inputs[1], var)
    return Op(op.type, [op.inputs[1]], [var], {}, var.name, op.index)


def _call_once(op: Op, init_ops: list[Op], handles: dict[int, int], variables: _Variables, k: int) -> Op:
    """CALL_ONCE with its init subgraph's constants as inputs (after the has-run flag) and the variables
    they are assigned to as outputs."""
    flag = Tensor(name=f"call_once{op.index}/done", shape=(1,), dtype="uint8", variable=True, reset_fill="keep")
    values, targets = [flag], []
    for init_op in init_ops:
        if init_op.type == "VAR_HANDLE":
            continue
        value = init_op.inputs[1] if init_op.type == "ASSIGN_VARIABLE" and len(init_op.inputs) == 2 else None
        if value is None or not value.is_const:
            raise UnsupportedOperator(
                f"{_where(op)}: its init subgraph {k} runs {_where(init_op, k)}; microc lowers init subgraphs "
                "of VAR_HANDLE and ASSIGN_VARIABLE of constants only")
        var = variables.tensors[_key(init_op, handles, k)]
        _same_layout(init_op, value, var, k)
        values.append(value)
        targets.append(var)
    return Op("CALL_ONCE", values, targets, {"init_subgraph_index": k}, f"call_once{op.index}", op.index)


def _same_layout(op: Op, t: Tensor, var: Tensor, subgraph: int = 0) -> None:
    """TFLM copies the variable's bytes as they are (its first assignment fixed them): another dtype or
    shape is refused."""
    if t.dtype != var.dtype or tuple(t.shape) != tuple(var.shape):
        raise UnsupportedOperator(
            f"{_where(op, subgraph)}: tensor '{t.name}' is {t.dtype} {list(t.shape)} but variable '{var.name}' "
            f"is {var.dtype} {list(var.shape)} (fixed by its first ASSIGN_VARIABLE)")


def _where(op: Op, subgraph: int = 0) -> str:
    where = f"{op.type} (operator {op.index}" + (f" of subgraph {subgraph}" if subgraph else "")
    return f"{where}, '{op.name}')"
