"""The .tflite exporter: IR -> .tflite -> IR gives the same graph, and TFLM computes the same outputs."""
import numpy as np
import pytest

from microc.export.tflite import ExportError, export_tflite
from microc.frontends.tflite import load_tflite
from shared_models import FLOAT, INT8, shared_model
from tflite_builder import ModelBuilder, run_tflm


def _load_bytes(tmp_path, data: bytes, name="m"):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    return load_tflite(path)


def _assert_same_graph(a, b):
    assert [op.type for op in a.ops] == [op.type for op in b.ops]
    for op_a, op_b in zip(a.ops, b.ops):
        assert op_a.attrs == op_b.attrs, op_a.name
        assert op_a.name == op_b.name
        assert len(op_a.inputs) == len(op_b.inputs)
        for ta, tb in zip([*op_a.inputs, *op_a.outputs], [*op_b.inputs, *op_b.outputs]):
            if ta is None or tb is None:
                assert ta is tb
                continue
            assert (ta.name, ta.shape, ta.dtype) == (tb.name, tb.shape, tb.dtype)
            assert (ta.quant is None) == (tb.quant is None)
            if ta.quant is not None:
                assert np.array_equal(ta.quant.scale, tb.quant.scale)
                assert np.array_equal(ta.quant.zero_point, tb.quant.zero_point)
                assert ta.quant.axis == tb.quant.axis
            assert (ta.data is None) == (tb.data is None)
            if ta.data is not None:
                assert np.array_equal(ta.data, tb.data)
    assert [t.name for t in a.inputs] == [t.name for t in b.inputs]
    assert [t.name for t in a.outputs] == [t.name for t in b.outputs]


def _random_inputs(graph, rng):
    return [rng.normal(size=t.shape).astype(np.float32) if t.dtype == "float32"
            else rng.integers(-128, 128, t.shape).astype(t.dtype) for t in graph.inputs]


@pytest.mark.parametrize("name", FLOAT + INT8)
def test_shared_model_round_trip(name, tmp_path):
    path = shared_model(name)
    graph = load_tflite(path)
    exported = export_tflite(graph)
    _assert_same_graph(graph, _load_bytes(tmp_path, exported))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = _random_inputs(graph, rng)
        for want, got in zip(run_tflm(path.read_bytes(), x), run_tflm(exported, x)):
            assert np.array_equal(want, got)


def test_extra_outputs_expose_intermediates(tmp_path):
    graph = load_tflite(shared_model("tflm/hello_world_float"))
    hidden = [op.outputs[0] for op in graph.ops[:-1]]
    model = export_tflite(graph, extra_outputs=hidden)
    x = np.array([[1.25]], np.float32)
    out, h1, h2 = run_tflm(model, [x])
    w1, b1 = graph.ops[0].inputs[1].data, graph.ops[0].inputs[2].data
    np.testing.assert_allclose(h1, np.maximum(x @ w1.T + b1, 0), rtol=1e-6)
    assert h2.shape == graph.ops[1].outputs[0].shape
    assert np.array_equal(out, run_tflm(export_tflite(graph), [x])[0])


def _conv_model(padding, stride, in_hw=(7, 7), k=3):
    b, rng = ModelBuilder(), np.random.default_rng(1)
    x = b.tensor("x", (1, *in_hw, 2), "float32")
    w = b.const("w", rng.normal(size=(3, k, k, 2)).astype(np.float32))
    bias = b.const("bias", rng.normal(size=3).astype(np.float32))
    out_hw = [-(-s // stride) if padding == "SAME" else (s - k) // stride + 1 for s in in_hw]
    y = b.tensor("y", (1, *out_hw, 3), "float32")
    b.op("CONV_2D", [x, w, bias], [y], padding=padding, stride=(stride, stride), activation="RELU6")
    p = b.tensor("p", (1, -(-out_hw[0] // 2), -(-out_hw[1] // 2), 3), "float32")
    b.op("MAX_POOL_2D", [y], [p], filter_size=(2, 2), padding="SAME", stride=(2, 2))
    b.inputs([x])
    b.outputs([p])
    return b.build()


@pytest.mark.parametrize("padding,stride", [("SAME", 1), ("SAME", 2), ("VALID", 1), ("VALID", 2)])
def test_padding_recovered_from_pads(padding, stride, tmp_path):
    model = _conv_model(padding, stride)
    graph = _load_bytes(tmp_path, model)
    exported = export_tflite(graph)
    assert _load_bytes(tmp_path, exported, "e").ops[0].attrs["padding"] == padding
    x = np.random.default_rng(2).normal(size=(1, 7, 7, 2)).astype(np.float32)
    assert np.array_equal(run_tflm(model, [x])[0], run_tflm(exported, [x])[0])


def test_pads_that_do_not_give_the_output_size_are_refused(tmp_path):
    graph = _load_bytes(tmp_path, _conv_model("SAME", 1))
    graph.ops[0].attrs["pads"] = (2, 0, 0, 0)
    graph.ops[0].attrs.pop("padding")
    with pytest.raises(ExportError, match=r"CONV_2D 'y': pads \(2, 0, 0, 0\) do not give the output size"):
        export_tflite(graph)


def _padded_model(op_type, pads, stride=2):
    """PAD (PADV2 of the lowest float before a max pool) then `op_type` with VALID padding: what the
    exporter must write for an op whose explicit pads SAME cannot express."""
    b, rng = ModelBuilder(), np.random.default_rng(3)
    top, left, bottom, right = pads
    x = b.tensor("x", (1, 8, 8, 2), "float32")
    xp = b.tensor("xp", (1, 8 + top + bottom, 8 + left + right, 2), "float32")
    paddings = b.const("paddings", np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32))
    out_hw = [(8 + top + bottom - 3) // stride + 1, (8 + left + right - 3) // stride + 1]
    if op_type == "CONV_2D":
        b.op("PAD", [x, paddings], [xp])
        y = b.tensor("y", (1, *out_hw, 3), "float32")
        b.op("CONV_2D", [xp, b.const("w", rng.normal(size=(3, 3, 3, 2)).astype(np.float32)),
                         b.const("bias", rng.normal(size=3).astype(np.float32))], [y], padding="VALID",
             stride=(stride, stride))
    else:
        b.op("PADV2", [x, paddings, b.const("lowest", np.array([np.finfo(np.float32).min], np.float32))], [xp])
        y = b.tensor("y", (1, *out_hw, 2), "float32")
        b.op(op_type, [xp], [y], filter_size=(3, 3), padding="VALID", stride=(stride, stride))
    b.inputs([x])
    b.outputs([y])
    return b.build()


@pytest.mark.parametrize("op_type", ["CONV_2D", "MAX_POOL_2D"])
def test_explicit_pads_become_a_pad_op(op_type, tmp_path):
    """ONNX's pads (1, 1, 1, 1) on a stride-2 3x3 window over 8x8: SAME would pad (0, 0, 1, 1)."""
    reference = _padded_model(op_type, (1, 1, 1, 1))
    graph = _load_bytes(tmp_path, reference)
    pad_op, op = graph.ops  # fold the PAD into the op's pads, as an ONNX importer writes it
    op.inputs[0] = pad_op.inputs[0]
    op.attrs.update(pads=(1, 1, 1, 1))
    op.attrs.pop("padding")
    graph.ops = [op]
    exported = export_tflite(graph)
    assert [o.type for o in _load_bytes(tmp_path, exported, "e").ops] == [pad_op.type, op_type]
    x = -np.abs(np.random.default_rng(4).normal(size=(1, 8, 8, 2))).astype(np.float32)  # max pool: pads lose
    assert np.array_equal(run_tflm(reference, [x])[0], run_tflm(exported, [x])[0])


def test_average_pool_pads_that_same_cannot_express_are_refused(tmp_path):
    graph = _load_bytes(tmp_path, _padded_model("AVERAGE_POOL_2D", (1, 1, 1, 1)))
    pad_op, op = graph.ops
    op.inputs[0] = pad_op.inputs[0]
    op.attrs.update(pads=(1, 1, 1, 1))
    graph.ops = [op]
    with pytest.raises(ExportError, match=r"AVERAGE_POOL_2D 'y': pads \(1, 1, 1, 1\) are neither SAME nor VALID"):
        export_tflite(graph)


def test_pads_from_another_frontend_without_padding_attr(tmp_path):
    graph = _load_bytes(tmp_path, _conv_model("SAME", 2))
    for op in graph.ops:  # as an importer that only sets explicit pads would leave them
        op.attrs.pop("padding")
    again = _load_bytes(tmp_path, export_tflite(graph), "e")
    assert [op.attrs["padding"] for op in again.ops] == ["SAME", "SAME"]


def test_operator_with_unknown_options_is_refused(tmp_path):
    graph = load_tflite(shared_model("tflm/hello_world_float"))
    graph.ops[0].type = "LSH_PROJECTION"
    with pytest.raises(ExportError, match="LSH_PROJECTION .*cannot write this operator"):
        export_tflite(graph)


def test_explicit_pads_on_int8_max_pool_fill_with_the_lowest_value(tmp_path):
    b = ModelBuilder()
    x = b.tensor("x", (1, 8, 8, 2), "int8", scale=0.1, zero_point=5)
    y = b.tensor("y", (1, 4, 4, 2), "int8", scale=0.1, zero_point=5)
    b.op("MAX_POOL_2D", [x], [y], filter_size=(3, 3), padding="SAME", stride=(2, 2))
    b.inputs([x])
    b.outputs([y])
    graph = _load_bytes(tmp_path, b.build())
    graph.ops[0].attrs.update(pads=(1, 1, 1, 1))  # SAME would be (0, 0, 1, 1)
    graph.ops[0].attrs.pop("padding")
    q = np.random.default_rng(5).integers(-128, 0, (1, 8, 8, 2)).astype(np.int8)
    got = run_tflm(export_tflite(graph), [q])[0]
    padded = np.pad(q, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-128)
    want = np.stack([np.stack([padded[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(0, 1))
                               for j in range(4)]) for i in range(4)])[None]
    assert np.array_equal(got, want)


def test_issue_12_operators_round_trip(tmp_path):
    """GATHER's axis, RESIZE_*'s options, BATCH_MATMUL's adj flags, the reductions' keep_dims, and the
    option-less SQRT/RSQRT/LOG are written back: the same graph, and TFLM computes the same outputs."""
    from test_ops_m4 import _model
    from test_ops_math import add_unary
    from test_ops_matmul import CASES, add_matmul
    b = ModelBuilder()
    parts = [add_matmul(b, "float32", "0", *CASES[5]), add_unary(b, "float32", "1", "SQRT", (3,)),
             add_unary(b, "float32", "2", "LOG", (3,))]
    b.inputs([i for ins, _, _ in parts for i in ins])
    b.outputs([y for _, _, y in parts])
    for k, model in enumerate((_model(), b.build())):
        graph = _load_bytes(tmp_path, model, f"m{k}")
        exported = export_tflite(graph)
        _assert_same_graph(graph, _load_bytes(tmp_path, exported, f"exported{k}"))
        x = [np.abs(v) + 0.1 if v.dtype == np.float32 else v for v in _random_inputs(graph, np.random.default_rng(k))]
        for want, got in zip(run_tflm(model, x), run_tflm(exported, x)):
            np.testing.assert_array_equal(want, got)
