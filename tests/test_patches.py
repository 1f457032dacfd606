"""Patch-based execution of the first stage (microc/passes/patches.py): which regions may run patch by
patch and why the others may not, the rows each patch needs, the planner's views, the choice per
--optimize mode, and a patched stem (convolutions, depthwise with dilation, residual ADDs, a stride-2
block with its 1x1 skip) bit for bit with TFLM on the host under ASan/UBSan."""
from __future__ import annotations

import numpy as np
import pytest

import harness
from shared_models import shared_model
from test_ops_conv import Conv, _add_conv
from tflite_builder import ModelBuilder, run_tflm
from microc.codegen.generate import generate
from microc.frontends import load_model
from microc.passes import patches
from microc.passes.order import memory_order

IC = "mlperf_tiny/pretrainedResnet_quant"


def _ic():
    return memory_order(load_model(shared_model(IC)))


def test_regions_of_resnet_and_why_the_others_are_refused():
    ok, refused = patches.regions(_ic())
    # through the first downsampling block (8), through the second block's convolutions (11), through it (12)
    assert ok == [8, 11, 12]
    assert refused[1] == refused[4] == "its outputs are as large as its largest tensor (no gain)"
    assert refused[2] == "an output is also read inside it"  # the first conv's output feeds the ADD
    assert refused[5] == "its outputs differ in height"  # the stride-2 conv's 16 rows, the ADD's 32
    assert refused[13] == "AVERAGE_POOL_2D does not run on a band of rows"


def test_refused_for_operators_that_need_the_whole_tensor():
    ok, refused = patches.regions(memory_order(load_model(shared_model("mlperf_tiny/ad01_int8"))))
    assert ok == [] and refused[1] == "FULLY_CONNECTED does not run on a band of rows"


def test_rows_each_patch_needs_include_the_receptive_field():
    g = _ic()
    ops, outs = g.ops[:8], patches.outputs_of(g, 8)
    x, t1, t2, t4 = g.inputs[0], g.ops[0].outputs[0], g.ops[1].outputs[0], g.ops[3].outputs[0]
    top = patches._bands(ops, outs, (0, 1))  # the image's padding above: no rows before 0
    assert (top[id(t4)], top[id(t2)], top[id(t1)], top[id(x)]) == ((0, 5), (0, 6), (0, 7), (0, 8))
    mid = patches._bands(ops, outs, (5, 6))  # output row 5: 2 + 2 + 1 + 1 rows of overlap each side
    assert (mid[id(t4)], mid[id(t2)], mid[id(t1)], mid[id(x)]) == ((8, 15), (7, 16), (6, 17), (5, 18))


def test_patched_graph_reads_and_writes_views_and_keeps_the_rest():
    g = _ic()
    p = patches.Patches(8, 1, 16)
    new, origin = patches.apply(g, p)
    assert len(new.ops) == 16 * 8 + 8 and origin[-8:] == list(range(8, 16))
    first = new.ops[0]  # the first conv of patch 0 reads input rows 0-7: a view of the graph input
    assert first.inputs[0].base is g.inputs[0] and first.inputs[0].shape == (1, 8, 32, 3)
    assert first.attrs["pads"] == (1, 1, 0, 1) and first.attrs["patch"]["op"] == 0
    last_add = new.ops[16 * 8 - 1]  # patch 15's ADD writes row 15 of the block's output
    out = g.ops[7].outputs[0]
    assert last_add.outputs[0].base is out and last_add.outputs[0].base_offset == 15 * 16 * 32
    assert new.ops[16 * 8] is g.ops[8]


def test_planner_places_views_inside_their_base_and_refuses_in_place_through_them():
    g = _ic()
    new, _ = patches.apply(g, patches.Patches(8, 2, 16))
    m = generate(g, "m", "memory")
    plan = m.plan
    assert m.metadata["planner"]["patches"]["rows"] == 1  # the smallest arena: one row per patch
    x = g.inputs[0]
    views = [t for op in m.plan.buffers for t in op.tensors if t.base is x]
    assert views and all(plan.offset_of(v) == plan.offset_of(x) + v.base_offset for v in views)
    why = {r["why"] for r in m.metadata["planner"]["refused"]}
    assert "the output is a view of a larger buffer" in why  # each patch's last ADD writes the block
    # no two buffers alive at one step overlap in the arena (an in-place output only over its input)
    bufs = [b for b in plan.buffers]
    for a in bufs:
        for b in bufs:
            if a is not b and a.overlaps_in_time(b) and a.root() is not b.root():
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a.name, b.name)
    assert len(new.ops) == 8 * 8 + 8


@pytest.mark.parametrize("mode", ["speed", "balanced"])
def test_only_memory_runs_patches(mode):
    m = generate(load_model(shared_model(IC)), "m", mode)
    assert m.metadata["planner"]["patches"] is None and len(m.metadata["layers"]) == 16


def test_resnet_memory_mode_patches_the_first_two_blocks():
    m = generate(load_model(shared_model(IC)), "m", "memory")
    p = m.metadata["planner"]["patches"]
    assert (m.plan.arena_bytes, m.plan.lower_bound_bytes) == (23040, 23040)
    assert p["layers"] == list(range(8)) and (p["patches"], p["rows"], p["steps"]) == (16, 1, [0, 127])
    assert (p["operations"], p["patched_operations"]) == (12529664, 29538816)
    assert m.metadata["layers"][3]["patch"] == {"patch": 0, "patches": 16, "op": 3, "rows": [0, 5]}


def _stem(dtype: str) -> bytes:
    """conv, depthwise (dilated), conv, residual ADD, then a stride-2 block with a 1x1 stride-2 skip
    and its ADD: the shape of ResNet's first stage, on an odd-sized image."""
    rng = np.random.default_rng(5)
    b = ModelBuilder()
    shape, in_q = (1, 27, 9, 3), (0.05, -3)
    q = dict(scale=in_q[0], zero_point=in_q[1]) if dtype == "int8" else {}
    x = b.tensor("x", shape, dtype, **q)

    def conv(src, src_shape, c, depthwise=False, i=0):
        y = _add_conv(b, src, src_shape, _q(src), c, depthwise, dtype, rng, i)
        return y, tuple(b._tensors[y]["shape"])

    def _q(t):
        quant = b._tensors[t]["quant"]
        return (float(quant[0][0]), int(quant[1][0])) if quant else (1.0, 0)

    def add(a, c, out_shape, i):
        s = 1.5 * max(_q(a)[0], _q(c)[0])
        y = b.tensor(f"a{i}", out_shape, dtype, **(dict(scale=s, zero_point=-4) if dtype == "int8" else {}))
        b.op("ADD", [a, c], [y], activation="RELU")
        return y

    y0, s0 = conv(x, shape, Conv((3, 3), 16, activation="RELU"), i=0)
    y1, s1 = conv(y0, s0, Conv((3, 3), 1, dilation=(2, 2)), depthwise=True, i=1)
    y2, s2 = conv(y1, s1, Conv((3, 3), 16, out_zp=-2), i=2)
    y3 = add(y0, y2, s2, 3)
    y4, s4 = conv(y3, s2, Conv((3, 3), 16, stride=(2, 2), activation="RELU"), i=4)
    y5, s5 = conv(y4, s4, Conv((3, 3), 16), i=5)
    y6, s6 = conv(y3, s2, Conv((1, 1), 16, padding="VALID", stride=(2, 2)), i=6)
    assert s6 == s5 == (1, 14, 5, 16)
    y7 = add(y5, y6, s5, 7)
    b.inputs([x])
    b.outputs([y7])
    return b.build()


@pytest.mark.parametrize("dtype", ["int8"])  # float32 the same way (equal to TFLM): 30 s more under ASan
def test_patched_stem_bit_exact_with_tflm(dtype, tmp_path):
    path = tmp_path / "stem.tflite"
    path.write_bytes(_stem(dtype))
    m = generate(load_model(path), "m", "memory")
    assert m.metadata["planner"]["patches"]["layers"] == list(range(8))
    assert m.plan.arena_bytes < generate(load_model(path), "m", "balanced").plan.arena_bytes
    rng = np.random.default_rng(9)
    if dtype == "int8":
        samples = [[rng.integers(-128, 127, (1, 27, 9, 3), endpoint=True, dtype=np.int8)],
                   [np.full((1, 27, 9, 3), -128, np.int8)], [np.full((1, 27, 9, 3), 127, np.int8)]]
    else:
        samples = [[rng.standard_normal((1, 27, 9, 3)).astype(np.float32)] for _ in range(2)]
    for sample, got in zip(samples, harness.compile_and_run_sanitized(path, samples, tmp_path, "memory")):
        for g, w in zip(got, run_tflm(path.read_bytes(), sample)):
            assert np.array_equal(g, w)  # float32 too: each output sums the same taps in the same order


def test_report_shows_the_patches(tmp_path):
    import html
    from microc.pipeline import compile_model
    from microc.project_report import write_report
    from microc.report import patches_text
    compile_model(shared_model(IC), "host", tmp_path / "p", optimize="memory")
    page, data = write_report(tmp_path / "p")
    text = page.read_text()
    assert html.escape(patches_text(data["arena"]["patches"])) in text
    assert "run in 16 patches of 1 output row (steps 0-127); operations 12,529,664 -&gt; 29,538,816 (x2.36" in text
    assert "CONV_2D (patch 16/16 of layer 4)" in text and len(data["layers"]) == 136


def test_layer_by_layer_rerun_says_why_it_cannot_compare_patches():
    from microc.divergence import _project_graph
    from microc.errors import MicrocError
    metadata = {"planner": {"patches": {"layers": [0]}}}
    with pytest.raises(MicrocError, match="patch by patch .* --optimize balanced"):
        _project_graph({"model": str(shared_model(IC))}, metadata)


def test_balanced_patches_only_when_the_model_would_not_fit_otherwise():
    from microc.boards import load_board
    from microc.codegen.schedule import isas_of
    from microc.pipeline import _generate_fitting
    from microc.project.fit import memory_needs
    from test_memory import _board_with_ram
    graph, m4 = load_model(shared_model(IC)), load_board("mps2-an386")
    assert _generate_fitting(graph, "m", m4, "balanced", None).metadata["planner"]["patches"] is None
    small = memory_needs(generate(graph, "m", "memory", isas=isas_of(m4.features)), m4)
    model = _generate_fitting(graph, "m", _board_with_ram(small["data"] + small["arena"] + small["stack"]),
                              "balanced", None)
    assert model.metadata["optimize"] == "memory" and model.plan.arena_bytes == 23040
    assert model.metadata["planner"]["patches"]["patches"] == 16
