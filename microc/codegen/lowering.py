"""The registry of operator lowerings and the context they write C through.

A lowering turns one IR operator into one C statement (usually a kernel call from runtime_c/), declaring
what it needs through the context: constant arrays (weights, biases, multipliers) that go to flash, and
static const parameter structs. All arithmetic that can be done at compile time is done in the lowering.
A lowering with a schedule (microc/codegen/schedule.py) reads its knobs from `ctx.schedule`; `schedules`
lists the layer's candidates on the board's ISA paths, its default first.

    @lowering("RELU")
    def lower_relu(op, ctx):
        return f"mc_relu_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {n});"
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from microc.errors import UnsupportedOperator
from microc.codegen.schedule import Schedule
from microc.ir import Graph, Op, Tensor
from microc.planner import InPlace, Plan

CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t",
          "int64": "int64_t", "float32": "float", "bool": "uint8_t", "uint32": "uint32_t", "uint64": "uint64_t"}


@dataclass
class Lowering:
    op_type: str
    emit: Callable[[Op, "LoweringContext"], str]
    scratch_bytes: Callable[[Op, Schedule | None], int] | None = None
    # (op, the board's ISA paths) -> the schedules this layer may run, the default first
    schedules: Callable[[Op, tuple[str, ...]], list[Schedule]] | None = None


_REGISTRY: dict[str, Lowering] = {}


def lowering(op_type: str, scratch_bytes: Callable[[Op, Schedule | None], int] | None = None,
             schedules: Callable[[Op, tuple[str, ...]], list[Schedule]] | None = None):
    def register(fn):
        _REGISTRY[op_type] = Lowering(op_type, fn, scratch_bytes, schedules)
        return fn
    return register


@dataclass(frozen=True)
class InPlaceLowering:
    """How an operator may write its output over an input (the planner decides where it may).
    check: the inputs it may overwrite and the scratch it then needs (under the layer's schedule),
    or None where the kernel cannot;
    emit: the in-place call, or None when the ordinary lowering already works in place (element-wise
    kernels); free: costs no instructions (--optimize balanced uses it; memory uses every variant)."""
    check: Callable[[Op, Schedule | None], InPlace | None]
    emit: Callable[[Op, "LoweringContext"], str] | None = None
    free: bool = True


_IN_PLACE: dict[str, InPlaceLowering] = {}
OPTIMIZE_MODES = ("speed", "balanced", "memory")


def register_in_place(op_type: str, check: Callable[[Op, Schedule | None], InPlace | None],
                      emit: Callable[[Op, "LoweringContext"], str] | None = None, free: bool = True) -> None:
    _IN_PLACE[op_type] = InPlaceLowering(check, emit, free)


def in_place_candidates(graph: Graph, optimize: str,
                        schedules: dict[int, Schedule] | None = None) -> dict[int, InPlace]:
    """The steps whose operator may run in place under --optimize `optimize` (speed: none), with
    their schedules (step -> Schedule)."""
    _load_all()
    out = {}
    for step, op in enumerate(graph.ops):
        variant = _IN_PLACE.get(op.type)
        if variant is None or optimize == "speed" or (optimize == "balanced" and not variant.free):
            continue
        spec = variant.check(op, (schedules or {}).get(step))
        if spec is not None:
            out[step] = spec
    return out


def in_place_emitter(op: Op) -> Callable[[Op, "LoweringContext"], str]:
    variant = _IN_PLACE[op.type]
    return variant.emit or lowering_for(op).emit


def best_isa(isas: tuple[str, ...], supported: tuple[str, ...] = ("portable", "dsp")) -> str:
    """The last (best) of the board's ISA paths that a kernel has."""
    return next((i for i in reversed(isas) if i in supported), "portable")


def isa_schedules(op: Op, isas: tuple[str, ...]) -> list[Schedule]:
    """The schedule of an operator whose only knob is the ISA path."""
    return [Schedule(isa=best_isa(isas))]


# Operators a frontend turns into something else, so no lowering sees them: VAR_HANDLE's handle becomes
# the variable tensor itself (microc/frontends/tflite_variables.py).
LOWERED_BY_FRONTENDS = ("VAR_HANDLE",)


def supported_ops() -> list[str]:
    _load_all()
    return sorted([*_REGISTRY, *LOWERED_BY_FRONTENDS])


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
    structs: list[tuple[str, str]] = field(default_factory=list)  # (C type, &name) in declaration order
    step: int = 0
    layer: int = 0  # the model's layer this step runs (a patch runs one of them: microc/passes/patches.py)
    schedule: Schedule | None = None  # the current layer's (None: its operator has no knobs)
    _names: set[str] = field(default_factory=set)
    _const_names: dict[tuple[int, bool], str] = field(default_factory=dict)
    _same: dict[tuple, str] = field(default_factory=dict)  # (layer, contents) -> array or struct

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
        if t.variable:
            return f"(({ctype} *)({self.prefix}_state + {self.plan.state[id(t)]}))"
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
        values = np.asarray(values).reshape(-1)
        key = (self.layer, ctype, flash, values.dtype.str, values.tobytes())
        if key not in self._same:  # the patches of a layer (microc/passes/patches.py) share its arrays
            self._same[key] = self.unique(hint)
            self.arrays.append(ConstArray(self._same[key], ctype, values, flash))
        return self._same[key]

    def decl(self, text: str) -> None:
        """Add a declaration (e.g. a static const parameter struct) to the model source."""
        self.decls.append(text)

    def struct(self, ctype: str, hint: str, fields: dict[str, object]) -> str:
        """Declare `static const ctype name = {.field = value, ...};` and return `&name`."""
        body = ", ".join(f".{k} = {c_value(v)}" for k, v in fields.items())
        key = (self.layer, ctype, body)
        if key not in self._same:  # patches of a layer with the same geometry share it
            name = self.unique(hint)
            self.decl(f"static const {ctype} {name} = {{{body}}};")
            self._same[key] = f"&{name}"
        self.structs.append((ctype, self._same[key]))
        return self._same[key]

    def last_struct(self, ctype: str) -> str:
        """`&name` of the latest struct of this type (a wrapper passes the ordinary kernel's parameters)."""
        return next(ref for t, ref in reversed(self.structs) if t == ctype)


def c_value(v: object) -> str:
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
