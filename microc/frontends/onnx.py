"""Read an .onnx model (opsets 11 and later) into the IR.

Shapes come from onnx.shape_inference after the caller's --input-shape overrides; every dimension must
be static. Constant subgraphs are folded with the onnx package's reference evaluator. Each node is then
converted by microc.frontends.onnx_ops onto TFLite's operator vocabulary, with 4-D activations kept in
the kernels' NHWC order (microc.frontends.onnx_layout); the graph's inputs and outputs keep the model's
own layout, converted at the edges (a RESHAPE where the order in memory is the same, else a TRANSPOSE).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from microc.errors import ModelFormatError, UnsupportedOperator
from microc.frontends.malformed import malformed_file
from microc.frontends.onnx_graph import Builder, Value
from microc.frontends.onnx_layout import Layout
from microc.frontends.onnx_ml import (ELEMENTWISE, ML_DOMAIN, ML_MIN_OPSET, annotate_shapes,
                                     convert_elementwise, convert_ml_node, fix_batch_dimension,
                                     fold_integer_features, is_ml_model)
from microc.frontends.onnx_ml_fold import fold
from microc.frontends.onnx_ops import CONVERTERS, supported_onnx_ops
from microc.ir import Graph

MIN_OPSET = 11
_TREE_FEATURES = {onnx.TensorProto.INT16: "int16", onnx.TensorProto.INT32: "int32"}  # classical models only
_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT8: "int8", **_TREE_FEATURES}
_NOT_FOLDED = {"DequantizeLinear", "Constant"}  # DequantizeLinear of a constant keeps its int8 data


def load_onnx(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None,
              for_quantization: bool = False) -> Graph:
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"cannot read {path}: {e.strerror}") from None
    model = _parse(path, path.name)
    with malformed_file(path.name):
        classical = is_ml_model(model)
        _check_opset(model, path.name, ML_MIN_OPSET if classical else MIN_OPSET, required=not classical)
        if classical:
            fix_batch_dimension(model, input_shapes or {})
            model = fold(model)
        _set_input_shapes(model, input_shapes or {}, path.name)
        model = annotate_shapes(model, lambda m: _infer_shapes(m, path.name)) if classical \
            else _infer_shapes(model, path.name)
        graph = _convert(model, path.stem, for_quantization)
    graph.source_hash = hashlib.sha256(buf).hexdigest()
    return graph


def _parse(path: Path, fname: str) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))  # weights in external data files are read from beside the model
    except Exception as e:  # protobuf's DecodeError, a missing external data file, ...
        if "should be stored in" in str(e):
            raise ModelFormatError(f"{fname}: {str(e).strip().splitlines()[0]}") from None
        raise ModelFormatError(f"{fname} is not an ONNX model ({type(e).__name__})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelFormatError(f"{fname} is not an ONNX model (no graph or no nodes)")
    return model


def _check_opset(model: onnx.ModelProto, fname: str, minimum: int, required: bool = True) -> None:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions and not required:  # a classical model may use ONNX-ML operators only
        return
    if not versions:
        raise ModelFormatError(f"{fname} imports no version of the default ONNX operator set")
    if versions[0] < minimum:
        raise ModelFormatError(f"{fname} uses opset {versions[0]}; microc reads opset {minimum} and later "
                               "(re-export it, or convert it with onnx.version_converter)")


def opset_of(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _graph_inputs(model: onnx.ModelProto) -> list:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _set_input_shapes(model: onnx.ModelProto, shapes: dict, fname: str) -> None:
    inputs = {i.name: i for i in _graph_inputs(model)}
    for name, shape in shapes.items():
        if name not in inputs:
            raise ModelFormatError(f"--input-shape names '{name}', but the inputs of {fname} are "
                                   f"{', '.join(inputs)}")
        dims = inputs[name].type.tensor_type.shape.dim
        if len(dims) and len(dims) != len(shape):
            raise ModelFormatError(f"--input-shape gives '{name}' {len(shape)} dimensions; "
                                   f"{fname} declares {len(dims)}")
        del dims[:]
        for d in shape:
            dims.add().dim_value = int(d)
    for name, inp in inputs.items():
        dims = inp.type.tensor_type.shape.dim
        if not inp.type.tensor_type.HasField("shape") or any(not d.HasField("dim_value") for d in dims):
            shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            raise ModelFormatError(f"input '{name}' of {fname} has a dynamic shape {shown}; fix it with "
                                   f"--input-shape {name}=" + ",".join(
                                       str(s) if isinstance(s, int) and s > 0 else "N" for s in shown))


def _infer_shapes(model: onnx.ModelProto, fname: str) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFormatError(f"{fname}: ONNX shape inference failed: {first}") from None


def _value_infos(model: onnx.ModelProto) -> dict[str, tuple[tuple[int, ...] | None, int]]:
    infos = {}
    g = model.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        tt = vi.type.tensor_type
        shape = None
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shape = tuple(int(d.dim_value) for d in tt.shape.dim)
        infos[vi.name] = (shape, tt.elem_type)
    return infos


def _convert(model: onnx.ModelProto, name: str, for_quantization: bool = False) -> Graph:
    g = model.graph
    consumers = defaultdict(list)
    for node in g.node:
        for i in node.input:
            consumers[i].append(node)
    b = Builder(name, consumers, {o.name for o in g.output})
    b.opset = opset_of(model)
    b.classical = is_ml_model(model)
    b.unroll_lstm = for_quantization
    b.infos = _value_infos(model)
    for init in g.initializer:
        data = numpy_helper.to_array(init)
        b.values[init.name] = Value(init.name, data.shape, const=data)
    inputs = [_graph_input(b, i) for i in _graph_inputs(model)]
    _fold_constants(b, model)
    for index, node in enumerate(g.node):
        if id(node) in b.done:
            continue
        b.node, b.node_index = node, index
        _convert_node(b, model, node)
    b.node = None
    outputs = [_graph_output(b, o.name) for o in g.output]
    ops = fold_integer_features(b.ops, outputs) if b.classical else b.ops
    return Graph(name=name, ops=ops, inputs=inputs, outputs=outputs)


def _graph_input(b: Builder, vi) -> object:
    shape, elem = b.infos[vi.name]
    if elem not in _DTYPES or (elem in _TREE_FEATURES and not b.classical):
        raise UnsupportedOperator(f"input '{vi.name}' is {helper.tensor_dtype_to_np_dtype(elem)}; "
                                  "microc runs float32 models (int8 through QuantizeLinear/"
                                  "DequantizeLinear; int8/int16/int32 features of tree ensembles)")
    t = b.tensor(vi.name, shape, _DTYPES[elem])
    b.define(vi.name, shape, t, Layout.identity(shape))
    return t


def _graph_output(b: Builder, name: str):
    v = b.values.get(name)
    if v is None:
        raise ModelFormatError(f"graph output '{name}' is produced by no node")
    t = b.ir(v, Layout.identity(v.shape), dtype="float32" if v.dequantized else None)
    if not any(t is op_out for op in b.ops for op_out in op.outputs):
        t = b.reshape_copy(t)  # an output that is an input or a constant still needs an op writing it
    t.name = name
    return t


def _fold_constants(b: Builder, model: onnx.ModelProto) -> None:
    """Evaluate every node that only reads constants first (in graph order), so that converters looking
    ahead (a MatMul at the Add after it) see the constants later nodes compute. Shape is a constant too:
    every shape is static."""
    for index, node in enumerate(model.graph.node):
        b.node, b.node_index = node, index
        if node.domain not in ("", "ai.onnx"):
            continue
        static = node.op_type == "Shape" and b.infos.get(node.input[0], (None,))[0] is not None
        if node.op_type == "Constant" or static \
                or (node.op_type == "DequantizeLinear" and _reads_constants(b, node)):
            CONVERTERS[node.op_type](b, node)
        elif node.op_type not in _NOT_FOLDED and node.input and _reads_constants(b, node):
            _fold(b, model, node)
        else:
            continue
        b.done.add(id(node))


def _reads_constants(b: Builder, node) -> bool:
    return all(b.values.get(i) is not None and b.values[i].is_const for i in node.input if i)


def _convert_node(b: Builder, model: onnx.ModelProto, node) -> None:
    if node.domain == ML_DOMAIN:  # classical models (microc.frontends.onnx_ml)
        return convert_ml_node(b, node)
    if b.classical and node.op_type in ELEMENTWISE:  # their scores' and labels' arithmetic
        return convert_elementwise(b, node)
    if node.domain not in ("", "ai.onnx"):
        raise _unsupported(b, node, f"custom domain '{node.domain}'")
    if node.op_type not in CONVERTERS:
        raise _unsupported(b, node, "")
    for out in node.output:
        if out and b.infos.get(out, (None,))[0] is None and node.op_type not in ("Dropout", "MaxPool"):
            raise ModelFormatError(f"{b.where()}: the shape of '{out}' cannot be inferred statically")
    CONVERTERS[node.op_type](b, node)


def _unsupported(b: Builder, node, extra: str) -> UnsupportedOperator:
    what = f"{node.op_type}{f' ({extra})' if extra else ''}"
    return UnsupportedOperator(f"unsupported ONNX operator {what} (node {b.node_index}, "
                               f"'{node.name or node.output[0]}'); "
                               f"supported: {', '.join(supported_onnx_ops())}")


def _fold(b: Builder, model: onnx.ModelProto, node) -> None:
    """Evaluate a node whose inputs are all constants, at import time."""
    from onnx.reference import ReferenceEvaluator
    feeds = {i: b.values[i].const for i in node.input if i}
    graph = helper.make_graph(
        [node], "fold", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                         for k, v in feeds.items()],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o])
    fold_model = helper.make_model(graph, opset_imports=list(model.opset_import))
    try:
        results = ReferenceEvaluator(fold_model).run(None, feeds)
    except Exception as e:
        raise _unsupported(b, node, f"constant folding failed: {type(e).__name__}") from None
    for name, data in zip([o for o in node.output if o], results):
        data = np.asarray(data)
        b.values[name] = Value(name, data.shape, const=data)
