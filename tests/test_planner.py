"""The arena planner: liveness, offsets that never collide, and the sizes TFLite Micro plans."""
import numpy as np
import pytest

from microc.frontends import load_model
from microc.ir import Graph, Op, Tensor
from microc.planner import align, plan_arena
from shared_models import TFLM_HEAD_BYTES, shared_model


def _t(name, n):
    return Tensor(name, (1, n), "int8")


def _assert_no_collisions(plan):
    for a in plan.buffers:
        for b in plan.buffers:
            if a is not b and a.overlaps_in_time(b):
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
