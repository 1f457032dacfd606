"""Execution order of branching graphs (residual blocks, parallel branches): the topological order whose
most-bytes-alive step is smallest.

Exact by dynamic programming over the sets of operators already run (a graph's downsets: a chain has
n + 1, a residual block adds a few per branch point); graphs with more states than MAX_STATES, or whose
search would examine more than MAX_WORK (states x operators x tensors, each step's cost), keep their
order: an unrolled bidirectional GRU (microc.frontends.onnx_gru) has two independent chains of about
50 operators whose interleavings made a 106-operator search take minutes. The model's own order wins
ties, so a chain is never reordered.
"""
from __future__ import annotations

from microc.ir import Graph

MAX_STATES = 20000
MAX_WORK = 20_000_000


def memory_order(graph: Graph) -> Graph:
    """The graph with its operators in the order that needs the fewest activation bytes at one step."""
    order = _best_order(graph)
    if order is None or order == list(range(len(graph.ops))):
        return graph
    return Graph(graph.name, [graph.ops[i] for i in order], graph.inputs, graph.outputs, graph.source_hash)


def _best_order(graph: Graph) -> list[int] | None:
    ops = graph.ops
    producer = {id(t): i for i, op in enumerate(ops) for t in op.outputs if not t.variable}
    needs = _variable_order(ops)  # bitmask of the ops whose outputs op i reads, or that must run before
    consumers: dict[int, int] = {}  # id(tensor) -> bitmask of the ops reading it
    for i, op in enumerate(ops):
        for t in _activations(op.inputs):
            if id(t) in producer:
                needs[i] |= 1 << producer[id(t)]
            consumers[id(t)] = consumers.get(id(t), 0) | (1 << i)
    tensors = {id(t): t for op in ops for t in [*_activations(op.inputs), *op.outputs]}
    tensors.update({id(t): t for t in graph.inputs})
    kept = {id(t) for t in graph.outputs}

    # per tensor: the bit of its producer (0: a graph input, always made), its readers, kept, bytes;
    # computed once, as alive_bytes runs for every state of the search
    facts = [(1 << producer[tid] if tid in producer else 0, consumers.get(tid, 0), tid in kept, t.nbytes)
             for tid, t in tensors.items()]

    def alive_bytes(done: int, step: int) -> int:
        """Bytes alive while op `step` runs after the ops in `done`."""
        after = done | (1 << step)
        return sum(size for made_by, readers, keep, size in facts
                   if (not made_by or after & made_by) and (readers & ~done or keep))

    best: dict[int, tuple[int, list[int]]] = {0: (0, [])}
    work = 0
    for _ in ops:
        work += len(best) * len(ops) * len(facts)
        if work > MAX_WORK:
            return None
        frontier: dict[int, tuple[int, list[int]]] = {}
        for done, (peak, order) in best.items():
            for i in range(len(ops)):
                if (done >> i) & 1 or needs[i] & ~done:
                    continue
                state = done | (1 << i)
                cand = (max(peak, alive_bytes(done, i)), order + [i])
                if state not in frontier or cand < frontier[state]:  # ties: the model's order first
                    frontier[state] = cand
        if len(frontier) > MAX_STATES:
            return None
        best = frontier
    (peak, order), = best.values()
    return order


def _variable_order(ops) -> list[int]:
    """Per op, the bitmask of the earlier ops touching a variable it touches: a resource variable is
    read and assigned by several operators (docs/recurrent.md), whose order is the model's."""
    needs, last = [0] * len(ops), {}
    for i, op in enumerate(ops):
        for t in {id(t): t for t in [*op.inputs, *op.outputs] if t is not None and t.variable}:
            if t in last:
                needs[i] |= 1 << last[t]
            last[t] = i
    return needs


def _activations(tensors):
    return [t for t in tensors if t is not None and not t.is_const]
