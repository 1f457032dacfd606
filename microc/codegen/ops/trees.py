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
  least flash per node;
- "perfect" and "gemm": Hummingbird's perfect-tree traversal (each tree padded to 2^depth leaves,
  walked without data-dependent branches) and GEMM form (node decisions, then path products per leaf).
All add leaf weights in float in tree order, then divide (AVERAGE) and add the base values, as
onnxruntime does, so their outputs are identical to each other. Integer features (Ensemble.features:
int8/int16/int32) compare with integer thresholds: immediates in code, tables of the features' type.
"""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext, best_isa, c_float, c_value, lowering, unsupported
from microc.codegen.schedule import TreeSchedule
from microc.errors import MicrocError
from microc.frontends.onnx_ml_trees import INTEGER_FEATURES, Ensemble, Tree
from microc.ir import Op

STRATEGIES = ("code", "compact", "arrays", "perfect", "gemm")
CODE_MAX_NODES = 8192  # beyond this many branch nodes the if/else code costs too much flash
PERFECT_MAX_DEPTH = 10  # Hummingbird's limit for perfect trees: 2^depth slots per tree
GEMM_MAX_ENTRIES = 65536  # path matrix bytes (nodes x leaves per tree, summed) the tuner may try
C_TYPES = {"float32": "float", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t"}  # Ensemble.features
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


def fits(ens: Ensemble, strategy: str) -> bool:
    """Whether Hummingbird's forms are worth building: perfect trees up to PERFECT_MAX_DEPTH levels
    (2^depth slots each), GEMM path matrices up to GEMM_MAX_ENTRIES bytes; the others always."""
    if strategy == "perfect":
        return ens.max_depth <= PERFECT_MAX_DEPTH
    if strategy == "gemm":
        return sum(len(t.feature) * len(t.leaves) for t in ens.trees) <= GEMM_MAX_ENTRIES
    return True


def tree_schedules(op: Op, isas: tuple[str, ...]) -> list[TreeSchedule]:
    """The strategies a tuner may measure (those that fit), the default (--trees, else the heuristic)
    first; only the one --trees names when it names one."""
    ens = op.attrs["ensemble"]
    first = op.attrs.get("strategy") or choose_strategy(ens)
    others = [] if op.attrs.get("strategy") else [s for s in STRATEGIES if s != first and fits(ens, s)]
    return [TreeSchedule(isa=best_isa(isas), strategy=s) for s in [first, *others]]


def _strategy(op: Op, schedule) -> str:
    chosen = schedule.strategy if isinstance(schedule, TreeSchedule) else None
    return op.attrs.get("strategy") or chosen or choose_strategy(op.attrs["ensemble"])


def _scratch(op: Op, schedule=None) -> int:
    """gemm: one byte per node of the largest tree (its decisions)."""
    if _strategy(op, schedule) != "gemm":
        return 0
    return max((len(t.feature) for t in op.attrs["ensemble"].trees), default=0)


@lowering("TREE_ENSEMBLE", schedules=tree_schedules, scratch_bytes=_scratch)
def lower_tree_ensemble(op: Op, ctx: LoweringContext) -> str:
    ens: Ensemble = op.attrs["ensemble"]
    strategy = _strategy(op, ctx.schedule)
    if strategy not in STRATEGIES:
        raise unsupported(op, f"strategy '{strategy}' is not one of {', '.join(STRATEGIES)}")
    if strategy == "perfect" and not fits(ens, strategy):
        raise unsupported(op, f"strategy perfect pads each tree to 2^depth leaves: depth {ens.max_depth} is "
                              f"more than {PERFECT_MAX_DEPTH}")
    x, out = op.inputs[0], op.outputs[0]
    if strategy in ("code", "compact"):
        return f"{_code_function(ens, ctx, strategy)}({ctx.ptr(x)}, {ctx.ptr(out)});"
    if strategy == "perfect":
        return _perfect_call(ens, ctx, ctx.ptr(x), ctx.ptr(out))
    if strategy == "gemm":
        return _gemm_call(ens, ctx, ctx.ptr(x), ctx.ptr(out))
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
    x_type = np.float32 if ens.features == "float32" else INTEGER_FEATURES[ens.features]
    return {"feature": cat(feature, np.int64), "threshold": cat(threshold, x_type),
            "left": cat(left, np.int64), "right": cat(right, np.int64),
            "leaves": np.concatenate(leaves).reshape(-1).astype(np.float32),
            "roots": np.array(roots, np.int32)}


def _arrays_call(ens: Ensemble, ctx: LoweringContext, x: str, out: str) -> str:
    a = flatten(ens)
    small = ens.n_features <= 256 and max(len(a["left"]), len(a["leaves"]) // max(ens.n_targets, 1)) < 32768
    feat_t, child_t, width = ("uint8_t", "int16_t", "s16") if small else ("uint16_t", "int32_t", "s32")
    fn = f"mc_trees_{_suffix(ens)}_{width}"
    p = ctx.struct("mc_trees_t", "trees", {
        "n_trees": len(ens.trees), "n_targets": ens.n_targets,
        "roots": ctx.const(a["roots"], "roots", "int32_t"),
        "threshold": ctx.const(a["threshold"], "thresholds", C_TYPES[ens.features]),
        "leaves": ctx.const(a["leaves"], "leaves", "float"),
        "base": ctx.const(ens.base_values, "base", "float"),
        "divisor": float(len(ens.trees)) if ens.average else 1.0})
    feature = ctx.const(a["feature"], "features", feat_t)
    left, right = ctx.const(a["left"], "left", child_t), ctx.const(a["right"], "right", child_t)
    return f"{fn}({p}, {feature}, {left}, {right}, {x}, {out});"


def _suffix(ens: Ensemble) -> str:
    """The kernels' name for the feature type: f32, i8, i16, i32."""
    return ens.features.replace("float", "f").replace("int", "i")


def _common(ens: Ensemble, ctx: LoweringContext, a: dict) -> dict:
    return {"leaves": ctx.const(a["leaves"], "leaves", "float"), "base": ctx.const(ens.base_values, "base", "float"),
            "divisor": float(len(ens.trees)) if ens.average else 1.0}


def perfect(ens: Ensemble) -> dict[str, np.ndarray]:
    """Each tree padded to a perfect tree of its depth, level by level (node n: children 2n + 1 and
    2n + 2); padding nodes (feature 0, threshold 0) lead both ways to the same leaf; slots: the leaf
    (global row) under each bottom position."""
    a = flatten(ens)
    feature, threshold, leaf, nodes, slots, depth = [], [], [], [], [], []
    first_leaf = 0
    for t in ens.trees:
        d = t.depth
        f, th, lf = np.zeros(2 ** d - 1, np.int64), np.zeros(2 ** d - 1, a["threshold"].dtype), np.zeros(2 ** d, np.int64)

        def fill(n: int, pos: int, level: int) -> None:
            if level == d:
                lf[pos - (2 ** d - 1)] = first_leaf + ~n
                return
            if n >= 0:
                f[pos], th[pos] = t.feature[n], t.threshold[n]
            fill(int(t.left[n]) if n >= 0 else n, 2 * pos + 1, level + 1)
            fill(int(t.right[n]) if n >= 0 else n, 2 * pos + 2, level + 1)

        fill(0 if len(t.feature) else -1, 0, 0)
        nodes.append(sum(len(x) for x in feature))
        slots.append(sum(len(x) for x in leaf))
        depth.append(d)
        feature.append(f)
        threshold.append(th)
        leaf.append(lf)
        first_leaf += len(t.leaves)
    cat = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
    return {"feature": cat(feature, np.uint16), "threshold": cat(threshold, a["threshold"].dtype),
            "leaf": cat(leaf, np.int32), "nodes": np.array(nodes, np.int32), "slots": np.array(slots, np.int32),
            "depth": np.array(depth, np.uint8), "leaves": a["leaves"]}


def _perfect_call(ens: Ensemble, ctx: LoweringContext, x: str, out: str) -> str:
    a = perfect(ens)
    p = ctx.struct("mc_trees_perfect_t", "trees", {
        "n_trees": len(ens.trees), "n_targets": ens.n_targets,
        "nodes": ctx.const(a["nodes"], "nodes", "int32_t"), "slots": ctx.const(a["slots"], "slots", "int32_t"),
        "depth": ctx.const(a["depth"], "depth", "uint8_t"), "feature": ctx.const(a["feature"], "features", "uint16_t"),
        "threshold": ctx.const(_nonempty(a["threshold"]), "thresholds", C_TYPES[ens.features]),
        "leaf": ctx.const(a["leaf"], "leaf", "int32_t"), **_common(ens, ctx, a)})
    return f"mc_trees_perfect_{_suffix(ens)}({p}, {x}, {out});"


def gemm(ens: Ensemble) -> dict[str, np.ndarray]:
    """Per tree, Hummingbird's path matrix B [leaves][nodes] (+1: the leaf is in the node's left
    subtree, -1: right, 0) and each leaf's count of +1 (C), with node and leaf offsets."""
    a = flatten(ens)
    paths, lefts, nodes, leafs, at = [], [], [0], [0], []
    for t in ens.trees:
        b = np.zeros((len(t.leaves), len(t.feature)), np.int8)

        def walk(n: int, path: list[tuple[int, int]]) -> None:
            if n < 0:
                for node, sign in path:
                    b[~n, node] = sign
                return
            walk(int(t.left[n]), path + [(n, 1)])
            walk(int(t.right[n]), path + [(n, -1)])

        walk(0 if len(t.feature) else -1, [])
        at.append(sum(x.size for x in paths))
        paths.append(b.reshape(-1))
        lefts.append((b == 1).sum(axis=1))
        nodes.append(nodes[-1] + len(t.feature))
        leafs.append(leafs[-1] + len(t.leaves))
    return {"paths": np.concatenate(paths).astype(np.int8), "lefts": np.concatenate(lefts).astype(np.uint8),
            "nodes": np.array(nodes, np.int32), "leafs": np.array(leafs, np.int32), "at": np.array(at, np.int32),
            "feature": a["feature"].astype(np.uint16), "threshold": a["threshold"], "leaves": a["leaves"]}


def _gemm_call(ens: Ensemble, ctx: LoweringContext, x: str, out: str) -> str:
    a = gemm(ens)
    p = ctx.struct("mc_trees_gemm_t", "trees", {
        "n_trees": len(ens.trees), "n_targets": ens.n_targets,
        "nodes": ctx.const(a["nodes"], "nodes", "int32_t"), "leafs": ctx.const(a["leafs"], "leafs", "int32_t"),
        "paths_at": ctx.const(a["at"], "paths_at", "int32_t"),
        "feature": ctx.const(_nonempty(a["feature"]), "features", "uint16_t"),
        "threshold": ctx.const(_nonempty(a["threshold"]), "thresholds", C_TYPES[ens.features]),
        "paths": ctx.const(_nonempty(a["paths"]), "paths", "int8_t"), "lefts": ctx.const(a["lefts"], "lefts", "uint8_t"),
        **_common(ens, ctx, a)})
    return f"mc_trees_gemm_{_suffix(ens)}({p}, {x}, (uint8_t *){ctx.scratch()}, {out});"


def _nonempty(a: np.ndarray) -> np.ndarray:
    """A C array needs an element: a zero where every tree is one leaf."""
    return a if len(a) else np.zeros(1, a.dtype)


def _code_function(ens: Ensemble, ctx: LoweringContext, strategy: str = "code") -> str:
    """A static function `void f(const float *x, float *out)` with every tree as if/else; the
    thresholds' bit patterns are one const table (a load each: fewer instructions and bytes than
    movw/movt immediates). Integer features (`const int16_t *x`, ...) compare with immediates: one
    `cmp` where the constant encodes, else a movw and a cmp, no table. One float accumulator per
    output; a tree whose leaves weigh one output only (boosting: a tree per class) adds its leaf's
    weight as an immediate, others look their leaf's row up in a table after the tree. "code" keeps
    the blocks in source order (short branches, MC_TREES_CODE), "compact" compiles the function for
    size (MC_TREES_COMPACT)."""
    name = ctx.unique("trees")
    n = ens.n_targets
    integer = ens.features != "float32"
    head = [f"MC_TREES_{strategy.upper()} static void {name}(const {C_TYPES[ens.features]} *x, float *out) {{"]
    if not integer:
        head += ["  const int32_t *xi = (const int32_t *)(const void *)x; /* the arena holds bytes */",
                 "  const int32_t *t = THRESHOLDS;"]
    lines = head + ["  float " + ", ".join(f"a{j} = 0.0f" for j in range(n)) + ";"]
    vote = vote_value(ens)
    if vote is not None:
        lines.append("  int32_t votes = 0;")
    rows, bits = [], {}

    def compare(feature: int, threshold) -> str:
        if integer:
            return f"x[{feature}] <= {c_int(int(threshold))}"
        value = threshold_bits(threshold)
        if value not in bits:  # one table entry per distinct threshold (forests reuse split points)
            bits[value] = len(bits)
        return bit_compare(feature, value, bits[value])

    for tree in ens.trees:
        cols = [j for j in range(n) if np.any(tree.leaves[:, j] != 0)] or [0]
        table = None if len(cols) == 1 else len(rows)
        if table is not None:
            rows += list(tree.leaves)
            lines.append("  {")
            lines.append("  int32_t leaf = 0;")
        _tree_code(tree, 0 if len(tree.feature) else -1, cols[0], table, lines, "  ", compare, vote is not None)
        if table is not None:
            lines += [f"  a{j} += LEAVES[leaf * {n} + {j}];" for j in cols] + ["  }"]
    div = f" / {c_float(len(ens.trees))}" if ens.average else ""
    if vote is not None:
        lines.append(f"  a0 = VOTES[votes];")
    lines += [f"  out[{j}] = a{j}{div} + {c_float(ens.base_values[j])};" for j in range(n)] + ["}"]
    # In the weights file (another translation unit): a static table's values would be folded back
    # into movw/movt immediates.
    text = "\n".join(lines)
    if not integer:
        text = text.replace("THRESHOLDS", ctx.const(np.array(list(bits) or [0], np.int32), "thresholds", "int32_t"))
    if rows:
        text = text.replace("LEAVES", ctx.const(np.array(rows, np.float32).reshape(-1), "leaves", "float"))
    if vote is not None:
        text = text.replace("VOTES", ctx.const(vote_sums(vote, len(ens.trees)), "votes", "float"))
    ctx.decl(text)
    return name


def c_int(v: int) -> str:
    """An integer literal of int type (INT32_MIN as an expression: 2147483648 alone is not an int)."""
    return "(-2147483647 - 1)" if v == -2 ** 31 else str(v)


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
               compare, votes: bool = False) -> None:
    """Node n of tree t as if/else (compare(feature, threshold): the C condition); a leaf adds its
    weight to accumulator a<col>, counts a vote (vote_value), or (first_row set) records its row of
    the leaf table."""
    if n < 0:
        leaf = ~n
        if first_row is not None:
            lines.append(f"{pad}leaf = {first_row + leaf};")
        elif t.leaves[leaf, col] != 0:  # adding a zero leaves every sum as it is (none is -0.0)
            lines.append(f"{pad}++votes;" if votes else f"{pad}a{col} += {c_float(t.leaves[leaf, col])};")
        return
    lines.append(f"{pad}if ({compare(int(t.feature[n]), t.threshold[n])}) {{")
    _tree_code(t, int(t.left[n]), col, first_row, lines, pad + "  ", compare, votes)
    lines.append(f"{pad}}} else {{")
    _tree_code(t, int(t.right[n]), col, first_row, lines, pad + "  ", compare, votes)
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
