"""Arena planner: a fixed offset in one static buffer for every activation tensor.

Liveness is computed over the execution order: a buffer lives from the step that writes it to the last
step that reads it (graph inputs from step 0, graph outputs to the end). Operators that only reinterpret
their input (RESHAPE, SQUEEZE) share its buffer, and so does a view (a band of rows of a tensor that a
patch of microc/passes/patches.py reads or writes), at its byte offset. An operator whose lowering can write its output over an
input (`InPlace`) shares that input's buffer too, when the input dies at that step and is not a graph
input; the shared buffer is as large as the larger of the two, so the layer-wise lower bound (the most
bytes alive at any one step) itself falls.

Variable tensors (SVDF's and LSTM's state) are not in the arena: they keep their values from one
invoke() to the next, so they get a persistent region of their own (`Plan.state`), laid out one after
the other, which nothing else reuses.

Offsets: greedy placement under several orders (largest first, as TFLite Micro's greedy planner, and
others), the best kept; when that misses the aligned lower bound, OR-Tools' CP-SAT searches the
offsets for a bounded deterministic time, starting from the greedy result, which stays the fallback.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from microc.ir import Graph, Tensor

ALIAS_OPS = {"RESHAPE", "SQUEEZE"}
ALIGN = 16
# CP-SAT's budget in its deterministic time units (about seconds on one core, the same result on every
# run and machine): the shared models solve in well under one.
SOLVER_DETERMINISTIC_TIME = 10.0


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
    shares: "Buffer | None" = None  # in place: starts at this (input) buffer's offset, overlapping it

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last

    def root(self) -> "Buffer":
        return self.shares.root() if self.shares else self


class _Group:
    """Buffers at one offset (a chain of in-place outputs): at each step it takes the largest of its
    members alive then."""

    def __init__(self, members: list[Buffer]):
        self.members = members
        self.steps = {s: max(align(b.size) for b in members if b.first <= s <= b.last)
                      for s in range(min(b.first for b in members), max(b.last for b in members) + 1)
                      if any(b.first <= s <= b.last for b in members)}
        self.size = max(self.steps.values())
        self.first, self.last = min(self.steps), max(self.steps)
        self.offset = 0

    def need(self, other: "_Group") -> int:
        """Bytes it takes at the steps it shares with `other` (0: never alive together)."""
        return max((n for s, n in self.steps.items() if s in other.steps), default=0)


@dataclass(frozen=True)
class InPlace:
    """An operator that can write its output over one of its inputs: the first of `inputs` (positions)
    that dies at its step is used. `scratch` replaces the operator's usual scratch bytes then, with
    `option` telling its lowering how to run in that much (e.g. channels per pass); `faster` lists
    (scratch, option) pairs that run faster in more scratch, fastest first: the planner takes the
    fastest that leaves the arena as it is."""
    inputs: tuple[int, ...] = (0,)
    scratch: int = 0
    option: int = 0
    faster: tuple[tuple[int, int], ...] = ()


@dataclass
class Plan:
    buffers: list[Buffer]
    offsets: dict[int, int]  # id(tensor) -> arena offset
    scratch: dict[int, int]  # op step -> arena offset of its scratch buffer
    arena_bytes: int
    lower_bound_bytes: int
    in_place: dict[int, int] = field(default_factory=dict)  # step -> input position written over
    options: dict[int, int] = field(default_factory=dict)  # step -> InPlace option chosen
    refused: dict[int, str] = field(default_factory=dict)  # step -> why it could not run in place
    placement: str = "greedy"  # greedy, or cp-sat (optimal) / cp-sat (time limit)
    greedy_bytes: int = 0  # the best greedy placement's arena, for comparison
    state: dict[int, int] = field(default_factory=dict)  # id(variable tensor) -> offset in the state region
    state_bytes: int = 0

    def offset_of(self, t: Tensor) -> int:
        return self.offsets[id(t)]


def plan_state(graph: Graph) -> tuple[dict[int, int], int]:
    """The persistent region: every variable tensor at its own aligned offset."""
    offsets, end = {}, 0
    for t in graph.variables():
        offsets[id(t)] = end
        end += align(t.nbytes)
    return offsets, end


def plan_arena(graph: Graph, scratch_bytes: dict[int, int] | None = None,
               in_place: dict[int, InPlace] | None = None) -> Plan:
    """Plan the arena; scratch_bytes maps an op's step to the scratch memory it needs while it runs;
    in_place maps a step to the inputs its operator may overwrite."""
    in_place = in_place or {}
    buffers, chosen, refused = _buffers(graph, dict(scratch_bytes or {}), in_place)
    arena, placement, greedy = place_buffers(buffers, len(graph.ops))
    options = {step: in_place[step].option for step in chosen}
    faster = _faster_options(buffers, {s: in_place[s] for s in chosen}, arena)
    if faster:
        before = _resized_scratch(buffers, {s: n for s, (n, _) in faster.items()})
        new = place_buffers(buffers, len(graph.ops))
        if new[0] <= arena:
            arena, placement, greedy = new
            options.update({s: opt for s, (_, opt) in faster.items()})
        else:
            _resized_scratch(buffers, before)
            arena, placement, greedy = place_buffers(buffers, len(graph.ops))
    offsets = {id(t): b.offset + t.base_offset for b in buffers for t in b.tensors}
    scratch = {b.first: b.offset for b in buffers if not b.tensors}
    state, state_bytes = plan_state(graph)
    return Plan(buffers, offsets, scratch, arena, _lower_bound(buffers, len(graph.ops)), chosen, options,
                refused, placement, greedy, state, state_bytes)


def _faster_options(buffers: list[Buffer], specs: dict[int, InPlace],
                    arena: int) -> dict[int, tuple[int, int]]:
    """Per in-place step, the fastest (scratch, option) whose extra scratch fits in the bytes the arena
    leaves free at that step."""
    out = {}
    for step, spec in specs.items():
        if spec.scratch == 0:  # no scratch buffer planned to widen
            continue
        free = arena - sum(_alive_at(buffers, step, aligned=True))
        for scratch, option in spec.faster:
            if align(scratch) - align(spec.scratch) <= free:
                out[step] = (scratch, option)
                break
    return out


def _resized_scratch(buffers: list[Buffer], sizes: dict[int, int]) -> dict[int, int]:
    """Set the scratch buffers of these steps to these sizes; returns their sizes before."""
    before = {}
    for b in buffers:
        if not b.tensors and b.first in sizes:
            before[b.first], b.size = b.size, sizes[b.first]
    return before


def place_buffers(buffers: list[Buffer], steps: int) -> tuple[int, str, int]:
    """Set every buffer's offset; returns the arena, how it was placed and the best greedy arena."""
    groups = _groups(buffers)
    greedy = _place_greedy(groups)
    placement = "greedy"
    aligned_bound = max((sum(g.steps.get(s, 0) for g in groups) for s in range(steps + 1)), default=0)
    if greedy > aligned_bound:
        placement = _place_exact(groups, greedy, aligned_bound) or placement
    return max((g.offset + g.size for g in groups), default=0), placement, greedy


def _last_reads(graph: Graph) -> dict[int, int]:
    last = {}
    for step, op in enumerate(graph.ops):
        for t in op.inputs:
            if _in_arena(t):
                last[id(t)] = step
                if t.base is not None:  # reading a view reads its base's buffer
                    last[id(t.base)] = step
    for t in graph.outputs:
        last[id(t)] = len(graph.ops)
    return last


def _buffers(graph: Graph, scratch_bytes: dict[int, int], in_place: dict[int, InPlace]):
    end = len(graph.ops)
    owner: dict[int, Buffer] = {}
    last_read = _last_reads(graph)
    graph_inputs = {id(t) for t in graph.inputs}
    chosen: dict[int, int] = {}
    refused: dict[int, str] = {}

    def buffer_of(t: Tensor, step: int) -> Buffer:
        if id(t) not in owner:
            if t.base is not None:  # a view lives in its base's buffer
                join(buffer_of(t.base, step), t)
            else:
                owner[id(t)] = Buffer(t.nbytes, step, step, [t], t.name)
        return owner[id(t)]

    def join(b: Buffer, t: Tensor) -> None:
        b.tensors.append(t)
        owner[id(t)] = b

    for t in graph.inputs:
        buffer_of(t, 0)
    for step, op in enumerate(graph.ops):
        for t in op.inputs:
            if _in_arena(t):
                buffer_of(t, step).last = step
        src = op.inputs[0] if op.inputs else None
        target = None
        if step in in_place and len(op.outputs) == 1 and op.outputs[0].base is not None:
            refused[step] = "the output is a view of a larger buffer"
        elif step in in_place and len(op.outputs) == 1 and id(op.outputs[0]) not in owner:
            target, why = _in_place_input(op, in_place[step], owner, last_read, graph_inputs, step)
            if target is None:
                refused[step] = why
            else:
                chosen[step] = target
                scratch_bytes[step] = in_place[step].scratch
        for t in op.outputs:
            if t.variable:  # a resource variable an operator assigns: in the persistent region
                continue
            if op.type in ALIAS_OPS and src is not None and id(src) in owner and id(t) not in owner:
                join(owner[id(src)], t)
            elif target is not None:
                buffer_of(t, step).shares = owner[id(op.inputs[target])]
            else:
                buffer_of(t, step)
    for t in graph.outputs:
        owner[id(t)].last = end
    unique = list({id(b): b for b in owner.values()}.values())
    scratch = [Buffer(n, s, s, [], f"scratch{s}") for s, n in scratch_bytes.items() if n > 0]
    return unique + scratch, chosen, refused


def _in_arena(t: Tensor | None) -> bool:
    return t is not None and not t.is_const and not t.variable


def _in_place_input(op, spec: InPlace, owner, last_read, graph_inputs, step) -> tuple[int | None, str]:
    """The input position the output may overwrite, or None and the reason none may."""
    reasons = []
    for pos in spec.inputs:
        t = op.inputs[pos] if pos < len(op.inputs) else None
        if not _in_arena(t):
            reasons.append(f"input {pos} is not an activation")
            continue
        shared = owner[id(t)].tensors
        if t.base is not None:
            reasons.append(f"input {pos} is a view of a larger buffer")
        elif any(id(s) in graph_inputs for s in shared):
            reasons.append(f"input {pos} is a graph input (the caller's data)")
        elif any(last_read.get(id(s), -1) > step for s in shared):
            reasons.append(f"input {pos} is read later")
        else:
            return pos, ""
    return None, "; ".join(reasons)


def _groups(buffers: list[Buffer]) -> list[_Group]:
    roots: dict[int, list[Buffer]] = {}
    for b in buffers:
        roots.setdefault(id(b.root()), []).append(b)
    return [_Group(m) for m in roots.values()]


def _place(groups: list[_Group], offsets: list[int]) -> int:
    for g, off in zip(groups, offsets):
        g.offset = off
        for b in g.members:
            b.offset = off
    return max((g.offset + g.size for g in groups), default=0)


def _place_greedy(groups: list[_Group]) -> int:
    """The best of a few greedy orders; sets the offsets and returns the arena size."""
    orders = [lambda g: (-g.size, g.first), lambda g: (g.first, -g.size),
              lambda g: (-(g.last - g.first), -g.size), lambda g: (-g.size * (g.last - g.first + 1), g.first)]
    best = None
    for key in orders:
        placed: list[_Group] = []
        for g in sorted(groups, key=key):
            g.offset = _lowest_free_offset(g, placed)
            placed.append(g)
        arena = max((g.offset + g.size for g in groups), default=0)
        if best is None or arena < best[0]:
            best = arena, [g.offset for g in groups]
    return _place(groups, best[1]) if best else 0


def _lowest_free_offset(g: _Group, placed: list[_Group]) -> int:
    """The lowest offset where g's bytes at the steps it shares with each placed group miss that
    group's bytes at those steps."""
    busy = [(p.offset, p.offset + p.need(g), g.need(p)) for p in placed]
    busy = [b for b in busy if b[2] > 0]
    for off in sorted({0, *(end for _, end, _ in busy)}):
        if all(off + need <= start or off >= end for start, end, need in busy):
            return off
    return 0  # unreachable: the highest end is always free


def _place_exact(groups: list[_Group], upper: int, lower: int) -> str | None:
    """CP-SAT over offsets in units of ALIGN (at every step the groups alive do not overlap),
    minimizing the arena, hinted with the greedy offsets. Sets the offsets and returns how it ended,
    or None (no solver, or nothing better than greedy)."""
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pinned in pyproject; greedy placement still plans a valid arena
        return None
    m = cp_model.CpModel()
    top = upper // ALIGN
    arena = m.NewIntVar(lower // ALIGN, top, "arena")
    starts = []
    by_step: dict[int, list] = {}
    for i, g in enumerate(groups):
        start = m.NewIntVar(0, top - g.size // ALIGN, f"o{i}")
        m.AddHint(start, g.offset // ALIGN)
        m.Add(start + g.size // ALIGN <= arena)
        starts.append(start)
        for s, n in g.steps.items():
            by_step.setdefault(s, []).append(m.NewFixedSizeIntervalVar(start, n // ALIGN, f"g{i}s{s}"))
    for intervals in by_step.values():
        if len(intervals) > 1:
            m.AddNoOverlap(intervals)
    m.Minimize(arena)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # one worker and a deterministic budget: the same plan every run
    solver.parameters.max_deterministic_time = SOLVER_DETERMINISTIC_TIME
    solver.parameters.random_seed = 0
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) or solver.Value(arena) * ALIGN >= upper:
        return None
    _place(groups, [solver.Value(v) * ALIGN for v in starts])
    return "cp-sat (optimal)" if status == cp_model.OPTIMAL else "cp-sat (time limit)"


def _lower_bound(buffers: list[Buffer], steps: int) -> int:
    """The most bytes alive at one step; an in-place output and its input count once, as the larger.
    Summed over each buffer's lifetime (not every buffer at every step: patched graphs have thousands
    of short-lived buffers, and the code generator compares many of them)."""
    alive = [0] * (steps + 1)
    groups: dict[int, list[Buffer]] = {}
    for b in buffers:
        groups.setdefault(id(b.root()), []).append(b)
    for members in groups.values():
        most: dict[int, int] = {}
        for b in members:
            for s in range(b.first, b.last + 1):
                most[s] = max(most.get(s, 0), b.size)
        for s, n in most.items():
            alive[s] += n
    return max(alive, default=0)


def _alive_at(buffers: list[Buffer], step: int, aligned: bool = False) -> list[int]:
    """Bytes of each buffer group alive at the step (a group: an in-place chain at one offset)."""
    per_root: dict[int, int] = {}
    for b in buffers:
        if b.first <= step <= b.last:
            n = align(b.size) if aligned else b.size
            per_root[id(b.root())] = max(per_root.get(id(b.root()), 0), n)
    return list(per_root.values())


def bound_of(graph: Graph, scratch_bytes: dict[int, int] | None = None,
             in_place: dict[int, InPlace] | None = None) -> int:
    """The layer-wise lower bound of plan_arena's buffers without placing them (cheap: for comparing
    candidate graphs, e.g. patch regions)."""
    buffers, _, _ = _buffers(graph, dict(scratch_bytes or {}), in_place or {})
    return _lower_bound(buffers, len(graph.ops))
