"""Arena planner: a fixed offset in one static buffer for every activation tensor.

Liveness is computed over the execution order: a buffer lives from the step that writes it to the last
step that reads it (graph inputs from step 0, graph outputs to the end). Operators that only reinterpret
their input (RESHAPE, SQUEEZE) share its buffer. Offsets are placed greedily, largest buffer first, at
the lowest aligned offset that overlaps no buffer alive at the same time (TFLite Micro's greedy planner
does the same); the layer-wise lower bound is the most bytes alive at any one step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from microc.ir import Graph, Tensor

ALIAS_OPS = {"RESHAPE", "SQUEEZE"}
ALIGN = 16


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass(eq=False)
class Buffer:
    size: int
    first: int
    last: int
    tensors: list[Tensor] = field(default_factory=list)
    name: str = ""
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class Plan:
    buffers: list[Buffer]
    offsets: dict[int, int]  # id(tensor) -> arena offset
    scratch: dict[int, int]  # op step -> arena offset of its scratch buffer
    arena_bytes: int
    lower_bound_bytes: int

    def offset_of(self, t: Tensor) -> int:
        return self.offsets[id(t)]


def plan_arena(graph: Graph, scratch_bytes: dict[int, int] | None = None) -> Plan:
    """Plan the arena; scratch_bytes maps an op's step to the scratch memory it needs while it runs."""
    buffers = _buffers(graph, scratch_bytes or {})
    _place(buffers)
    arena = max((b.offset + align(b.size) for b in buffers), default=0)
    offsets = {id(t): b.offset for b in buffers for t in b.tensors}
    scratch = {b.first: b.offset for b in buffers if not b.tensors}
    return Plan(buffers, offsets, scratch, arena, _lower_bound(buffers, len(graph.ops)))


def _buffers(graph: Graph, scratch_bytes: dict[int, int]) -> list[Buffer]:
    end = len(graph.ops)
    owner: dict[int, Buffer] = {}

    def buffer_of(t: Tensor, step: int) -> Buffer:
        if id(t) not in owner:
            owner[id(t)] = Buffer(t.nbytes, step, step, [t], t.name)
        return owner[id(t)]

    for t in graph.inputs:
        buffer_of(t, 0)
    for step, op in enumerate(graph.ops):
        for t in op.inputs:
            if t is not None and not t.is_const:
                buffer_of(t, step).last = step
        src = op.inputs[0] if op.inputs else None
        for t in op.outputs:
            if op.type in ALIAS_OPS and src is not None and id(src) in owner and id(t) not in owner:
                b = owner[id(src)]
                b.tensors.append(t)
                owner[id(t)] = b
            else:
                buffer_of(t, step)
    for t in graph.outputs:
        owner[id(t)].last = end
    unique = list({id(b): b for b in owner.values()}.values())
    scratch = [Buffer(n, s, s, [], f"scratch{s}") for s, n in scratch_bytes.items() if n > 0]
    return unique + scratch


def _place(buffers: list[Buffer]) -> None:
    placed: list[Buffer] = []
    for b in sorted(buffers, key=lambda b: (-b.size, b.first)):
        b.offset = _lowest_free_offset(b, [p for p in placed if p.overlaps_in_time(b)])
        placed.append(b)


def _lowest_free_offset(b: Buffer, busy: list[Buffer]) -> int:
    offset = 0
    for p in sorted(busy, key=lambda p: p.offset):
        if offset + align(b.size) <= p.offset:
            break
        offset = max(offset, p.offset + align(p.size))
    return offset


def _lower_bound(buffers: list[Buffer], steps: int) -> int:
    return max((sum(b.size for b in buffers if b.first <= s <= b.last) for s in range(steps + 1)),
               default=0)
