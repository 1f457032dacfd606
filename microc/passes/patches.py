"""Patch-based execution of the first stage (MCUNetV2): the first operators of a model, run one band of
output rows (a patch) at a time, so that only one patch's intermediate tensors are alive at once.

A region is a prefix of the execution order that reads only graph inputs, made of operators whose
output rows depend on a band of input rows (convolutions, same-shape element-wise operators), whose
outputs (the tensors read after it) all have the same height and are not read inside it. For each
patch, the rows every tensor of the region needs are found backwards from the patch's output rows
(a convolution needs its filter's receptive field, so neighbouring patches recompute the overlap),
and the region's operators are emitted again on those bands: ordinary operators of the IR whose
tensors are small per-patch tensors, or views (ir.Tensor.base) of the full tensors the region reads
and writes. Patches span whole rows, so every band is contiguous in NHWC and the kernels run
unchanged: a band's convolution gets its own padding (the image's padding at the image's top and
bottom, none inside it), so border pixels skip the same taps as on the whole image, bit for bit.

The code generator (microc/codegen/generate.py) plans each candidate (region end, rows per patch) and
keeps the one with the smallest arena, under --optimize memory only.
"""
from __future__ import annotations

from dataclasses import dataclass

from microc.ir import DTYPE_BYTES, Graph, Op, Tensor

WINDOWED = ("CONV_2D", "DEPTHWISE_CONV_2D")
ELEMENTWISE = ("ADD", "SUB", "MUL", "RELU", "RELU6", "QUANTIZE")
ROWS = (1, 2, 4, 8)  # output rows per patch tried


@dataclass(frozen=True)
class Patches:
    """`end` operators run patch by patch, `rows` output rows per patch (the last may have fewer)."""
    end: int
    rows: int
    height: int  # rows of the region's outputs

    @property
    def count(self) -> int:
        return -(-self.height // self.rows)


def regions(graph: Graph) -> tuple[list[int], dict[int, str]]:
    """The prefix lengths that can run patch by patch (with a smaller output than their largest
    tensor, so patches can pay), and for the other prefixes why not."""
    ok, refused = [], {}
    for end in range(1, len(graph.ops) + 1):
        why = _refusal(graph, end)
        if why is None:
            ok.append(end)
        else:
            refused[end] = why
    return ok, refused


def _act(tensors) -> list[Tensor]:
    return [t for t in tensors if t is not None and not t.is_const]


def _op_refusal(op: Op) -> str | None:
    if op.type not in WINDOWED + ELEMENTWISE:
        return f"{op.type} does not run on a band of rows"
    ts = [*_act(op.inputs), *op.outputs]
    if len(op.outputs) != 1 or any(len(t.shape) != 4 or t.shape[0] != 1 for t in ts):
        return f"{op.type} is not on one NHWC image"
    if op.type in ELEMENTWISE and any(tuple(t.shape) != tuple(op.outputs[0].shape) for t in ts):
        return f"{op.type} broadcasts"
    if op.type in WINDOWED and not op.inputs[1].is_const:
        return f"{op.type} has a variable filter"
    return None


def _refusal(graph: Graph, end: int) -> str | None:
    ops = graph.ops[:end]
    for op in ops:
        if (why := _op_refusal(op)) is not None:
            return why
    made = {id(t) for op in ops for t in op.outputs}
    inputs = {id(t) for t in graph.inputs}
    if any(id(t) not in made and id(t) not in inputs for op in ops for t in _act(op.inputs)):
        return "reads a tensor made before it"
    outs = outputs_of(graph, end)
    if len({t.shape[1] for t in outs}) != 1:
        return "its outputs differ in height"
    read_inside = {id(t) for op in ops for t in _act(op.inputs)}
    if any(id(t) in read_inside for t in outs):
        return "an output is also read inside it"
    largest = max(t.nbytes for op in ops for t in [*_act(op.inputs), *op.outputs])
    if sum(t.nbytes for t in outs) >= largest:
        return "its outputs are as large as its largest tensor (no gain)"
    return None


def outputs_of(graph: Graph, end: int) -> list[Tensor]:
    """Tensors made by the first `end` operators and read after them (or graph outputs)."""
    made = {id(t): t for op in graph.ops[:end] for t in op.outputs}
    later = {id(t) for op in graph.ops[end:] for t in _act(op.inputs)} | {id(t) for t in graph.outputs}
    return [t for tid, t in made.items() if tid in later]


def candidates(graph: Graph) -> list[Patches]:
    ends, _ = regions(graph)
    out = []
    for end in ends:
        height = outputs_of(graph, end)[0].shape[1]
        out += [Patches(end, r, height) for r in ROWS if r < height]
    return out


def _needed_rows(op: Op, rows: tuple[int, int], x: Tensor) -> tuple[int, int]:
    """The input rows [begin, end) that output rows `rows` of `op` read (clipped to the image)."""
    if op.type not in WINDOWED:
        return rows
    k, s, d, top = _window(op)
    begin, end = rows[0] * s - top, (rows[1] - 1) * s - top + (k - 1) * d + 1
    return max(begin, 0), min(end, x.shape[1])


def _window(op: Op) -> tuple[int, int, int, int]:
    """Filter height, stride, dilation and top padding down the image."""
    return (op.inputs[1].shape[1], op.attrs.get("stride", (1, 1))[0], op.attrs.get("dilation", (1, 1))[0],
            op.attrs.get("pads", (0, 0, 0, 0))[0])


def _bands(ops: list[Op], outs: list[Tensor], rows: tuple[int, int]) -> dict[int, tuple[int, int]]:
    """Rows [begin, end) of every tensor of the region one patch needs, from its output rows back."""
    need = {id(t): rows for t in outs}
    for op in reversed(ops):
        y = op.outputs[0]
        if id(y) not in need:
            continue
        for x in _act(op.inputs):
            b, e = _needed_rows(op, need[id(y)], x)
            if id(x) in need:
                b, e = min(b, need[id(x)][0]), max(e, need[id(x)][1])
            need[id(x)] = (b, e)
    return need


def _view(t: Tensor, rows: tuple[int, int], of: tuple[int, int], name: str) -> Tensor:
    """Rows [rows) of t, which holds rows [of) of its image: t itself or a view of its base."""
    if rows == of:
        return t
    row_bytes = t.shape[2] * t.shape[3] * DTYPE_BYTES[t.dtype]
    base = t.base if t.base is not None else t
    return Tensor(name, (1, rows[1] - rows[0], *t.shape[2:]), t.dtype, t.quant,
                  base=base, base_offset=t.base_offset + (rows[0] - of[0]) * row_bytes)


def _band_op(op: Op, inputs: list, out: Tensor, out_rows: tuple[int, int], info: dict) -> Op:
    attrs = {**op.attrs, "patch": info}
    if op.type in WINDOWED:
        k, s, d, top = _window(op)
        x = inputs[0]
        first_in = max(out_rows[0] * s - top, 0)
        local_top = top - out_rows[0] * s + first_in
        bottom = (out.shape[1] - 1) * s + (k - 1) * d + 1 - local_top - x.shape[1]
        pads = op.attrs.get("pads", (0, 0, 0, 0))
        attrs["pads"] = (local_top, pads[1], max(bottom, 0), pads[3])
    return Op(op.type, inputs, [out], attrs, f"{op.name} (patch {info['patch']} rows "
              f"{out_rows[0]}-{out_rows[1] - 1})", op.index)


def apply(graph: Graph, p: Patches) -> tuple[Graph, list[int]]:
    """The graph with its first p.end operators run patch by patch, and for each of its operators the
    step of the original one it runs (the schedule it keeps)."""
    ops, outs = graph.ops[:p.end], outputs_of(graph, p.end)
    new_ops, origin = [], []
    for i in range(p.count):
        rows = (i * p.rows, min((i + 1) * p.rows, p.height))
        need = _bands(ops, outs, rows)
        held: dict[int, tuple[Tensor, tuple[int, int]]] = {id(t): (t, (0, t.shape[1])) for t in graph.inputs}
        for step, op in enumerate(ops):
            y = op.outputs[0]
            if id(y) not in need:
                continue
            info = {"patch": i, "patches": p.count, "op": step, "rows": list(need[id(y)])}
            tag = f"[p{i}]"
            inputs = []
            for t in op.inputs:
                if t is None or t.is_const:
                    inputs.append(t)
                    continue
                src, have = held[id(t)]
                wanted = _needed_rows(op, need[id(y)], t)
                inputs.append(_view(src, wanted, have, f"{t.name}{tag}[{wanted[0]}:{wanted[1]}]"))
            full = (0, y.shape[1])
            band = (need[id(y)][0], need[id(y)][1])
            out = (_view(y, band, full, f"{y.name}{tag}") if any(y is t for t in outs)
                   else Tensor(f"{y.name}{tag}", (1, band[1] - band[0], *y.shape[2:]), y.dtype, y.quant))
            held[id(y)] = (out, band)
            new_ops.append(_band_op(op, inputs, out, band, info))
            origin.append(step)
    new_ops += graph.ops[p.end:]
    origin += list(range(p.end, len(graph.ops)))
    return Graph(graph.name, new_ops, graph.inputs, graph.outputs, graph.source_hash), origin


def macs(graph: Graph) -> int:
    """Multiply-accumulates (convolutions) and element operations (the rest) of the patchable
    operators: what recomputing the patches' overlap adds to."""
    total = 0
    for op in graph.ops:
        y = op.outputs[0] if op.outputs else None
        if y is None:
            continue
        if op.type == "CONV_2D":
            total += y.size * op.inputs[1].size // op.inputs[1].shape[0]
        elif op.type == "DEPTHWISE_CONV_2D":
            total += y.size * op.inputs[1].shape[1] * op.inputs[1].shape[2]
        elif op.type in ELEMENTWISE:
            total += y.size
    return total
