"""BATCH_MATMUL: microc's C against TFLM (int8 bit-exact, float32 within FLOAT_RTOL): broadcast batches,
adj_x/adj_y, ranks 2 to 5, a constant operand."""
import numpy as np
import pytest

from test_ops_index import refused_as_malformed
from test_ops_pool import check, check_sanitized, models_of, samples_for
from tflite_builder import ModelBuilder
from microc.passes.validate import matmul_shapes
from microc.ir import Op, Tensor


def _out_shape(a, b, adj_x, adj_y):
    op = Op("BATCH_MATMUL", [Tensor("a", a, "float32"), Tensor("b", b, "float32")], [],
            dict(adj_x=adj_x, adj_y=adj_y))
    batch, rows, _, cols = matmul_shapes(op)
    return (*batch, rows, cols)


def add_matmul(b, dtype, tag, a_shape, b_shape, adj_x=False, adj_y=False, const_b=False,
               qa=(0.05, -3), qb=(0.02, 4), qy=(0.1, 2)):
    def q(p):
        return dict(scale=p[0], zero_point=p[1]) if dtype == "int8" else {}
    x = b.tensor(f"a{tag}", a_shape, dtype, **q(qa))
    if const_b:
        rng = np.random.default_rng(int(tag))
        data = rng.integers(-128, 128, b_shape).astype(np.int8) if dtype == "int8" else \
            rng.normal(0, 1, b_shape).astype(np.float32)
        w = b.const(f"b{tag}", data, **q(qb))
        ins, feeds = [x], [a_shape]
    else:
        w = b.tensor(f"b{tag}", b_shape, dtype, **q(qb))
        ins, feeds = [x, w], [a_shape, b_shape]
    y = b.tensor(f"y{tag}", _out_shape(a_shape, b_shape, adj_x, adj_y), dtype, **q(qy))
    b.op("BATCH_MATMUL", [x, w], [y], adj_x=adj_x, adj_y=adj_y)
    return ins, feeds, y


CASES = [  # a shape, b shape, adj_x, adj_y, constant b
    ((2, 3), (3, 4), False, False, False),
    ((2, 3, 5), (2, 5, 4), False, False, False),
    ((2, 1, 3, 4), (3, 4, 5), False, False, False),  # broadcast batches
    ((2, 4, 3), (2, 4, 5), True, False, False),
    ((3, 6), (2, 5, 6), False, True, False),
    ((1, 5, 2), (4, 3, 5), True, True, False),
    ((2, 1, 2, 2, 3), (1, 3, 1, 3, 2), False, False, False),  # rank 5
    ((4, 6), (6, 3), False, False, True),
    ((1, 3, 7), (7, 2), False, False, True),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_batch_matmul(dtype, tmp_path):
    model, feeds = models_of(dtype, CASES, add_matmul)
    check(model, samples_for(feeds, dtype, seed=71, n=2), tmp_path)


def test_batch_matmul_int8_quantization(tmp_path):
    quants = [((0.05, -128), (0.01, 0), (0.5, -128)), ((0.2, 127), (0.3, -128), (0.02, 0)),
              ((1e-3, 5), (2e-3, -7), (1e-5, 3))]
    cases = [(*CASES[k][:5], *q) for k, q in zip((1, 4, 7), quants)]
    model, feeds = models_of("int8", cases, add_matmul)
    check(model, samples_for(feeds, "int8", seed=72, n=2), tmp_path)


@pytest.mark.parametrize("a,b,adj_x,out,match", [
    ((2, 3), (4, 5), False, (2, 5), r"do not multiply \(depth 3 and 4\)"),
    ((2, 2, 3), (3, 3, 4), False, (2, 2, 4), "batch dimensions of .* do not broadcast"),
    ((2, 3), (3, 4), False, (2, 5), r"must be \(2, 4\)"),
    ((3,), (3, 4), False, (4,), "must have rank 2 to 5"),
])
def test_bad_shapes_are_one_line_errors(a, b, adj_x, out, match, tmp_path):
    m = ModelBuilder()
    x, w = m.tensor("a", a, "float32"), m.tensor("b", b, "float32")
    y = m.tensor("y", out, "float32")
    m.op("BATCH_MATMUL", [x, w], [y], adj_x=adj_x)
    m.inputs([x, w])
    m.outputs([y])
    refused_as_malformed(m.build(), tmp_path, match)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_sanitized(dtype, tmp_path):
    model, feeds = models_of(dtype, [CASES[i] for i in (2, 5, 6, 7)], add_matmul)
    check_sanitized(model, samples_for(feeds, dtype, 1, n=1), tmp_path)
