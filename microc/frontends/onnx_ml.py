"""ONNX-ML (domain ai.onnx.ml) operators onto the IR: the classical models scikit-learn (skl2onnx),
XGBoost and LightGBM (onnxmltools) export.

One sample per inference: a dynamic leading (batch) dimension of such a model is fixed to 1. A tree
ensemble becomes TREE_ENSEMBLE (raw scores: the leaf weights summed, base values added), a linear
model FULLY_CONNECTED, and a classifier's label and probabilities come from ML_CLASSIFY, which applies
the post transform and onnxruntime's binary conventions (decided here, at compile time). Scaler is
SCALER; SVMRegressor is SVM_REGRESSOR, SVMClassifier
SVM_CLASSIFIER; Imputer is IMPUTE; Normalizer is NORMALIZE; ArrayFeatureExtractor with constant
indices is (TFLite's) GATHER; ZipMap and same-type Casts are the tensor itself (the reference's maps are read back as arrays).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import NodeProto, helper, numpy_helper

from microc.errors import UnsupportedOperator
from microc.frontends.onnx_graph import Builder
from microc.frontends.onnx_layout import Layout
from microc.frontends.onnx_ml_trees import INTEGER_FEATURES, Ensemble, TreeError, integer_features, parse_ensemble
from microc.frontends.onnx_ops import converter

ML_DOMAIN = "ai.onnx.ml"
ML_MIN_OPSET = 9  # of the default domain, in models with ONNX-ML operators (skl2onnx picks the lowest it needs)
ML_CONVERTERS = {}
TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO")


def ml_converter(*op_types: str):
    def register(fn):
        for t in op_types:
            ML_CONVERTERS[t] = fn
        return fn
    return register


def is_ml_model(model: onnx.ModelProto) -> bool:
    return any(o.domain == ML_DOMAIN for o in model.opset_import)


def fix_batch_dimension(model: onnx.ModelProto, given: dict) -> None:
    """A classical model runs one sample at a time: its inputs' dynamic first dimension becomes 1
    (unless the user's --input-shape sets it)."""
    inits = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in inits and vi.name not in given and len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1


def annotate_shapes(model: onnx.ModelProto, infer) -> onnx.ModelProto:
    """onnx's shape inference leaves the outputs of ONNX-ML operators without a static shape; set them
    from the inputs' and the attributes (one sample: [1] labels, [1, classes] scores, ...) and infer
    again, until every ML output downstream of another has one. `infer` is the strict inference."""
    for _ in range(sum(n.domain == ML_DOMAIN for n in model.graph.node) + 1):
        model = infer(model)
        shapes = {vi.name: vi for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]}
        inits = {i.name: i for i in model.graph.initializer}
        changed = False
        for node in model.graph.node:
            if node.domain != ML_DOMAIN or not node.input or node.input[0] not in shapes:
                continue
            for name, (elem, shape) in zip(node.output, _ml_output_types(node, shapes[node.input[0]], inits)):
                if name and shape is not None and _set_shape(model, shapes, name, elem, shape):
                    changed = True
        if not changed:
            return model
    return model


def _ml_output_types(node: NodeProto, vi, inits: dict) -> list:
    dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    if len(dims) not in (1, 2) or None in dims:
        return []
    n = dims[0] if len(dims) == 2 else 1
    a = attrs_of(node)
    labels = a.get("classlabels_int64s", a.get("classlabels_ints"))
    if node.op_type in ("TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier") and labels is not None:
        return [(onnx.TensorProto.INT64, [n]), (onnx.TensorProto.FLOAT, [n, _score_columns(node.op_type, a, len(labels))])]
    if node.op_type == "TreeEnsembleRegressor":
        return [(onnx.TensorProto.FLOAT, [n, int(a.get("n_targets", 1))])]
    if node.op_type == "SVMRegressor":
        return [(onnx.TensorProto.FLOAT, [n, 1])]
    if node.op_type == "LinearRegressor":
        return [(onnx.TensorProto.FLOAT, [n, int(a.get("targets", 1))])]
    if node.op_type in ("Scaler", "Normalizer", "Imputer"):
        return [(onnx.TensorProto.FLOAT, dims)]
    if node.op_type == "ArrayFeatureExtractor" and len(dims) == 2 and node.input[1] in inits:
        # one row: the indices picked from it (the SVC one-vs-rest arithmetic of skl2onnx)
        picked = int(np.prod(inits[node.input[1]].dims)) if inits[node.input[1]].dims else 1
        return [(vi.type.tensor_type.elem_type, [dims[0], picked])]
    return []


def _score_columns(op_type: str, a: dict, classes: int) -> int:
    """onnxruntime's SVMClassifier with support vectors and no probabilities writes one score per pair
    of classes (two for a binary model); every other classifier one per class."""
    if op_type != "SVMClassifier" or not len(a.get("vectors_per_class", [])) or len(a.get("prob_a", [])):
        return classes
    return classes * (classes - 1) // 2 if classes > 2 else 2


def _set_shape(model: onnx.ModelProto, known: dict, name: str, elem: int, shape: list) -> bool:
    vi = known.get(name)
    if vi is not None and vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape") and \
            all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim):
        return False
    for out in model.graph.output:
        if out.name == name:
            if not out.type.HasField("tensor_type"):
                return False
            out.type.tensor_type.ClearField("shape")
            for d in shape:
                out.type.tensor_type.shape.dim.add().dim_value = d
            return True
    kept = [v for v in model.graph.value_info if v.name != name]
    del model.graph.value_info[:]
    model.graph.value_info.extend([*kept, helper.make_tensor_value_info(name, elem, shape)])
    return True


def convert_ml_node(b: Builder, node: NodeProto) -> None:
    if node.op_type not in ML_CONVERTERS:
        raise UnsupportedOperator(f"unsupported ONNX-ML operator {node.op_type} (node {b.node_index}, "
                                  f"'{node.name or node.output[0]}'); supported: {', '.join(sorted(ML_CONVERTERS))}")
    ML_CONVERTERS[node.op_type](b, node)


def attrs_of(node: NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v
    return out


def _text(a: dict, name: str, default: str) -> str:
    v = a.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def _features(b: Builder, node: NodeProto, integer: bool = False):
    """The node's input as a float32 [1, F] IR tensor (or, `integer`, an int32 one too), and F."""
    v = b.input(0)
    if v.is_const or v.tensor is None:
        raise b.refuse("a constant input is not supported")
    if v.tensor.dtype != "float32" and not (integer and v.tensor.dtype == "int32"):
        more = " (tree ensembles: or int32; int8/int16 through a Cast to float)" if integer else ""
        raise b.refuse(f"input '{v.name}' is {v.tensor.dtype}; the classical operators read float32{more}")
    n = int(np.prod(v.shape))
    if len(v.shape) > 2 or (len(v.shape) == 2 and v.shape[0] != 1):
        raise b.refuse(f"input shape {list(v.shape)}: one sample [1, F] or [F] per inference")
    return b.ir(v, Layout.identity(v.shape), shape=(1, n)), n


def _define(b: Builder, name: str, t) -> None:
    if name:
        b.define(name, t.shape, t, Layout.identity(t.shape))


def _labels(b: Builder, a: dict, key: str = "classlabels_int64s") -> np.ndarray:
    if a.get("classlabels_strings") is not None and len(a.get("classlabels_strings")):
        raise b.refuse("string class labels are not supported (export integer labels, e.g. with "
                       "a LabelEncoder before training)")
    labels = a.get(key)
    if labels is None or not len(labels):
        raise b.refuse(f"attribute {key} is missing")
    return np.asarray(labels, np.int64)


def _transform(b: Builder, a: dict, allowed=TRANSFORMS) -> str:
    t = _text(a, "post_transform", "NONE")
    if t not in allowed:
        raise b.refuse(f"post_transform {t} is not supported (supported: {', '.join(allowed)})")
    return t


def _ensemble(b: Builder, a: dict, prefix: str, n_targets: int, n_features: int) -> Ensemble:
    try:
        return parse_ensemble(a, prefix, n_targets, n_features)
    except TreeError as e:
        raise b.refuse(str(e)) from None


def _tree_ensemble(b: Builder, x, ens: Ensemble, name: str):
    if x.dtype != "float32":  # onnxruntime's int32 features
        ens = integer_features(ens, x.dtype)
    raw = b.tensor(name, (1, ens.n_targets), "float32")
    b.emit("TREE_ENSEMBLE", [x], [raw], ensemble=ens)
    return raw


@ml_converter("TreeEnsembleClassifier")
def convert_tree_classifier(b: Builder, node: NodeProto) -> None:
    a = attrs_of(node)
    labels = _labels(b, a)
    transform = _transform(b, a)
    x, n_features = _features(b, node, integer=True)
    ens = _ensemble(b, a, "class", len(labels), n_features)
    used = sorted({int(c) for c in a.get("class_ids", [])})
    base = np.asarray(a.get("base_values", a.get("base_values_as_tensor", [])), np.float32).reshape(-1)
    if len(labels) == 2 and len(used) == 1:
        # onnxruntime's binary case: one column of weights; its sign (or 0.5 with only positive
        # weights) picks the label.
        if len(base) > 1:
            raise b.refuse("a binary classifier with weights for one class and two base_values is not supported")
        for t in ens.trees:
            t.leaves = np.ascontiguousarray(t.leaves[:, used[0]:used[0] + 1])
        ens.n_targets, ens.base_values = 1, base if len(base) else np.zeros(1, np.float32)
        weights = a.get("class_weights", a.get("class_weights_as_tensor", []))
        positive = bool(np.all(np.asarray(weights) >= 0))
        raw = _tree_ensemble(b, x, ens, f"{node.output[0]}_raw")
        _classify(b, node, raw, labels, transform, binary="half" if positive else "sign")
        return
    if len(labels) == 2:
        # onnxruntime labels such a model by the sign of class 1's score alone, not by the top class the
        # ONNX spec names; no exporter writes it, so it is refused rather than guessed.
        raise b.refuse("a binary classifier with leaf weights for both classes is not supported "
                       "(onnxruntime labels it by the sign of class 1's score, not the top class)")
    if len(base) not in (0, len(labels)):
        raise b.refuse(f"{len(base)} base_values for {len(labels)} classes is not supported")
    if len(base):
        ens.base_values = base
    if len(used) != len(labels) and not len(base):
        raise b.refuse(f"classes {sorted(set(range(len(labels))) - set(used))} have no leaf weights")
    raw = _tree_ensemble(b, x, ens, f"{node.output[0]}_raw")
    _classify(b, node, raw, labels, transform)


@ml_converter("TreeEnsembleRegressor")
def convert_tree_regressor(b: Builder, node: NodeProto) -> None:
    a = attrs_of(node)
    _transform(b, a, ("NONE",))
    x, n_features = _features(b, node, integer=True)
    ens = _ensemble(b, a, "target", int(a.get("n_targets", 1)), n_features)
    base = np.asarray(a.get("base_values", a.get("base_values_as_tensor", [])), np.float32).reshape(-1)
    if len(base) not in (0, ens.n_targets):
        raise b.refuse(f"{len(base)} base_values for {ens.n_targets} targets is not supported")
    if len(base):
        ens.base_values = base
    _define(b, node.output[0], _tree_ensemble(b, x, ens, node.output[0]))


def _linear(b: Builder, node: NodeProto, a: dict, name: str):
    x, n_features = _features(b, node)
    coef = np.asarray(a.get("coefficients", []), np.float32)
    if coef.size == 0 or coef.size % n_features:
        raise b.refuse(f"{coef.size} coefficients do not fit {n_features} features")
    rows = coef.size // n_features
    intercepts = np.asarray(a.get("intercepts", np.zeros(rows)), np.float32)
    if intercepts.size != rows:
        raise b.refuse(f"{intercepts.size} intercepts for {rows} outputs")
    out = b.tensor(name, (1, rows), "float32")
    w = b.const_tensor(coef.reshape(rows, n_features), "coefficients", "float32")
    bias = b.const_tensor(intercepts, "intercepts", "float32")
    b.emit("FULLY_CONNECTED", [x, w, bias], [out], activation="NONE")
    return out


@ml_converter("LinearClassifier")
def convert_linear_classifier(b: Builder, node: NodeProto) -> None:
    a = attrs_of(node)
    labels = _labels(b, a, "classlabels_ints")
    transform = _transform(b, a)
    raw = _linear(b, node, a, f"{node.output[0]}_raw")
    if raw.shape[1] == 1 and len(labels) == 2:
        _classify(b, node, raw, labels, transform, binary="linear")
    elif raw.shape[1] == len(labels):
        _classify(b, node, raw, labels, transform)
    else:
        raise b.refuse(f"{raw.shape[1]} score rows for {len(labels)} class labels")


@ml_converter("LinearRegressor")
def convert_linear_regressor(b: Builder, node: NodeProto) -> None:
    a = attrs_of(node)
    _transform(b, a, ("NONE",))
    _define(b, node.output[0], _linear(b, node, a, node.output[0]))


SVM_KERNELS = ("LINEAR", "POLY", "RBF", "SIGMOID")


@ml_converter("SVMRegressor")
def convert_svm_regressor(b: Builder, node: NodeProto) -> None:
    a = attrs_of(node)
    _transform(b, a, ("NONE",))
    kernel = _text(a, "kernel_type", "LINEAR")
    if kernel not in SVM_KERNELS:
        raise b.refuse(f"kernel_type {kernel} is not supported (supported: {', '.join(SVM_KERNELS)})")
    x, n_features = _features(b, node)
    n_vectors = int(a.get("n_supports", 0))
    coef = np.asarray(a.get("coefficients", []), np.float32)
    vectors = np.asarray(a.get("support_vectors", []), np.float32)
    if n_vectors and (vectors.size != n_vectors * n_features or coef.size != n_vectors):
        raise b.refuse(f"{n_vectors} support vectors of {n_features} features need {n_vectors * n_features} "
                       f"values and {n_vectors} coefficients ({vectors.size}, {coef.size} given)")
    if not n_vectors and coef.size != n_features:
        raise b.refuse(f"a linear SVMRegressor needs {n_features} coefficients ({coef.size} given)")
    params = list(np.asarray(a.get("kernel_params", [0, 0, 0]), np.float32)) + [0.0] * 3
    out = b.tensor(node.output[0], (1, 1), "float32")
    b.emit("SVM_REGRESSOR", [x], [out], kernel=kernel if n_vectors else "LINEAR", coef=coef,
           vectors=vectors.reshape(n_vectors, n_features) if n_vectors else None,
           gamma=params[0], coef0=params[1], degree=params[2],
           rho=float(np.asarray(a.get("rho", [0.0]), np.float32).reshape(-1)[0]),
           one_class=bool(a.get("one_class", 0)))
    _define(b, node.output[0], out)


@ml_converter("SVMClassifier")
def convert_svm_classifier(b: Builder, node: NodeProto) -> None:
    """SVM_CLASSIFIER, onnxruntime's one-vs-one SVC: a kernel value per support vector, for each pair
    of classes i < j the score sum(coef * K) + rho and a vote for i (score > 0) or j; the label is the
    first class with the most votes, the scores the pairs' (binary: [-s, s])."""
    a = attrs_of(node)
    labels = _labels(b, a, "classlabels_ints")
    _transform(b, a, ("NONE",))
    kernel = _text(a, "kernel_type", "LINEAR")
    if kernel not in SVM_KERNELS:
        raise b.refuse(f"kernel_type {kernel} is not supported (supported: {', '.join(SVM_KERNELS)})")
    if len(a.get("prob_a", [])):
        raise b.refuse("probability outputs (prob_a, prob_b: SVC(probability=True)) are not supported")
    per_class = np.asarray(a.get("vectors_per_class", []), np.int64)
    if not len(per_class):
        raise b.refuse("a linear SVMClassifier without support vectors is not supported (export LinearSVC, "
                       "a LinearClassifier)")
    x, n_features = _features(b, node)
    n_classes, n_vectors = len(labels), int(per_class.sum())
    pairs = n_classes * (n_classes - 1) // 2
    coef = np.asarray(a.get("coefficients", []), np.float32)
    vectors = np.asarray(a.get("support_vectors", []), np.float32)
    rho = np.asarray(a.get("rho", []), np.float32)
    if len(per_class) != n_classes or np.any(per_class < 0) or vectors.size != n_vectors * n_features or \
            coef.size != (n_classes - 1) * n_vectors or rho.size != pairs:
        raise b.refuse(f"{n_classes} classes, {n_vectors} support vectors of {n_features} features need "
                       f"{n_classes} vectors_per_class, {n_vectors * n_features} support_vectors values, "
                       f"{(n_classes - 1) * n_vectors} coefficients and {pairs} rho ({len(per_class)}, "
                       f"{vectors.size}, {coef.size}, {rho.size} given)")
    params = list(np.asarray(a.get("kernel_params", [0, 0, 0]), np.float32)) + [0.0] * 3
    _classifier_op(b, node, "SVM_CLASSIFIER", x, _score_columns("SVMClassifier", a, n_classes), kernel=kernel,
                   labels=labels, vectors=vectors.reshape(n_vectors, n_features),
                   coef=coef.reshape(n_classes - 1, n_vectors), rho=rho,
                   starts=np.concatenate([[0], np.cumsum(per_class)]).astype(np.int32),
                   gamma=params[0], coef0=params[1], degree=params[2])


@ml_converter("Imputer")
def convert_imputer(b: Builder, node: NodeProto) -> None:
    """IMPUTE: a feature equal to replaced_value_float (NaN: any NaN) becomes its imputed value."""
    a = attrs_of(node)
    if len(a.get("imputed_value_int64s", [])):
        raise b.refuse("imputed_value_int64s (integer features) is not supported; float32 features only")
    x, n = _features(b, node)
    values = _per_feature(b, a.get("imputed_value_floats", []), "imputed_value_floats", n)
    out = b.tensor(node.output[0], (1, n), "float32")
    b.emit("IMPUTE", [x], [out], values=values, replaced=float(a.get("replaced_value_float", 0.0)))
    _define(b, node.output[0], out)


def _per_feature(b: Builder, values, name: str, n: int) -> np.ndarray:
    """An attribute of one value for all n features or one per feature, as n float32 values."""
    values = np.asarray(values, np.float32).reshape(-1)
    if values.size not in (1, n):
        raise b.refuse(f"{values.size} {name} values for {n} features (one, or one per feature)")
    return np.ascontiguousarray(np.broadcast_to(values, (n,)))


def _classify(b: Builder, node: NodeProto, raw, labels: np.ndarray, transform: str,
              binary: str | None = None) -> None:
    """ML_CLASSIFY: label (int64 [1]) and scores (float32 [1, classes]) from the raw scores.
    binary: None (argmax over the classes), 'sign' (label 1 if s > 0, scores by the transform of
    [-s, s]), 'half' (label 1 if s > 0.5, scores [1 - s, s]), 'linear' (LinearClassifier's: label 1
    if s > 0, scores the transform of [-s, s] or, for LOGISTIC, [1 - p, p])."""
    _classifier_op(b, node, "ML_CLASSIFY", raw, len(labels), labels=labels, transform=transform, binary=binary)


def _classifier_op(b: Builder, node: NodeProto, op_type: str, x, columns: int, **attrs) -> None:
    """An operator with a classifier's outputs: the label (int64 [1]) and the scores (float32 [1, columns])."""
    label = b.tensor(node.output[0], (1,), "int64")
    scores = b.tensor(node.output[1] if len(node.output) > 1 else f"{node.output[0]}_scores",
                      (1, columns), "float32")
    b.emit(op_type, [x], [label, scores], **attrs)
    _define(b, node.output[0], label)
    if len(node.output) > 1:
        _define(b, node.output[1], scores)


@ml_converter("Scaler")
def convert_scaler(b: Builder, node: NodeProto) -> None:
    """SCALER: (x - offset) * scale per feature, in float as onnxruntime computes it."""
    a = attrs_of(node)
    x, n = _features(b, node)
    offset = _per_feature(b, a.get("offset", [0.0]), "offset", n)
    scale = _per_feature(b, a.get("scale", [1.0]), "scale", n)
    out = b.tensor(node.output[0], (1, n), "float32")
    b.emit("SCALER", [x], [out], offset=offset, scale=scale)
    _define(b, node.output[0], out)


@ml_converter("Normalizer")
def convert_normalizer(b: Builder, node: NodeProto) -> None:
    norm = _text(attrs_of(node), "norm", "MAX")
    if norm not in ("MAX", "L1", "L2"):
        raise b.refuse(f"norm {norm} is not supported (supported: MAX, L1, L2)")
    x, n = _features(b, node)
    out = b.tensor(node.output[0], (1, n), "float32")
    b.emit("NORMALIZE", [x], [out], norm=norm)
    _define(b, node.output[0], out)


@ml_converter("ArrayFeatureExtractor")
def convert_array_feature_extractor(b: Builder, node: NodeProto) -> None:
    v = b.input(0)
    indices = b.const_input(1, "the indices of ArrayFeatureExtractor").astype(np.int64).reshape(-1)
    if v.is_const or len(v.shape) != 2 or v.shape[0] != 1:
        raise b.refuse(f"input shape {list(v.shape)}: one run-time row [1, N] is supported")
    if np.any(indices < 0) or np.any(indices >= v.shape[1]):
        raise b.refuse(f"indices {indices.tolist()} outside 0..{v.shape[1] - 1}")
    x = b.ir(v)
    out = b.tensor(node.output[0], (1, len(indices)), x.dtype)
    coords = b.const_tensor(indices.astype(np.int32), "indices", "int32")
    b.emit("GATHER", [x, coords], [out], axis=1, batch_dims=0)  # TFLite's GATHER (ops/index.py)
    _define(b, node.output[0], out)


@ml_converter("ZipMap")
def convert_zipmap(b: Builder, node: NodeProto) -> None:
    """The probabilities themselves, one per class in label order (the reference's list of maps is
    compared as that array)."""
    b.values[node.output[0]] = b.input(0)


@converter("Cast")
def convert_cast(b: Builder, node: NodeProto) -> None:
    v = b.input(0)
    to = helper.tensor_dtype_to_np_dtype(next(a.i for a in node.attribute if a.name == "to"))
    have = v.const.dtype if v.is_const else np.dtype(v.tensor.dtype)
    if np.dtype(to) != have:
        raise b.refuse(f"Cast from {have} to {np.dtype(to)} is not supported (same-type Casts only)")
    b.values[node.output[0]] = v


def fold_integer_features(ops: list, outputs: list) -> list:
    """Integer features: a CAST of int8/int16/int32 features to float32 read by tree ensembles only
    is dropped, and those ensembles compare the integers (onnx_ml_trees.integer_features: the same
    decisions, integer threshold tables). Returns the ops left."""
    readers: dict[int, list] = {}
    for op in ops:
        for t in op.inputs:
            readers.setdefault(id(t), []).append(op)
    dropped = set()
    for op in ops:
        x = op.inputs[0] if op.type == "CAST" else None
        uses = readers.get(id(op.outputs[0]), []) if x is not None else []
        if x is None or x.dtype not in INTEGER_FEATURES or op.outputs[0].dtype != "float32" or not uses or \
                any(u.type != "TREE_ENSEMBLE" for u in uses) or any(o is op.outputs[0] for o in outputs):
            continue
        for u in uses:
            u.inputs[0] = x
            u.attrs["ensemble"] = integer_features(u.attrs["ensemble"], x.dtype)
        dropped.add(id(op))
    return [op for op in ops if id(op) not in dropped]


# ---- the ordinary operators around classical models, on their few values ---------------------------

ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Abs", "Pow", "Exp", "Log", "Sqrt", "Less", "Greater",
               "Equal", "LessOrEqual", "GreaterOrEqual", "Max", "Min", "Where", "Not", "Cast", "Sum", "Sign"}
_ELEM_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64",
                onnx.TensorProto.BOOL: "bool", onnx.TensorProto.INT32: "int32"}


def convert_elementwise(b: Builder, node: NodeProto) -> None:
    """ML_ELEMENTWISE: one element-wise ONNX operator over a classical model's scores and labels (float32,
    int64 or bool; operands of one element or of the output's size), as C arithmetic."""
    shape, elem = b.infos.get(node.output[0], (None, 0))
    if shape is None or elem not in _ELEM_DTYPES:
        raise b.refuse(f"the output '{node.output[0]}' needs a static shape and a float, int64 or bool type")
    size = int(np.prod(shape)) if shape else 1
    first = b.input(0)
    if node.op_type == "Cast" and not first.is_const and first.tensor.dtype == _ELEM_DTYPES[elem]:
        b.values[node.output[0]] = first
        return
    if node.op_type == "Cast" and not first.is_const and first.tensor.dtype in INTEGER_FEATURES and \
            elem == onnx.TensorProto.FLOAT:  # integer features (fold_integer_features)
        out = b.tensor(node.output[0], shape, "float32")
        b.emit("CAST", [b.ir(first)], [out])
        _define(b, node.output[0], out)
        return
    inputs, consts = [], {}
    for k, name in enumerate(node.input):
        v = b.value(name)
        data = v.const if v.is_const else None
        n = v.const.size if v.is_const else v.tensor.size
        if n not in (1, size):
            raise b.refuse(f"operand '{name}' has {n} elements for an output of {size} (broadcasting "
                           "one element or none)")
        if data is not None:
            consts[k] = np.asarray(data).reshape(-1)
            inputs.append(None)
        else:
            inputs.append(b.ir(v))
    if all(t is None for t in inputs):
        raise b.refuse("every operand is a constant")
    out = b.tensor(node.output[0], shape, _ELEM_DTYPES[elem])
    b.emit("ML_ELEMENTWISE", [t for t in inputs if t is not None], [out], op=node.op_type,
           operands=[("const", consts[k]) if t is None else ("input", sum(x is not None for x in inputs[:k]))
                     for k, t in enumerate(inputs)])
    _define(b, node.output[0], out)
