"""Lowerings of the classical kernels (runtime_c/include/mc_trees.h): TREE_ENSEMBLE, ML_CLASSIFY,
SVM_REGRESSOR, SVM_CLASSIFIER, IMPUTE, NORMALIZE (ArrayFeatureExtractor's GATHER: ops/index.py).

TREE_ENSEMBLE has code generation strategies, a schedule choice per model and board (op.attrs
"strategy" set by --trees; else the layer's TreeSchedule, which the tuner measures and its database
chooses; by default choose_strategy's heuristic):
- "code": every tree as nested if/else in one generated function; thresholds and (one-output) leaf
  weights are immediates in the code. A node compares the feature's bits as an integer with the
  threshold's (bit_compare): a load, a compare and a branch, with no FPU status transfer;
- "compact": the same if/else function compiled for size (MC_TREES_COMPACT): less flash, more
  instructions;
- "arrays": flattened node arrays (uint8/int16 where they fit) walked in a loop by mc_trees_f32_*: the
  least flash per node.
Both add leaf weights in float in tree order, then divide (AVERAGE) and add the base values, as
onnxruntime does, so their outputs are identical to each other.
"""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, best_isa, c_float, c_value, lowering, unsupported
from microc.codegen.schedule import TreeSchedule
from microc.errors import MicrocError
from microc.frontends.onnx_ml_trees import Ensemble, Tree
from microc.ir import Op

STRATEGIES = ("code", "compact", "arrays")
CODE_MAX_NODES = 8192  # beyond this many branch nodes the if/else code costs too much flash
TRANSFORM_IDS = {"NONE": 0, "LOGISTIC": 1, "SOFTMAX": 2, "SOFTMAX_ZERO": 3}
BINARY_IDS = {None: 0, "sign": 1, "half": 2, "linear": 3}
NORM_IDS = {"MAX": 0, "L1": 1, "L2": 2}


def choose_strategy(ens: Ensemble) -> str:
    """The default heuristic: if/else code (fewest instructions per node) unless the ensemble has more
    than CODE_MAX_NODES branch nodes, where node arrays take about half the flash."""
    nodes = sum(len(t.feature) for t in ens.trees)
    return "code" if nodes <= CODE_MAX_NODES else "arrays"


def set_strategy(graph, strategy: str) -> None:
    """Generate every TREE_ENSEMBLE of the graph with `strategy` (one of STRATEGIES)."""
    if strategy not in STRATEGIES:
        raise MicrocError(f"tree strategy '{strategy}' is not one of {', '.join(STRATEGIES)}")
    for op in graph.ops:
        if op.type == "TREE_ENSEMBLE":
            op.attrs["strategy"] = strategy


def tree_schedules(op: Op, isas: tuple[str, ...]) -> list[TreeSchedule]:
    """The strategies a tuner may measure, the default (--trees, else the heuristic) first; only the
    one --trees names when it names one."""
    first = op.attrs.get("strategy") or choose_strategy(op.attrs["ensemble"])
    others = [] if op.attrs.get("strategy") else [s for s in STRATEGIES if s != first]
    return [TreeSchedule(isa=best_isa(isas), strategy=s) for s in [first, *others]]


@lowering("TREE_ENSEMBLE", schedules=tree_schedules)
def lower_tree_ensemble(op: Op, ctx: LoweringContext) -> str:
    ens: Ensemble = op.attrs["ensemble"]
    chosen = ctx.schedule.strategy if isinstance(ctx.schedule, TreeSchedule) else None
    strategy = op.attrs.get("strategy") or chosen or choose_strategy(ens)
    if strategy not in STRATEGIES:
        raise unsupported(op, f"strategy '{strategy}' is not one of {', '.join(STRATEGIES)}")
    x, out = op.inputs[0], op.outputs[0]
    if strategy in ("code", "compact"):
        return f"{_code_function(ens, ctx, strategy)}({ctx.ptr(x)}, {ctx.ptr(out)});"
    return _arrays_call(ens, ctx, ctx.ptr(x), ctx.ptr(out))


def flatten(ens: Ensemble) -> dict[str, np.ndarray]:
    """All trees in one set of arrays: node and leaf indices made global (children < 0 are ~leaf)."""
    feature, threshold, left, right, leaves, roots = [], [], [], [], [], []
    n_nodes = n_leaves = 0
    for t in ens.trees:
        def glob(c: np.ndarray) -> np.ndarray:
            return np.where(c >= 0, c + n_nodes, ~(~c + n_leaves))
        roots.append(n_nodes if len(t.feature) else ~n_leaves)
        feature.append(t.feature)
        threshold.append(t.threshold)
        left.append(glob(t.left))
        right.append(glob(t.right))
        leaves.append(t.leaves)
        n_nodes += len(t.feature)
        n_leaves += len(t.leaves)
    cat = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
    return {"feature": cat(feature, np.int64), "threshold": cat(threshold, np.float32),
            "left": cat(left, np.int64), "right": cat(right, np.int64),
            "leaves": np.concatenate(leaves).reshape(-1).astype(np.float32),
            "roots": np.array(roots, np.int32)}


def _arrays_call(ens: Ensemble, ctx: LoweringContext, x: str, out: str) -> str:
    a = flatten(ens)
    small = ens.n_features <= 256 and max(len(a["left"]), len(a["leaves"]) // max(ens.n_targets, 1)) < 32768
    feat_t, child_t, fn = ("uint8_t", "int16_t", "mc_trees_f32_s16") if small else \
        ("uint16_t", "int32_t", "mc_trees_f32_s32")
    p = ctx.struct("mc_trees_t", "trees", {
        "n_trees": len(ens.trees), "n_targets": ens.n_targets,
        "roots": ctx.const(a["roots"], "roots", "int32_t"),
        "threshold": ctx.const(a["threshold"], "thresholds", "float"),
        "leaves": ctx.const(a["leaves"], "leaves", "float"),
        "base": ctx.const(ens.base_values, "base", "float"),
        "divisor": float(len(ens.trees)) if ens.average else 1.0})
    feature = ctx.const(a["feature"], "features", feat_t)
    left, right = ctx.const(a["left"], "left", child_t), ctx.const(a["right"], "right", child_t)
    return f"{fn}({p}, {feature}, {left}, {right}, {x}, {out});"


def _code_function(ens: Ensemble, ctx: LoweringContext, strategy: str = "code") -> str:
    """A static function `void f(const float *x, float *out)` with every tree as if/else; the
    thresholds' bit patterns are one const table (a load each: fewer instructions and bytes than
    movw/movt immediates). One float accumulator per output; a tree whose leaves weigh one output only
    (boosting: a tree per class) adds its leaf's weight as an immediate, others look their leaf's row
    up in a table after the tree. "code" keeps the blocks in source order (short branches, MC_TREES_CODE),
    "compact" compiles the function for size (MC_TREES_COMPACT)."""
    name = ctx.unique("trees")
    n = ens.n_targets
    lines = [f"MC_TREES_{strategy.upper()} static void {name}(const float *x, float *out) {{",
             "  const int32_t *xi = (const int32_t *)(const void *)x; /* the arena holds bytes */",
             "  const int32_t *t = THRESHOLDS;",
             "  float " + ", ".join(f"a{j} = 0.0f" for j in range(n)) + ";"]
    vote = vote_value(ens)
    if vote is not None:
        lines.append("  int32_t votes = 0;")
    rows, bits = [], {}
    for tree in ens.trees:
        cols = [j for j in range(n) if np.any(tree.leaves[:, j] != 0)] or [0]
        table = None if len(cols) == 1 else len(rows)
        if table is not None:
            rows += list(tree.leaves)
            lines.append("  {")
            lines.append("  int32_t leaf = 0;")
        _tree_code(tree, 0 if len(tree.feature) else -1, cols[0], table, lines, "  ", bits, vote is not None)
        if table is not None:
            lines += [f"  a{j} += LEAVES[leaf * {n} + {j}];" for j in cols] + ["  }"]
    div = f" / {c_float(len(ens.trees))}" if ens.average else ""
    if vote is not None:
        lines.append(f"  a0 = VOTES[votes];")
    lines += [f"  out[{j}] = a{j}{div} + {c_float(ens.base_values[j])};" for j in range(n)] + ["}"]
    # In the weights file (another translation unit): a static table's values would be folded back
    # into movw/movt immediates.
    text = "\n".join(lines).replace("THRESHOLDS", ctx.const(np.array(list(bits) or [0], np.int32), "thresholds", "int32_t"))
    if rows:
        text = text.replace("LEAVES", ctx.const(np.array(rows, np.float32).reshape(-1), "leaves", "float"))
    if vote is not None:
        text = text.replace("VOTES", ctx.const(vote_sums(vote, len(ens.trees)), "votes", "float"))
    ctx.decl(text)
    return name


def vote_value(ens: Ensemble) -> np.float32 | None:
    """The one non-zero leaf weight of a single-output ensemble whose leaves all weigh 0 or it (a
    forest of pure leaves: 1 / trees), else None. Such a sum is a count: code counts votes and reads
    the float32 sum of that many weights, added one by one as the kernels would, from vote_sums."""
    if ens.n_targets != 1:
        return None
    values = np.unique(np.concatenate([t.leaves[:, 0] for t in ens.trees]))
    nonzero = values[values != 0]
    return np.float32(nonzero[0]) if len(nonzero) == 1 else None


def vote_sums(v: np.float32, trees: int) -> np.ndarray:
    """sums[k]: k weights v added in float32 from 0, in order (exactly the accumulator's value)."""
    sums = np.zeros(trees + 1, np.float32)
    for k in range(1, trees + 1):
        sums[k] = np.float32(sums[k - 1] + v)
    return sums


def threshold_bits(threshold: np.float32) -> int:
    """The int32 bit pattern of a threshold, -0.0 as +0.0 (x <= -0.0 and x <= +0.0 are the same test)."""
    t = np.float32(0.0) if threshold == 0 else np.float32(threshold)
    return int(np.array(t, np.float32).view(np.int32))


def bit_compare(feature: int, bits: int, k: int) -> str:
    """`x[feature] <= threshold` on float32 bit patterns (xi: x as int32, t[k]: the threshold's bits),
    exact for every non-NaN x: for a threshold >= +0.0 the signed integer order of the bits is the
    float order wherever x <= t can hold (a negative x is a negative integer); for t < 0, x <= t iff
    x is negative with a magnitude at least |t|: its bits are at least t's as unsigned integers."""
    if bits >= 0:
        return f"xi[{feature}] <= t[{k}]"
    return f"(uint32_t)xi[{feature}] >= (uint32_t)t[{k}]"


def _tree_code(t: Tree, n: int, col: int, first_row: int | None, lines: list[str], pad: str,
               bits: dict[int, int], votes: bool = False) -> None:
    """Node n of tree t as if/else; a leaf adds its weight to accumulator a<col>, counts a vote
    (vote_value), or (first_row set) records its row of the leaf table."""
    if n < 0:
        leaf = ~n
        if first_row is not None:
            lines.append(f"{pad}leaf = {first_row + leaf};")
        elif t.leaves[leaf, col] != 0:  # adding a zero leaves every sum as it is (none is -0.0)
            lines.append(f"{pad}++votes;" if votes else f"{pad}a{col} += {c_float(t.leaves[leaf, col])};")
        return
    value = threshold_bits(t.threshold[n])
    if value not in bits:  # one table entry per distinct threshold (forests reuse split points)
        bits[value] = len(bits)
    lines.append(f"{pad}if ({bit_compare(int(t.feature[n]), value, bits[value])}) {{")
    _tree_code(t, int(t.left[n]), col, first_row, lines, pad + "  ", bits, votes)
    lines.append(f"{pad}}} else {{")
    _tree_code(t, int(t.right[n]), col, first_row, lines, pad + "  ", bits, votes)
    lines.append(f"{pad}}}")


@lowering("ML_CLASSIFY")
def lower_ml_classify(op: Op, ctx: LoweringContext) -> str:
    raw, (label, scores) = op.inputs[0], op.outputs
    labels = np.asarray(op.attrs["labels"], np.int64)
    p = ctx.struct("mc_classify_t", "classify", {
        "n_classes": len(labels), "binary": BINARY_IDS[op.attrs.get("binary")],
        "transform": TRANSFORM_IDS[op.attrs["transform"]], "labels": ctx.const(labels, "labels", "int64_t")})
    plain = op.attrs["transform"] == "NONE" or op.attrs.get("binary") == "half"  # no expf to link
    fn = "mc_ml_classify_plain_f32" if plain else "mc_ml_classify_f32"
    return f"{fn}({p}, {ctx.ptr(raw)}, {ctx.ptr(label)}, {ctx.ptr(scores)});"


SVM_KERNEL_IDS = {"LINEAR": 0, "POLY": 1, "RBF": 2, "SIGMOID": 3}


@lowering("SVM_REGRESSOR")
def lower_svm_regressor(op: Op, ctx: LoweringContext) -> str:
    a, x = op.attrs, op.inputs[0]
    vectors = a["vectors"]
    p = ctx.struct("mc_svm_t", "svm", {
        "n_vectors": 0 if vectors is None else len(vectors), "n_features": x.size,
        "kernel": SVM_KERNEL_IDS[a["kernel"]], "one_class": a["one_class"], "gamma": a["gamma"],
        "coef0": a["coef0"], "degree": a["degree"], "rho": a["rho"],
        "vectors": "NULL" if vectors is None else ctx.const(vectors, "vectors", "float", flash=True),
        "coef": ctx.const(a["coef"], "coef", "float", flash=True)})
    return f"mc_svm_regressor_f32({p}, {ctx.ptr(x)}, {ctx.ptr(op.outputs[0])});"


def _svc_scratch(op: Op, schedule=None) -> int:
    """kernel values (float) and votes (int32): one word per support vector and per class."""
    return 4 * (len(op.attrs["vectors"]) + len(op.attrs["labels"]))


@lowering("SVM_CLASSIFIER", scratch_bytes=_svc_scratch)
def lower_svm_classifier(op: Op, ctx: LoweringContext) -> str:
    a, x = op.attrs, op.inputs[0]
    label, scores = op.outputs
    svm = {"n_vectors": len(a["vectors"]), "n_features": x.size, "kernel": SVM_KERNEL_IDS[a["kernel"]],
           "one_class": 0, "gamma": a["gamma"], "coef0": a["coef0"], "degree": a["degree"], "rho": 0.0,
           "vectors": ctx.const(a["vectors"], "vectors", "float", flash=True),
           "coef": ctx.const(a["coef"], "coef", "float", flash=True)}
    p = ctx.struct("mc_svc_t", "svc", {
        "svm": "{" + ", ".join(f".{k} = {c_value(v)}" for k, v in svm.items()) + "}",
        "n_classes": len(a["labels"]), "rho": ctx.const(a["rho"], "rho", "float"),
        "starts": ctx.const(a["starts"], "starts", "int32_t"), "labels": ctx.const(a["labels"], "labels", "int64_t")})
    kernels = f"((float *){ctx.scratch()})"
    votes = f"((int32_t *){ctx.scratch()} + {len(a['vectors'])})"
    return f"mc_svm_classifier_f32({p}, {ctx.ptr(x)}, {kernels}, {votes}, {ctx.ptr(label)}, {ctx.ptr(scores)});"


@lowering("IMPUTE")
def lower_impute(op: Op, ctx: LoweringContext) -> str:
    x, y, replaced = op.inputs[0], op.outputs[0], op.attrs["replaced"]
    nan = int(np.isnan(replaced))
    return (f"mc_impute_f32({ctx.ptr(x)}, {ctx.ptr(y)}, {ctx.const(op.attrs['values'], 'imputed', 'float')}, "
            f"{x.size}, {nan}, {c_float(0.0 if nan else replaced)});")


@lowering("NORMALIZE")
def lower_normalize(op: Op, ctx: LoweringContext) -> str:
    x, y = op.inputs[0], op.outputs[0]
    return f"mc_normalize_f32({NORM_IDS[op.attrs['norm']]}, {ctx.ptr(x)}, {ctx.ptr(y)}, {x.size});"
