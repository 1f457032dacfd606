"""The trees of an ONNX-ML TreeEnsembleClassifier/TreeEnsembleRegressor, normalized for the kernels.

Every branch becomes `x[feature] <= threshold ? left : right` with a float32 threshold: BRANCH_LT is
x <= the float32 just below t, BRANCH_GT/GTE swap the children of LEQ/LT. That is exact for every
non-NaN float32 input, so a sample decides the same way as in onnxruntime (which compares float32
inputs with float32 thresholds). A child is an internal node (index >= 0 within its tree) or a leaf
(~leaf index). NaN features follow the false branch of x <= t (missing_value_tracks_true is ignored).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

_SWAPPED = {"BRANCH_LEQ": False, "BRANCH_LT": False, "BRANCH_GT": True, "BRANCH_GTE": True}


@dataclass
class Tree:
    feature: np.ndarray  # int32 [internal nodes], preorder from the root (index 0)
    threshold: np.ndarray  # float32 (int64 for integer features: Ensemble.features)
    left: np.ndarray  # int32 child: >= 0 internal node, < 0 ~leaf
    right: np.ndarray
    leaves: np.ndarray  # float32 [leaves, targets]

    @property
    def depth(self) -> int:
        def walk(n: int) -> int:
            return 0 if n < 0 else 1 + max(walk(int(self.left[n])), walk(int(self.right[n])))
        return walk(0) if len(self.feature) else 0


@dataclass
class Ensemble:
    trees: list[Tree]
    n_targets: int
    n_features: int
    base_values: np.ndarray  # float32 [n_targets], added after the sum (set by the caller)
    average: bool  # AVERAGE aggregation: the sum is divided by the number of trees
    # the features' type: float32, or an integer type (int8, int16, int32; integer_features): then every
    # threshold is an integer of that type and x <= threshold is exact in integers
    features: str = "float32"

    def digest(self) -> str:
        """A hash of every table: the tuner's signature of the layer (two ensembles of one shape run
        different code)."""
        h = hashlib.sha256(f"{self.n_targets},{self.n_features},{self.average},{self.features}".encode())
        for t in self.trees:
            for a in (t.feature, t.threshold, t.left, t.right, t.leaves):
                h.update(np.ascontiguousarray(a).tobytes())
        h.update(np.ascontiguousarray(self.base_values, np.float32).tobytes())
        return h.hexdigest()[:16]

    @property
    def max_depth(self) -> int:
        return max((t.depth for t in self.trees), default=0)


class TreeError(ValueError):
    """A tree attribute microc does not support; the message names it."""


def below(t: float) -> np.float32:
    """The largest float32 strictly below t: x < t <=> x <= below(t) for float32 x."""
    f = np.float32(t)
    return np.nextafter(f, np.float32(-np.inf), dtype=np.float32) if float(f) >= float(t) else f


def at_most(t: float) -> np.float32:
    """The largest float32 <= t (a double threshold compared with float32 inputs)."""
    f = np.float32(t)
    return np.nextafter(f, np.float32(-np.inf), dtype=np.float32) if float(f) > float(t) else f


def parse_ensemble(attrs: dict, prefix: str, n_targets: int, n_features: int) -> Ensemble:
    """attrs: the node's attributes as Python values; prefix: 'class' or 'target' (the leaf weights)."""
    for a in ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids",
              "nodes_truenodeids", "nodes_falsenodeids"):
        if a not in attrs:
            raise TreeError(f"attribute {a} is missing")
    values = attrs.get("nodes_values", attrs.get("nodes_values_as_tensor"))
    if values is None:
        raise TreeError("attribute nodes_values is missing")
    weights = attrs.get(f"{prefix}_weights", attrs.get(f"{prefix}_weights_as_tensor"))
    nodes = {}
    for i, (tid, nid) in enumerate(zip(attrs["nodes_treeids"], attrs["nodes_nodeids"])):
        mode = attrs["nodes_modes"][i]
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "LEAF" and mode not in _SWAPPED:
            raise TreeError(f"node mode {mode} is not supported (supported: LEAF, {', '.join(_SWAPPED)})")
        nodes[(int(tid), int(nid))] = (mode, int(attrs["nodes_featureids"][i]), float(values[i]),
                                       int(attrs["nodes_truenodeids"][i]), int(attrs["nodes_falsenodeids"][i]))
    leaf_w: dict[tuple[int, int], np.ndarray] = {}
    for tid, nid, cid, w in zip(attrs.get(f"{prefix}_treeids", []), attrs.get(f"{prefix}_nodeids", []),
                                attrs.get(f"{prefix}_ids", []), weights if weights is not None else []):
        if not 0 <= int(cid) < n_targets:
            raise TreeError(f"{prefix}_ids names {prefix} {cid}, outside 0..{n_targets - 1}")
        row = leaf_w.setdefault((int(tid), int(nid)), np.zeros(n_targets, np.float64))
        row[int(cid)] += np.float32(w)  # onnxruntime adds float32 weights of one leaf in float
    tree_ids = sorted({k[0] for k in nodes})
    trees = [_build(nodes, leaf_w, tid, n_targets, n_features) for tid in tree_ids]
    agg = attrs.get("aggregate_function", b"SUM")
    agg = agg.decode() if isinstance(agg, bytes) else agg
    if agg not in ("SUM", "AVERAGE"):
        raise TreeError(f"aggregate_function {agg} is not supported (supported: SUM, AVERAGE)")
    return Ensemble(trees, n_targets, n_features, np.zeros(n_targets, np.float32), agg == "AVERAGE")


def _build(nodes: dict, leaf_w: dict, tid: int, n_targets: int, n_features: int) -> Tree:
    feature, threshold, left, right, leaves = [], [], [], [], []
    root = min(n for t, n in nodes if t == tid)

    def visit(nid: int, depth: int) -> int:
        if depth > 64:
            raise TreeError(f"tree {tid} is deeper than 64 levels or has a cycle")
        if (tid, nid) not in nodes:
            raise TreeError(f"tree {tid} refers to node {nid}, which it does not define")
        mode, feat, value, t_child, f_child = nodes[(tid, nid)]
        if mode == "LEAF":
            leaves.append(leaf_w.get((tid, nid), np.zeros(n_targets)))
            return ~(len(leaves) - 1)
        if not 0 <= feat < n_features:
            raise TreeError(f"tree {tid} node {nid} reads feature {feat} of {n_features}")
        index = len(feature)
        feature.append(feat)
        swapped = _SWAPPED[mode]
        threshold.append(below(value) if mode in ("BRANCH_LT", "BRANCH_GTE") else at_most(value))
        left.append(0)
        right.append(0)
        yes, no = visit(t_child, depth + 1), visit(f_child, depth + 1)
        left[index], right[index] = (no, yes) if swapped else (yes, no)
        return index

    visit(root, 0)
    return Tree(np.array(feature, np.int32), np.array(threshold, np.float32), np.array(left, np.int32),
                np.array(right, np.int32), np.array(leaves, np.float32).reshape(len(leaves), n_targets))


INTEGER_FEATURES = {"int8": np.int8, "int16": np.int16, "int32": np.int32}


def integer_features(ens: Ensemble, dtype: str) -> Ensemble:
    """The ensemble for integer features of type `dtype` (onnxruntime converts them to float and
    compares with the float32 threshold t): each threshold becomes the largest integer x with
    float(x) <= t (floor(t) where every integer of the type is a float32, as for int8 and int16); a
    branch that every value of the type takes the same way is replaced by that child. The decisions
    are onnxruntime's for every integer input; the thresholds fit the type (int16/int8 tables)."""
    info = np.iinfo(INTEGER_FEATURES[dtype])
    trees = [_integer_tree(t, info.min, info.max) for t in ens.trees]
    return Ensemble(trees, ens.n_targets, ens.n_features, ens.base_values, ens.average, dtype)


def integer_threshold(t: np.float32) -> int:
    """The largest integer x with float32(x) <= t (float32(x): round to nearest, ties to even)."""
    low = int(np.floor(np.float64(t)))
    if abs(low) < 2 ** 24:  # every integer this small is a float32
        return low
    step = int(np.nextafter(np.float32(low), np.float32(np.inf))) - low  # integers up to there round to low or up
    x = low + step // 2
    return x if np.float32(np.float64(x)) <= t else x - 1


def _integer_tree(t: Tree, lo: int, hi: int) -> Tree:
    """Tree t with integer thresholds, constant branches (always <=: threshold >= hi; never: < lo)
    replaced by their child; nodes and leaves renumbered in preorder."""
    feature, threshold, left, right, leaves = [], [], [], [], []

    def visit(n: int) -> int:
        if n < 0:
            leaves.append(t.leaves[~n])
            return ~(len(leaves) - 1)
        x = integer_threshold(t.threshold[n])
        if x >= hi or x < lo:
            return visit(int(t.left[n] if x >= hi else t.right[n]))
        index = len(feature)
        feature.append(int(t.feature[n]))
        threshold.append(x)
        left.append(0)
        right.append(0)
        left[index] = visit(int(t.left[n]))
        right[index] = visit(int(t.right[n]))
        return index

    visit(0 if len(t.feature) else -1)  # the root is node 0, or (no node left) leaf 0
    return Tree(np.array(feature, np.int32), np.array(threshold, np.int64), np.array(left, np.int32),
                np.array(right, np.int32), np.array(leaves, np.float32).reshape(len(leaves), t.leaves.shape[1]))


def evaluate(ens: Ensemble, x: np.ndarray) -> np.ndarray:
    """The ensemble's raw scores for one float32 sample, summed in float32 in tree order (as the
    kernels do); for tests and the strategy checks."""
    acc = np.zeros(ens.n_targets, np.float32)
    for t in ens.trees:
        n = 0 if len(t.feature) else -1
        while n >= 0:
            n = int(t.left[n] if x[t.feature[n]] <= t.threshold[n] else t.right[n])
        acc = (acc + t.leaves[~n]).astype(np.float32)
    if ens.average:
        acc = (acc / np.float32(len(ens.trees))).astype(np.float32)
    return (acc + ens.base_values).astype(np.float32)
