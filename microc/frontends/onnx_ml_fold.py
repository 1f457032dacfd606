"""Rewrites of an ONNX-ML graph before import that turn per-tree graphs into one tree ensemble.

Some exports compute a function of each tree's leaf with ordinary operators: skl2onnx's IsolationForest
runs every tree as its own TreeEnsembleRegressor (over a Gather of the features) whose output (the leaf
reached) goes through LabelEncoder, Equal, Log, ... to the tree's path length, then Sums them. Whatever
depends on one tree's output alone is a function of its leaf, so it is evaluated here, with onnxruntime,
for every leaf: the tree's leaf weights become those values, exactly as onnxruntime computes them
(fold_leaf_functions). A Sum of such single-tree ensembles over the same features is then one ensemble
with all the trees, summed in the Sum's order (merge_tree_sums).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from microc.errors import ModelFormatError

ML = "ai.onnx.ml"


def fold(model: onnx.ModelProto) -> onnx.ModelProto:
    fold_leaf_functions(model)
    absorb_gathers(model)
    merge_tree_sums(model)
    return model


def absorb_gathers(model: onnx.ModelProto) -> None:
    """A tree reading Gather(X, constant indices, axis=1) reads X, its feature ids mapped through them."""
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    for tree in [n for n in g.node if n.domain == ML and n.op_type.startswith("TreeEnsemble")]:
        gather = producer.get(tree.input[0])
        if gather is None or gather.op_type != "Gather" or gather.input[1] not in inits or \
                int(_attrs(gather).get("axis", 0)) != 1:
            continue
        index = inits[gather.input[1]].reshape(-1)
        for attr in tree.attribute:
            if attr.name == "nodes_featureids":
                mapped = [int(index[f]) for f in attr.ints]
                del attr.ints[:]
                attr.ints.extend(mapped)
        tree.input[0] = gather.input[0]
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    _keep(g, [n for n in g.node if not (n.op_type == "Gather" and n.output[0] not in used)])


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v
    return out


def _single_tree(n) -> bool:
    """A TreeEnsembleRegressor of one tree and one target."""
    if n.domain != ML or n.op_type != "TreeEnsembleRegressor":
        return False
    a = _attrs(n)
    return int(a.get("n_targets", 1)) == 1 and len(set(a.get("nodes_treeids", []))) == 1


def fold_leaf_functions(model: onnx.ModelProto) -> None:
    g = model.graph
    consts = {i.name for i in g.initializer} | {n.output[0] for n in g.node if n.op_type == "Constant"}
    outputs = {o.name for o in g.output}
    nodes = list(g.node)  # wrappers stay valid until g.node itself changes (once, at the end)
    removed: set[int] = set()
    for at, tree in enumerate(nodes):
        if not _single_tree(tree):
            continue
        cone, values = _cone(nodes, at, consts)
        used_outside = [v for v in values if v in outputs or any(
            v in n.input for i, n in enumerate(nodes) if i not in cone and i != at)]
        if cone and len(used_outside) == 1:
            _replace_leaves(model, tree, [nodes[i] for i in sorted(cone)], used_outside[0])
            removed |= cone
    if removed:
        _keep(g, [n for i, n in enumerate(nodes) if i not in removed])


def _cone(nodes: list, tree_at: int, consts: set) -> tuple[set, set]:
    """Positions of the nodes after the tree that read only its output (through each other) and
    constants, and the values they compute."""
    values, cone = {nodes[tree_at].output[0]}, set()
    for i, n in enumerate(nodes):
        dynamic = [v for v in n.input if v and v not in consts]
        if i != tree_at and dynamic and all(v in values for v in dynamic):
            cone.add(i)
            values.update(o for o in n.output if o)
    return cone, values


def _keep(g, nodes: list) -> None:
    """Replace the graph's nodes by `nodes` (copies, in this order)."""
    kept = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes]
    del g.node[:]
    g.node.extend(kept)


def _replace_leaves(model: onnx.ModelProto, tree, cone_nodes: list, result: str) -> None:
    """Set the tree's leaf weights to `result` evaluated at each leaf (onnxruntime, float32)."""
    import onnxruntime
    a = _attrs(tree)
    weights = np.asarray(a.get("target_weights", a.get("target_weights_as_tensor")), np.float32)
    leaf_in = helper.make_tensor_value_info(tree.output[0], onnx.TensorProto.FLOAT, [len(weights), 1])
    out = helper.make_tensor_value_info(result, onnx.TensorProto.FLOAT, None)  # a leaf weight
    needed = {i for n in cone_nodes for i in n.input}
    inits = [i for i in model.graph.initializer if i.name in needed]
    consts = [n for n in model.graph.node if n.op_type == "Constant" and n.output[0] in needed]
    sub = helper.make_model(helper.make_graph([*consts, *cone_nodes], "leaf", [leaf_in], [out], inits),
                            opset_imports=list(model.opset_import), ir_version=model.ir_version)
    try:
        sess = onnxruntime.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])
        values = np.asarray(sess.run(None, {tree.output[0]: weights.reshape(-1, 1)})[0])
    except Exception as e:
        raise ModelFormatError(f"cannot evaluate the graph after tree '{tree.name}' per leaf: "
                               f"{str(e).splitlines()[0]}") from None
    if values.size != len(weights):
        return
    for attr in tree.attribute:
        if attr.name in ("target_weights", "target_weights_as_tensor"):
            tree.attribute.remove(attr)
            break
    tree.attribute.append(helper.make_attribute("target_weights", values.astype(np.float32).reshape(-1).tolist()))
    tree.output[0] = result


def merge_tree_sums(model: onnx.ModelProto) -> None:
    while _merge_one_sum(model.graph):  # each merge rebuilds the node list
        pass


def _merge_one_sum(g) -> bool:
    producer = {n.output[0]: n for n in g.node if _single_tree(n)}
    for s in [n for n in g.node if n.op_type == "Sum" and n.domain in ("", "ai.onnx")]:
        trees = [producer.get(i) for i in s.input]
        if len(trees) < 2 or any(t is None for t in trees) or len({t.input[0] for t in trees}) != 1:
            continue
        if any(sum(i == t.output[0] for n in g.node for i in n.input) != 1 for t in trees):
            continue
        merged = _concat_trees(trees, s.output[0])
        gone = {t.output[0] for t in trees} | {s.output[0]}
        at = next(i for i, n in enumerate(g.node) if set(n.output) & gone)  # where the first tree was
        before = [n for n in list(g.node)[:at]]
        after = [n for n in list(g.node)[at:] if not set(n.output) & gone]
        _keep(g, [*before, merged, *after])
        return True
    return False


def _concat_trees(trees: list, output: str):
    """One TreeEnsembleRegressor with the trees in order (tree ids renumbered 0..n-1)."""
    keys = ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
            "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids", "target_ids",
            "target_weights")
    merged = {k: [] for k in keys}
    for tid, t in enumerate(trees):
        a = _attrs(t)
        if a.get("base_values") is not None and np.any(np.asarray(a["base_values"]) != 0):
            raise ModelFormatError(f"tree '{t.name}' has base values; it cannot join a summed ensemble")
        a.setdefault("nodes_values", a.get("nodes_values_as_tensor"))
        for k in keys:
            vals = list(a[k])
            merged[k] += [tid] * len(vals) if k.endswith("treeids") else vals
    return helper.make_node("TreeEnsembleRegressor", [trees[0].input[0]], [output], domain=ML,
                            name=f"{trees[0].name}_merged", n_targets=1, aggregate_function="SUM",
                            post_transform="NONE", **merged)
