"""The arena planner: liveness, offsets that never collide, and the sizes TFLite Micro plans."""
import numpy as np
import pytest

from microc.frontends import load_model
from microc.ir import Graph, Op, Tensor
from microc.passes.order import memory_order
from microc.planner import Buffer, InPlace, align, place_buffers, plan_arena
from shared_models import TFLM_HEAD_BYTES, shared_model


def _t(name, n):
    return Tensor(name, (1, n), "int8")


def _assert_no_collisions(plan):
    for a in plan.buffers:
        for b in plan.buffers:
            if a is not b and a.overlaps_in_time(b) and a.root() is not b.root():
                assert a.offset + align(a.size) <= b.offset or b.offset + align(b.size) <= a.offset


def test_chain_needs_only_the_largest_adjacent_pair():
    x, a, b, c = _t("x", 100), _t("a", 400), _t("b", 64), _t("c", 300)
    ops = [Op("RELU", [x], [a]), Op("RELU", [a], [b]), Op("RELU", [b], [c])]
    plan = plan_arena(Graph("chain", ops, [x], [c]))
    assert plan.lower_bound_bytes == 100 + 400
    assert plan.arena_bytes == align(400) + align(100)
    _assert_no_collisions(plan)


def test_residual_branch_keeps_the_skip_tensor_alive():
    x, a, b, s = _t("x", 256), _t("a", 256), _t("b", 256), _t("s", 256)
    ops = [Op("RELU", [x], [a]), Op("RELU", [a], [b]), Op("ADD", [x, b], [s])]
    plan = plan_arena(Graph("res", ops, [x], [s]))
    assert plan.lower_bound_bytes == 3 * 256  # x lives until the ADD, beside a and b, then b and s
    assert plan.arena_bytes == 3 * 256
    _assert_no_collisions(plan)


def test_reshape_shares_its_input_buffer():
    x, a, r, c = _t("x", 64), _t("a", 64), Tensor("r", (8, 8), "int8"), _t("c", 64)
    shape = Tensor("shape", (2,), "int32", data=np.array([8, 8], np.int32))
    ops = [Op("RELU", [x], [a]), Op("RESHAPE", [a, shape], [r]), Op("RELU", [r], [c])]
    plan = plan_arena(Graph("reshape", ops, [x], [c]))
    assert plan.offset_of(a) == plan.offset_of(r)
    assert plan.arena_bytes == 128


def test_scratch_is_planned_for_its_step_only():
    x, a, b = _t("x", 32), _t("a", 32), _t("b", 32)
    ops = [Op("RELU", [x], [a]), Op("RELU", [a], [b])]
    plan = plan_arena(Graph("s", ops, [x], [b]), scratch_bytes={1: 100})
    assert plan.arena_bytes == 32 + 32 + align(100)
    _assert_no_collisions(plan)


@pytest.mark.parametrize("name", sorted(TFLM_HEAD_BYTES))
def test_arena_is_no_larger_than_tflite_micros(name):
    plan = plan_arena(load_model(shared_model(name)))
    assert plan.lower_bound_bytes <= plan.arena_bytes <= TFLM_HEAD_BYTES[name]
    _assert_no_collisions(plan)


def test_exact_placement_reaches_the_bound_where_greedy_does_not():
    # Every greedy order of these lifetimes needs 224 bytes; 176 bytes are alive at the worst step.
    spans = [(32, 3, 5), (32, 0, 5), (64, 2, 2), (48, 3, 5), (64, 4, 5), (48, 0, 3)]
    buffers = [Buffer(n, f, l, [], f"b{i}") for i, (n, f, l) in enumerate(spans)]
    arena, placement, greedy = place_buffers(buffers, 6)
    assert (greedy, arena, placement) == (224, 176, "cp-sat (optimal)")
    for a in buffers:
        for b in buffers:
            if a is not b and a.overlaps_in_time(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset


def test_elementwise_in_place_shares_the_dying_input():
    x, a, b, s = _t("x", 256), _t("a", 256), _t("b", 256), _t("s", 256)
    ops = [Op("RELU", [x], [a]), Op("RELU", [a], [b]), Op("ADD", [x, b], [s])]
    plan = plan_arena(Graph("res", ops, [x], [s]), in_place={2: InPlace((0, 1))})
    assert plan.in_place == {2: 1}  # x is the graph input: the ADD writes over b
    assert plan.offset_of(s) == plan.offset_of(b)
    assert plan.refused == {}
    _assert_no_collisions(plan)


def test_in_place_chain_counts_each_step_once_at_the_larger_size():
    # x -> a (in place, grows 100 -> 400) -> b (in place, shrinks): one buffer whose size follows the step
    x, y, a, b = _t("x", 100), _t("y", 100), _t("a", 400), _t("b", 64)
    ops = [Op("RELU", [x], [y]), Op("CONV_2D", [y], [a]), Op("DEPTHWISE_CONV_2D", [a], [b])]
    plan = plan_arena(Graph("g", ops, [x], [b]), in_place={1: InPlace((0,), 32), 2: InPlace((0,), 48)})
    assert plan.in_place == {1: 0, 2: 0}
    assert plan.offset_of(y) == plan.offset_of(a) == plan.offset_of(b)
    assert plan.lower_bound_bytes == 400 + 48  # step 2: b over a, and its scratch
    assert plan.arena_bytes == align(400) + align(48)
    _assert_no_collisions(plan)


def test_in_place_refused_when_the_input_is_read_later():
    x, a, b, c = _t("x", 64), _t("a", 64), _t("b", 64), _t("c", 64)
    ops = [Op("RELU", [x], [a]), Op("RELU", [a], [b]), Op("ADD", [a, b], [c])]
    plan = plan_arena(Graph("g", ops, [x], [c]), in_place={1: InPlace((0,))})
    assert plan.in_place == {}
    assert plan.refused == {1: "input 0 is read later"}
    assert plan.offset_of(a) != plan.offset_of(b)


def test_in_place_refused_over_a_graph_input_or_through_a_reshape_read_later():
    x, a = _t("x", 64), _t("a", 64)
    plan = plan_arena(Graph("g", [Op("RELU", [x], [a])], [x], [a]), in_place={0: InPlace((0,))})
    assert plan.refused == {0: "input 0 is a graph input (the caller's data)"}
    assert plan.offset_of(a) != plan.offset_of(x)
    # a's reshape r is read after the RELU over a: a's bytes are still needed
    x, a, b, r, c = _t("x", 64), _t("a", 64), _t("b", 64), Tensor("r", (8, 8), "int8"), _t("c", 64)
    shape = Tensor("shape", (2,), "int32", data=np.array([8, 8], np.int32))
    ops = [Op("RELU", [x], [a]), Op("RESHAPE", [a, shape], [r]), Op("RELU", [a], [b]),
           Op("ADD", [r, b], [c])]
    plan = plan_arena(Graph("g", ops, [x], [c]), in_place={2: InPlace((0,))})
    assert plan.refused == {2: "input 0 is read later"}


def test_execution_order_runs_each_branch_to_its_end_first():
    # two branches, each a big tensor then a small one: the model's breadth-first order keeps both big
    # ones alive at once, depth first never does
    x, a1, b1 = _t("x", 16), _t("a1", 1000), _t("b1", 1000)
    a2, b2, s = _t("a2", 16), _t("b2", 16), _t("s", 16)
    ops = [Op("RELU", [x], [a1]), Op("RELU", [x], [b1]), Op("RELU", [a1], [a2]), Op("RELU", [b1], [b2]),
           Op("ADD", [a2, b2], [s])]
    graph = Graph("branches", ops, [x], [s])
    assert plan_arena(graph).lower_bound_bytes == 16 + 1000 + 1000
    ordered = memory_order(graph)
    assert [op.outputs[0].name for op in ordered.ops] == ["a1", "a2", "b1", "b2", "s"]
    assert plan_arena(ordered).lower_bound_bytes == 16 + 1000 + 16


def test_execution_order_keeps_a_chain():
    x, a, b = _t("x", 32), _t("a", 32), _t("b", 32)
    graph = Graph("chain", [Op("RELU", [x], [a]), Op("RELU", [a], [b])], [x], [b])
    assert memory_order(graph) is graph


def test_faster_in_place_option_only_within_the_arena_it_leaves_free():
    x, a, b = _t("x", 256), _t("a", 256), _t("b", 256)
    ops = [Op("RELU", [x], [a]), Op("DEPTHWISE_CONV_2D", [a], [b])]
    spec = InPlace((0,), 16, 1, faster=((512, 4), (240, 2)))  # fastest first
    plan = plan_arena(Graph("g", ops, [x], [b]), in_place={1: spec})
    # step 0 needs x and a (512 B); step 1 a/b (256) and scratch: 240 B more fit, 512 do not
    assert plan.options == {1: 2}
    assert plan.arena_bytes == 512
    _assert_no_collisions(plan)
