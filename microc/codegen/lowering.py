"""The registry of operator lowerings and the context they write C through.

A lowering turns one IR operator into one C statement (usually a kernel call from runtime_c/), declaring
what it needs through the context: constant arrays (weights, biases, multipliers) that go to flash, and
static const parameter structs. All arithmetic that can be done at compile time is done in the lowering.

    @lowering("RELU")
    def lower_relu(op, ctx):
        return f"mc_relu_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {n});"
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from microc.errors import UnsupportedOperator
from microc.ir import Graph, Op, Tensor
from microc.planner import Plan

CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t",
          "int64": "int64_t", "float32": "float", "bool": "uint8_t"}


@dataclass
class Lowering:
    op_type: str
    emit: Callable[[Op, "LoweringContext"], str]
    scratch_bytes: Callable[[Op], int] | None = None


_REGISTRY: dict[str, Lowering] = {}


def lowering(op_type: str, scratch_bytes: Callable[[Op], int] | None = None):
    def register(fn):
        _REGISTRY[op_type] = Lowering(op_type, fn, scratch_bytes)
        return fn
    return register


def supported_ops() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def lowering_for(op: Op) -> Lowering:
    _load_all()
    if op.type not in _REGISTRY:
        raise UnsupportedOperator(
            f"unsupported operator {op.type} (operator {op.index}, '{op.name}'); "
            f"supported: {', '.join(supported_ops())}")
    return _REGISTRY[op.type]


def check_supported(graph: Graph) -> None:
    for op in graph.ops:
        lowering_for(op)


def unsupported(op: Op, why: str) -> UnsupportedOperator:
    """An error for a supported operator type used in a way the kernels do not cover."""
    return UnsupportedOperator(f"{op.type} (operator {op.index}, '{op.name}'): {why}")


def _load_all() -> None:
    # Importing the op modules registers their lowerings.
    from microc.codegen import ops  # noqa: F401


@dataclass
class ConstArray:
    name: str
    ctype: str
    values: np.ndarray
    flash: bool = False  # read only through MC_READ_* (MC_FLASH_ATTR: stays in flash on AVR)


@dataclass
class LoweringContext:
    plan: Plan
    prefix: str
    arrays: list[ConstArray] = field(default_factory=list)
    decls: list[str] = field(default_factory=list)
    step: int = 0
    _names: set[str] = field(default_factory=set)
    _const_names: dict[tuple[int, bool], str] = field(default_factory=dict)

    def unique(self, hint: str) -> str:
        base = f"{self.prefix}_l{self.step}_{hint}"
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}{i}", i + 1
        self._names.add(name)
        return name

    def ptr(self, t: Tensor) -> str:
        """A C expression for the tensor's data: its const array, or its place in the arena."""
        ctype = CTYPES[t.dtype]
        if t.is_const:
            return self.const_tensor(t)
        return f"(({ctype} *)({self.prefix}_arena + {self.plan.offset_of(t)}))"

    def scratch(self) -> str:
        return f"((void *)({self.prefix}_arena + {self.plan.scratch[self.step]}))"

    def const_tensor(self, t: Tensor, flash: bool = False) -> str:
        """The tensor's const array; `flash` for a kernel that reads it through MC_READ_* (a tensor
        also read by plain loads gets a second array)."""
        key = (id(t), flash)
        if key not in self._const_names:
            self._const_names[key] = self.const(t.data, "w", CTYPES[t.dtype], flash)
        return self._const_names[key]

    def const(self, values: np.ndarray, hint: str, ctype: str, flash: bool = False) -> str:
        """Emit a const array (flash) and return its name. `flash`: the kernel reads it only through
        MC_READ_* (runtime_c/include/mc_common.h), so AVR may keep it in program memory."""
        name = self.unique(hint)
        self.arrays.append(ConstArray(name, ctype, np.asarray(values).reshape(-1), flash))
        return name

    def decl(self, text: str) -> None:
        """Add a declaration (e.g. a static const parameter struct) to the model source."""
        self.decls.append(text)

    def struct(self, ctype: str, hint: str, fields: dict[str, object]) -> str:
        """Declare `static const ctype name = {.field = value, ...};` and return `&name`."""
        name = self.unique(hint)
        body = ", ".join(f".{k} = {_c_value(v)}" for k, v in fields.items())
        self.decl(f"static const {ctype} {name} = {{{body}}};")
        return f"&{name}"


def _c_value(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        return c_float(float(v))
    if isinstance(v, (int, np.integer)):
        return c_int(int(v))
    return str(v)


def c_int(v: int) -> str:
    # INT32_MIN cannot be written as a literal in C.
    return "(-2147483647 - 1)" if v == -(2**31) else str(v)


def c_float(v: float) -> str:
    if v == float("inf"):
        return "INFINITY"
    if v == float("-inf"):
        return "-INFINITY"
    return f"{np.float32(v).item()!r}f"
