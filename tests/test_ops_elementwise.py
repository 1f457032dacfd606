"""ADD, SUB, MUL with broadcasting: microc's C against TFLM, bit-exact for int8, within FLOAT_RTOL
for float32."""
import numpy as np
import pytest

import harness
from microc.errors import UnsupportedOperator
from test_ops_pool import ACTIVATIONS, check, check_sanitized, models_of, samples_for

OPS = ["ADD", "SUB", "MUL"]


def add_binary(b, dtype, tag, ops, shape_a, shape_b, activations=("NONE",), qa=(0.05, -3),
               qb=(0.03, 7), qo=(0.08, 2), const_b=None):
    """Every op in `ops` with every fused activation on the same two inputs (one output each)."""
    out_shape = np.broadcast_shapes(shape_a, shape_b)

    def q(qq):
        return dict(scale=qq[0], zero_point=qq[1]) if dtype == "int8" else {}
    x = b.tensor(f"a{tag}", shape_a, dtype, **q(qa))
    y = b.const(f"b{tag}", const_b, dtype=dtype, **q(qb)) if const_b is not None else \
        b.tensor(f"b{tag}", shape_b, dtype, **q(qb))
    outs = []
    for op in ops:
        # products need a wider output range than sums
        qz = (qa[0] * qb[0] * 40, qo[1]) if op == "MUL" else qo
        for act in activations:
            outs.append(b.tensor(f"{op}_{act}_{tag}", out_shape, dtype, **q(qz)))
            b.op(op, [x, y], [outs[-1]], activation=act)
    if const_b is not None:
        return [x], [shape_a], outs
    return [x, y], [shape_a, shape_b], outs


def binary_model(ops, dtype, shape_a, shape_b, *args):
    """One model of add_binary's ops; returns (model, input shapes)."""
    return models_of(dtype, [(ops, shape_a, shape_b, *args)], add_binary)


SHAPES = [  # (a, b)
    ((1, 4, 4, 3), (1, 4, 4, 3)),
    ((2, 5, 7), (2, 5, 7)),
    ((1, 4, 4, 3), (3,)),
    ((1, 4, 4, 3), (1, 1, 1, 1)),
    ((1,), (2, 3, 5)),
    ((2, 1, 5, 1), (1, 3, 1, 4)),
    ((1, 6, 1, 8), (1, 6, 5, 8)),
    ((4, 1), (1, 9)),
    ((17,), (17,)),
    ((2, 1, 3, 1, 2), (1, 4, 1, 5, 2)),  # TFLM broadcasts up to 6-D
    ((2, 1, 3, 1, 2, 1), (1, 4, 1, 5, 1, 3)),
    ((1, 1), (1, 1)),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_binary_shapes(dtype, tmp_path):
    cases = [(OPS, sa, sb, [ACTIVATIONS[k % len(ACTIVATIONS)]]) for k, (sa, sb) in enumerate(SHAPES)]
    model, feeds = models_of(dtype, cases, add_binary)
    check(model, samples_for(feeds, dtype, seed=1), tmp_path)


QUANTS = [  # (qa, qb, qo)
    ((0.05, -3), (0.05, -3), (0.05, -3)),
    ((1e-3, -128), (0.5, 127), (0.6, 0)),
    ((2.0, 127), (1e-2, -128), (4.5, -128)),
    ((0.0078125, 0), (0.0078125, 0), (0.0078125, 0)),
    ((0.1, 50), (0.02, -60), (0.03, 127)),
]


def test_int8_quantization_and_activations(tmp_path):
    sa, sb = (2, 3, 4, 5), (1, 3, 1, 5)
    model, feeds = models_of("int8", [(OPS, sa, sb, ACTIVATIONS, *q) for q in QUANTS], add_binary)
    check(model, samples_for(feeds, "int8", seed=2), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("shape_b", [(1, 1, 6), ()])  # a row, a scalar
def test_constant_operand(dtype, shape_b, tmp_path):
    rng = np.random.default_rng(3)
    const = np.asarray(rng.integers(-128, 128, shape_b, dtype=np.int8) if dtype == "int8" else
                       rng.normal(0, 1, shape_b).astype(np.float32))
    model, feeds = models_of(dtype, [(OPS, (2, 5, 6), shape_b, ["RELU6"], (0.05, -3), (0.03, 7),
                                      (0.08, 2), const)], add_binary)
    check(model, samples_for(feeds, dtype, seed=4), tmp_path)


def test_sanitized(tmp_path):
    for dtype in ("int8", "float32"):
        sa, sb = (2, 1, 5, 3), (1, 4, 1, 3)
        model, feeds = binary_model(OPS, dtype, sa, sb, ACTIVATIONS)
        check_sanitized(model, samples_for(feeds, dtype, 2, n=1), tmp_path / dtype)


def test_broadcast_above_rank_6_is_refused(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(binary_model(["MUL"], "int8", (2, 1, 3, 1, 2, 1, 2), (1, 4, 1, 5, 1, 3, 2))[0])
    with pytest.raises(UnsupportedOperator, match="up to rank 6"):
        harness.compile_and_run(path, [], tmp_path)


def test_add_output_scale_too_small_is_refused(tmp_path):
    model, _ = binary_model(["ADD"], "int8", (1, 4), (1, 4), ["NONE"], (1.0, 0), (1.0, 0), (1e-7, 0))
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedOperator, match="outside"):
        harness.compile_and_run(path, [], tmp_path)
