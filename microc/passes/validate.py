"""The validation pass: the IR a frontend produced is checked once, before anything else reads it.

Every tensor (dtype, shape, constant data size, quantization parameters), the graph's structure (each
activation written before it is read) and every supported operator's inputs and options against its
semantics (counts, ranks, agreeing shapes, strides and dilations, windows, output shapes). A failure is
one ModelFormatError naming the operator (index, type, name), the tensor and what is wrong, so the
passes, the planner and the lowerings may take a well-formed graph for granted. What a well-formed model
may still do that the kernels do not cover (hybrid weights, grouped convolutions, ...) is the lowerings'
to refuse.
"""
from __future__ import annotations

import math

import numpy as np

from microc.errors import ModelFormatError
from microc.ir import DTYPE_BYTES, Graph, Op, Tensor

# The C code addresses tensors and the arena with 32-bit offsets.
MAX_TENSOR_BYTES = 2**31 - 1
# Scales beyond these are not quantization (a model's are around 1e-6..1e3); inside them every scale
# ratio the lowerings compute stays finite in float32.
MIN_SCALE, MAX_SCALE = 2.0**-64, 2.0**40
QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-(2**15), 2**15 - 1),
          "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Operators that move, compare or convert raw values: their integer tensors need no quantization
# parameters.
MOVES_BYTES = {"RESHAPE", "SQUEEZE", "TRANSPOSE", "GATHER", "CAST", "ARG_MAX", "ARG_MIN", "READ_VARIABLE",
               "ASSIGN_VARIABLE", "CALL_ONCE", "TREE_ENSEMBLE"}  # TREE_ENSEMBLE: integer features (docs/classical.md)
# The operators whose outputs are variable tensors: resource variables (frontends/tflite_variables.py).
WRITES_VARIABLES = {"ASSIGN_VARIABLE", "CALL_ONCE"}
# A requantization multiplier in*w/out reaches the C kernels as Q31 and a left shift below 32.
MAX_REQUANT_RATIO = 2.0**31


def validate(graph: Graph) -> Graph:
    """Return the graph if it is well-formed; raise ModelFormatError naming the first problem."""
    checked: set[int] = set()
    written = {id(t) for t in graph.inputs}
    for step, op in enumerate(graph.ops):
        _check_op(op, _where(op, step), checked, written)
    if not graph.outputs:
        raise ModelFormatError("the graph has no output")
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for t in tensors:  # those no known operator reads or writes
            _check_tensor_once(t, f"graph {kind} '{t.name}'", checked)
            if t.variable:
                raise ModelFormatError(f"graph {kind} '{t.name}' is a variable tensor (the model's state, "
                                       "which only its operators read and update)")
    for t in graph.outputs:
        if id(t) not in written:
            raise ModelFormatError(f"graph output '{t.name}' is written by no operator")
    return graph


def _check_op(op: Op, where: str, checked: set[int], written: set[int]) -> None:
    if not isinstance(op.name, str):
        raise ModelFormatError(f"{where}: the operator's name is not UTF-8 text")
    rule = RULES.get(op.type)
    if rule is None:  # an operator microc does not know: the lowering refuses it by name
        written.update(id(t) for t in op.outputs)
        return
    for t in [*op.inputs, *op.outputs]:
        if t is not None:
            _check_tensor_once(t, f"{where}: tensor '{t.name}'", checked)
            if t.dtype in ("int8", "uint8", "int16") and t.quant is None and op.type not in MOVES_BYTES:
                raise ModelFormatError(f"{where}: tensor '{t.name}' is {t.dtype} without quantization "
                                       "parameters")
    _check_structure(op, where, written)
    problem = rule(op)
    if problem:
        raise ModelFormatError(f"{where}: {problem}")


def _where(op: Op, step: int) -> str:
    return f"operator {op.index if op.index >= 0 else step} ({op.type}, '{op.name}')"


def _check_structure(op: Op, where: str, written: set[int]) -> None:
    """Activations are read after an earlier operator (or the caller) wrote them, and written once
    (a variable tensor holds its initial value until its operator updates it)."""
    if not op.outputs:
        raise ModelFormatError(f"{where}: has no output")
    for t in op.inputs:
        if t is not None and not t.is_const and not t.variable and id(t) not in written:
            raise ModelFormatError(f"{where}: input '{t.name}' is read before any operator writes it")
    for t in op.outputs:
        if t.variable and op.type in WRITES_VARIABLES:
            continue  # a resource variable, written by every assignment (docs/recurrent.md)
        if t.is_const or t.variable or id(t) in written:
            what = "a constant" if t.is_const else "a variable tensor (state is an input its operator " \
                "updates)" if t.variable else "written twice"
            raise ModelFormatError(f"{where}: output '{t.name}' is {what}")
        written.add(id(t))


# ---- tensors ----

def _check_tensor_once(t: Tensor, where: str, checked: set[int]) -> None:
    if id(t) not in checked:
        problem = tensor_problem(t)
        if problem:
            raise ModelFormatError(f"{where} {problem}")
        checked.add(id(t))


def tensor_problem(t: Tensor) -> str | None:
    """What is wrong with the tensor on its own, or None."""
    if not isinstance(t.name, str):
        return "has a name that is not UTF-8 text"
    if t.dtype not in DTYPE_BYTES:
        return f"has type {t.dtype}, which microc does not support ({', '.join(DTYPE_BYTES)})"
    if any(d < (0 if t.is_const else 1) for d in t.shape):
        return f"has shape {t.shape}: every dimension must be positive"
    if t.nbytes > MAX_TENSOR_BYTES:
        return f"has shape {t.shape}: {t.nbytes:,} bytes is more than a microcontroller addresses"
    if t.is_const and (t.data.size != t.size or t.data.dtype != np.dtype(t.dtype)):
        return f"holds {t.data.size} {t.data.dtype} values for shape {t.shape} {t.dtype}"
    return _quant_problem(t) if t.quant is not None else None


def _quant_problem(t: Tensor) -> str | None:
    q = t.quant
    scales, zps = np.asarray(q.scale, np.float64), np.asarray(q.zero_point)
    if scales.size == 0 or zps.size != scales.size:
        return f"has {scales.size} scales and {zps.size} zero points"
    bad = [s for s in scales.tolist() if not (math.isfinite(s) and MIN_SCALE <= s <= MAX_SCALE)]
    if bad:
        return f"has scale {bad[0]:g}: scales must be finite and in [2^-64, 2^40]"
    lo, hi = QRANGE.get(t.dtype, (-(2**63), 2**63 - 1))
    if t.dtype in QRANGE and not (lo <= zps.min() and zps.max() <= hi):
        return f"has zero point {int(zps.min() if zps.min() < lo else zps.max())} outside {t.dtype}'s [{lo}, {hi}]"
    if scales.size > 1:
        axis = q.axis if q.axis is not None else -1
        if not 0 <= axis < len(t.shape) or t.shape[axis] != scales.size:
            return (f"has {scales.size} per-channel scales along axis {q.axis}, which does not match "
                    f"shape {t.shape}")
        if not t.is_const:
            return "is an activation quantized per channel (activations are quantized per tensor)"
    return None


# ---- operators ----

def _arity(op: Op, low: int, high: int, required: int | None = None, outputs: int = 1) -> str | None:
    """low..high inputs, the first `required` (default low) present; `outputs` outputs."""
    if not low <= len(op.inputs) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        return f"has {len(op.inputs)} inputs, expected {want}"
    missing = [i for i in range(low if required is None else required) if op.inputs[i] is None]
    if missing:
        return f"input {missing[0]} is missing"
    if len(op.outputs) != outputs:
        return f"has {len(op.outputs)} outputs, expected {outputs}"
    return None


def _rank(t: Tensor, rank: int, role: str) -> str | None:
    if len(t.shape) != rank:
        return f"{role} '{t.name}' must have rank {rank}, has shape {t.shape}"
    return None




def _unary(op: Op) -> str | None:
    """One input, an output of the same shape (element-wise operators, SOFTMAX)."""
    x, y = op.inputs[0], op.outputs[0]
    if tuple(x.shape) != tuple(y.shape):
        return f"output '{y.name}' {y.shape} must have the input's shape {x.shape}"
    if op.type == "SOFTMAX" and not x.shape:
        return "the input must have at least one dimension"
    for key in ("alpha", "beta"):
        if key in op.attrs and not math.isfinite(op.attrs[key]):
            return f"option {key} is {op.attrs[key]}, not a finite number"
    return None


def _bias(op: Op, bias: Tensor | None, channels: int) -> str | None:
    if bias is not None and (bias.size != channels or len(bias.shape) > 1 and max(bias.shape) != channels):
        return f"bias '{bias.name}' {bias.shape} must hold {channels} values, one per output channel"
    return None


def _requant_ratio(op: Op, x: Tensor, w: Tensor | None, y: Tensor) -> str | None:
    """int8 multiply-accumulate: in_scale * w_scale / out_scale must fit the kernels' Q31 multiplier."""
    if x.dtype != "int8" or y.dtype != "int8" or x.quant is None or y.quant is None:
        return None
    w_scale = 1.0 if w is None or w.quant is None else float(np.max(w.quant.scale))
    ratio = float(x.quant.scale[0]) * w_scale / float(y.quant.scale[0])
    if ratio >= MAX_REQUANT_RATIO:
        return f"the requantization scale {ratio:g} (input x weight / output scale) is at least 2^31"
    return None


def _weights_per_channel(w: Tensor, axis: int, channels: int) -> str | None:
    q = w.quant
    if q is not None and q.scale.size > 1 and (q.axis != axis or q.scale.size != channels):
        return (f"weights '{w.name}' have {q.scale.size} scales along axis {q.axis}, expected one per "
                f"output channel ({channels}) along axis {axis}")
    return None


def _fully_connected(op: Op) -> str | None:
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    if problem := _rank(w, 2, "weights"):
        return problem
    out_f, in_f = w.shape
    if x.size % in_f or y.size != x.size // in_f * out_f:  # ONNX's MatMul by a vector drops the last axis
        return (f"weights '{w.name}' {w.shape} do not map input '{x.name}' {x.shape} to output "
                f"'{y.name}' {y.shape} (input depth {in_f}, {out_f} outputs)")
    return _bias(op, bias, out_f) or _weights_per_channel(w, 0, out_f) or _requant_ratio(op, x, w, y)


def _window_problem(op: Op, in_hw, out_hw, kernel) -> str | None:
    """Strides, dilations and pads, and the output size they give (TFLite's SAME/VALID exactly; explicit
    pads with floor or ceil rounding, as ONNX allows)."""
    stride, dilation = op.attrs.get("stride", (1, 1)), op.attrs.get("dilation", (1, 1))
    pads = op.attrs.get("pads", (0, 0, 0, 0))
    if len(stride) != 2 or len(dilation) != 2 or len(pads) != 4:
        return f"stride {stride}, dilation {dilation} and pads {pads} must give both spatial axes"
    if min(*stride, *dilation) < 1 or min(kernel) < 1:
        return f"kernel {tuple(kernel)}, stride {tuple(stride)} and dilation {tuple(dilation)} must be >= 1"
    if min(pads) < 0:
        return f"pads {tuple(pads)} must not be negative"
    for axis, (n, out, k, s, d, lo, hi) in enumerate(zip(in_hw, out_hw, kernel, stride, dilation,
                                                         pads[:2], pads[2:])):
        eff = (k - 1) * d + 1
        if op.attrs.get("padding") == "SAME":
            allowed = {-(-n // s)}
        elif op.attrs.get("padding") == "VALID":
            allowed = {(n - eff) // s + 1} if n >= eff else set()
        else:
            span = n + lo + hi - eff
            allowed = {span // s + 1, -(-span // s) + 1} if span >= 0 else set()
        if out not in allowed:
            name = "HW"[axis]
            return (f"output {name} {out} does not follow from input {name} {n}, kernel {k}, stride {s}, "
                    f"dilation {d}" + (f", padding {op.attrs['padding']}" if "padding" in op.attrs
                                       else f", pads {lo}+{hi}") + f" (expected {sorted(allowed) or 'none'})")
    return None


def _conv(op: Op) -> str | None:
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    problem = _rank(x, 4, "input") or _rank(y, 4, "output") or _rank(w, 4, "filter")
    if problem:
        return problem
    depthwise = op.type == "DEPTHWISE_CONV_2D"
    out_c = w.shape[3] if depthwise else w.shape[0]
    if x.shape[0] != y.shape[0] or out_c != y.shape[3]:
        return f"filter '{w.name}' {w.shape} does not map input {x.shape} to output {y.shape}"
    if depthwise and (w.shape[0] != 1 or out_c % x.shape[3]):
        return (f"filter '{w.name}' {w.shape} must be [1, H, W, C*M] with C*M a multiple of the "
                f"input's {x.shape[3]} channels")
    if not depthwise and x.shape[3] % w.shape[3]:
        return f"filter depth {w.shape[3]} does not divide the input's {x.shape[3]} channels"
    return _window_problem(op, x.shape[1:3], y.shape[1:3], w.shape[1:3]) or _bias(op, bias, out_c) \
        or _weights_per_channel(w, 3 if depthwise else 0, out_c) or _requant_ratio(op, x, w, y)


def _transpose_conv(op: Op) -> str | None:
    """Inputs: the output shape (int32, 4 values), the filter [out_c, k_h, k_w, in_c], the input, an
    optional bias. TFLM takes the output size from the output tensor (any size: taps outside it are
    dropped); a constant output shape must agree with it."""
    shape, w, x, y = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    bias = op.inputs[3] if len(op.inputs) > 3 else None
    problem = _rank(x, 4, "input") or _rank(y, 4, "output") or _rank(w, 4, "filter")
    if problem:
        return problem
    if shape.dtype != "int32" or shape.size != 4:
        return f"output shape '{shape.name}' must hold 4 int32 values, has {shape.shape} {shape.dtype}"
    if shape.is_const and tuple(int(v) for v in shape.data.reshape(-1)) != tuple(y.shape):
        return f"output shape {shape.data.reshape(-1).tolist()} differs from the output's {y.shape}"
    if x.shape[0] != y.shape[0] or w.shape[0] != y.shape[3] or w.shape[3] != x.shape[3]:
        return f"filter '{w.name}' {w.shape} does not map input {x.shape} to output {y.shape}"
    stride = op.attrs.get("stride", (1, 1))
    if len(stride) != 2 or min(stride) < 1:
        return f"stride {tuple(stride)} must be >= 1 on both spatial axes"
    if "pads" not in op.attrs:
        return "the padding is missing"
    return _bias(op, bias, y.shape[3]) or _weights_per_channel(w, 0, y.shape[3])


def _pool(op: Op) -> str | None:
    x, y = op.inputs[0], op.outputs[0]
    if problem := _rank(x, 4, "input") or _rank(y, 4, "output"):
        return problem
    if x.shape[0] != y.shape[0] or x.shape[3] != y.shape[3]:
        return f"output {y.shape} must keep the input's batch and channels {x.shape}"
    if "filter" not in op.attrs or len(op.attrs["filter"]) != 2:
        return "the filter size is missing"
    return _window_problem(op, x.shape[1:3], y.shape[1:3], op.attrs["filter"]) \
       


def _binary(op: Op) -> str | None:
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    rank = max(len(a.shape), len(b.shape))
    dims = []
    for da, db in zip((1,) * (rank - len(a.shape)) + tuple(a.shape), (1,) * (rank - len(b.shape)) + tuple(b.shape)):
        if da != db and 1 not in (da, db):
            return f"inputs '{a.name}' {a.shape} and '{b.name}' {b.shape} do not broadcast"
        dims.append(max(da, db))
    if y.size != int(np.prod(dims, dtype=np.int64)) or len(y.shape) < rank:
        return f"output '{y.name}' {y.shape} is not the broadcast shape {tuple(dims)} of the inputs"
    if a.dtype != b.dtype:
        return f"inputs '{a.name}' ({a.dtype}) and '{b.name}' ({b.dtype}) differ in type"
    ratio = None
    if op.type == "MUL" and a.quant is not None and b.quant is not None:
        ratio = _requant_ratio(op, a, b, y)
    return ratio


def _reshape(op: Op) -> str | None:
    x, y = op.inputs[0], op.outputs[0]
    if x.size != y.size:
        return f"output '{y.name}' {y.shape} must hold the input's {x.size} values ({x.shape})"
    return None


def _mean(op: Op) -> str | None:
    x, y = op.inputs[0], op.outputs[0]
    if y.size == 0 or x.size % y.size:
        return f"output '{y.name}' {y.shape} cannot be a reduction of input {x.shape}"
    return _requant_ratio(op, x, None, y)


def _gather(op: Op) -> str | None:
    """TFLite's GATHER (TFLM's Prepare): int32 coordinates, batch_dims <= axis, the output shape
    input[:axis] + coords[batch_dims:] + input[axis + 1:]."""
    x, coords, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if coords.dtype != "int32":
        return f"coordinates '{coords.name}' are {coords.dtype}, expected int32"
    axis, batch_dims = gather_axes(op)
    if not 0 <= axis < len(x.shape):
        return f"axis {op.attrs.get('axis', 0)} is out of range for input {x.shape}"
    if not 0 <= batch_dims <= min(axis, len(coords.shape)) or \
            tuple(x.shape[:batch_dims]) != tuple(coords.shape[:batch_dims]):
        return (f"batch_dims {op.attrs.get('batch_dims', 0)} does not fit input {x.shape}, coordinates "
                f"{coords.shape} and axis {axis}")
    want = tuple(x.shape[:axis]) + tuple(coords.shape[batch_dims:]) + tuple(x.shape[axis + 1:])
    if tuple(y.shape) != want:
        return f"output '{y.name}' {y.shape} must be {want} (input {x.shape}, coordinates {coords.shape})"
    if y.dtype != x.dtype:
        return f"output '{y.name}' is {y.dtype}, the input {x.dtype}"
    return None


def gather_axes(op: Op) -> tuple[int, int]:
    """GATHER's axis and batch_dims with negative values counted from the end, as TFLM does."""
    axis, batch_dims = op.attrs.get("axis", 0), op.attrs.get("batch_dims", 0)
    return (axis + len(op.inputs[0].shape) if axis < 0 else axis,
            batch_dims + len(op.inputs[1].shape) if batch_dims < 0 else batch_dims)


def const_axis(op: Op, t: Tensor | None, rank: int) -> int | str:
    """A constant int32 scalar axis in [-rank, rank), normalized; or what is wrong with it."""
    if t is None or not t.is_const or t.dtype != "int32" or t.size != 1:
        return "the axis must be a constant int32 scalar"
    axis = int(t.data.reshape(-1)[0])
    if not -rank <= axis < rank:
        return f"axis {axis} is out of range for rank {rank}"
    return axis % rank


def _arg_minmax(op: Op) -> str | None:
    """ARG_MAX, ARG_MIN: the input without the axis, as int32 (TFLM's only output type)."""
    x, y = op.inputs[0], op.outputs[0]
    axis = const_axis(op, op.inputs[1], len(x.shape))
    if isinstance(axis, str):
        return axis
    want = tuple(x.shape[:axis]) + tuple(x.shape[axis + 1:])
    if y.dtype != "int32" or tuple(y.shape) != want:
        return f"output '{y.name}' {y.shape} {y.dtype} must be {want} int32"
    return None


def _state_inputs(*positions: int):
    """The inputs at `positions` are present variable tensors (the state an operator updates)."""
    def check(op: Op) -> str | None:
        for i in positions:
            if op.inputs[i] is None or not op.inputs[i].variable:
                return f"input {i} (the state) must be a variable tensor"
        return None
    return check


def _copies(op: Op) -> str | None:
    """READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE (after its has-run flag) copy each input to the output
    at its place, byte for byte: one dtype and shape; the variables among them are variable tensors."""
    sources = op.inputs[1:] if op.type == "CALL_ONCE" else op.inputs
    if len(sources) != len(op.outputs):
        return f"has {len(sources)} values for {len(op.outputs)} outputs"
    for x, y in zip(sources, op.outputs):
        if x is None or x.dtype != y.dtype or tuple(x.shape) != tuple(y.shape):
            return f"copies input {x.name if x else None!r} to output '{y.name}' of another dtype or shape"
        if (x if op.type == "READ_VARIABLE" else y).variable is False:
            return "the variable is not a variable tensor"
    if op.type == "CALL_ONCE" and not (op.inputs[0] is not None and op.inputs[0].variable):
        return "input 0 (the has-run flag) must be a variable tensor"
    return None


def _ranks(**want: int):
    """Inputs (by position, as `i<position>`) of these ranks where present."""
    def check(op: Op) -> str | None:
        for key, rank in want.items():
            t = op.inputs[int(key[1:])]
            problem = t is not None and _rank(t, rank, f"input {key[1:]}")
            if problem:
                return problem
        return None
    return check


_LSTM_RANKS = _ranks(i0=3, **{f"i{i}": 2 for i in range(1, 9)}, **{f"i{i}": 1 for i in range(12, 16)})


def _resize(op: Op) -> str | None:
    """RESIZE_*: a 4-D input, a constant int32 size [2] (TFLM requires it constant) giving the output's
    height and width; batch and channels kept."""
    x, size, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if problem := _rank(x, 4, "input") or _rank(y, 4, "output"):
        return problem
    if not size.is_const or size.dtype != "int32" or tuple(size.shape) != (2,):
        return f"size '{size.name}' must be a constant int32 tensor of 2 values"
    want = (x.shape[0], *(int(v) for v in size.data), x.shape[3])
    if tuple(y.shape) != want or y.dtype != x.dtype:
        return f"output '{y.name}' {y.shape} {y.dtype} must be {want} {x.dtype}"
    return None


def matmul_shapes(op: Op) -> tuple[tuple[int, ...], int, int, int] | str:
    """BATCH_MATMUL's (broadcast batch shape, rows, depth, cols), as TFLM's Prepare computes them, or
    what is wrong."""
    a, b = op.inputs[0], op.inputs[1]
    if not (2 <= len(a.shape) <= 5 and 2 <= len(b.shape) <= 5):
        return f"operands {a.shape} and {b.shape} must have rank 2 to 5"
    rank = max(len(a.shape), len(b.shape))
    ea, eb = (1,) * (rank - len(a.shape)) + tuple(a.shape), (1,) * (rank - len(b.shape)) + tuple(b.shape)
    if any(x != y and 1 not in (x, y) for x, y in zip(ea[:-2], eb[:-2])):
        return f"the batch dimensions of {a.shape} and {b.shape} do not broadcast"
    batch = tuple(max(x, y) for x, y in zip(ea[:-2], eb[:-2]))
    rows, depth = ea[-2:][::-1] if op.attrs.get("adj_x") else ea[-2:]
    depth_b, cols = eb[-2:][::-1] if op.attrs.get("adj_y") else eb[-2:]
    if depth != depth_b:
        return f"operands {a.shape} and {b.shape} do not multiply (depth {depth} and {depth_b})"
    return batch, rows, depth, cols


def _batch_matmul(op: Op) -> str | None:
    shapes = matmul_shapes(op)
    if isinstance(shapes, str):
        return shapes
    batch, rows, _, cols = shapes
    y = op.outputs[0]
    if tuple(y.shape) != (*batch, rows, cols):
        return f"output '{y.name}' {y.shape} must be {(*batch, rows, cols)}"
    if not op.inputs[0].dtype == op.inputs[1].dtype == y.dtype:
        return "the operands and the output must have one type"
    return None


def _checks(low: int, high: int, *rules, required: int | None = None, outputs: int = 1):
    def check(op: Op) -> str | None:
        problem = _arity(op, low, high, required, outputs)
        for rule in rules:
            problem = problem or rule(op)
        return problem
    return check


RULES = {
    "FULLY_CONNECTED": _checks(2, 3, _fully_connected),
    "CONV_2D": _checks(2, 3, _conv),
    "DEPTHWISE_CONV_2D": _checks(2, 3, _conv),
    "TRANSPOSE_CONV": _checks(3, 4, _transpose_conv),
    "AVERAGE_POOL_2D": _checks(1, 1, _pool),
    "MAX_POOL_2D": _checks(1, 1, _pool),
    "MEAN": _checks(2, 2, _mean),
    "SUM": _checks(2, 2, _mean),
    "REDUCE_MAX": _checks(2, 2, _mean),
    "REDUCE_MIN": _checks(2, 2, _mean),
    "ADD": _checks(2, 2, _binary),
    "SUB": _checks(2, 2, _binary),
    "MUL": _checks(2, 2, _binary),
    "RESHAPE": _checks(1, 2, _reshape, required=1),
    "SQUEEZE": _checks(1, 1, _reshape),
    "CONCATENATION": _checks(1, 64),
    "PAD": _checks(2, 2),
    "PADV2": _checks(2, 3, required=2),
    "TRANSPOSE": _checks(1, 2, required=1),
    # Classical ML (frontends/onnx_ml.py): the frontend checks the ensembles' tables it builds.
    "TREE_ENSEMBLE": _checks(1, 1),
    "ML_CLASSIFY": _checks(1, 1, outputs=2),
    "NORMALIZE": _checks(1, 1, _unary),
    "GATHER": _checks(2, 2, _gather),
    "ARG_MAX": _checks(2, 2, _arg_minmax),
    "ARG_MIN": _checks(2, 2, _arg_minmax),
    "CAST": _checks(1, 1, _unary),
    "IMPUTE": _checks(1, 1, _unary),
    "SVM_CLASSIFIER": _checks(1, 1, outputs=2),


    "RESIZE_NEAREST_NEIGHBOR": _checks(2, 2, _resize),
    "RESIZE_BILINEAR": _checks(2, 2, _resize),
    "BATCH_MATMUL": _checks(2, 2, _batch_matmul),
    "ML_ELEMENTWISE": _checks(1, 64),
    # Stateful operators (docs/recurrent.md): shapes against each other are the lowerings' to check.
    "SVDF": _checks(5, 5, _state_inputs(4), _ranks(i0=2, i1=2, i2=2, i3=1), required=3),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _checks(24, 24, _state_inputs(18, 19), _LSTM_RANKS, required=1),
    "READ_VARIABLE": _checks(1, 1, _copies),
    "ASSIGN_VARIABLE": _checks(1, 1, _copies),
    "CALL_ONCE": _copies,
    **{t: _checks(1, 1, _unary) for t in ("RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "QUANTIZE",
                                          "DEQUANTIZE", "LOGISTIC", "TANH", "HARD_SWISH", "SOFTMAX",
                                          "SQRT", "RSQRT", "EXP", "LOG")},
}
