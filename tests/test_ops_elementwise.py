"""ADD, SUB, MUL with broadcasting: microc's C against TFLM, bit-exact for int8, within FLOAT_RTOL
for float32."""
import numpy as np
import pytest

import harness
from microc.errors import UnsupportedOperator
from test_ops_pool import ACTIVATIONS, check, check_sanitized, samples_for
from tflite_builder import ModelBuilder

OPS = ["ADD", "SUB", "MUL"]


def binary_model(ops, dtype, shape_a, shape_b, activations=("NONE",), qa=(0.05, -3), qb=(0.03, 7),
                 qo=(0.08, 2), const_b=None):
    """One model applying every op in `ops` with every fused activation to the same two inputs (one
    output each), so a single build covers them all."""
    b = ModelBuilder()
    out_shape = np.broadcast_shapes(shape_a, shape_b)

    def q(qq):
        return dict(scale=qq[0], zero_point=qq[1]) if dtype == "int8" else {}
    x = b.tensor("a", shape_a, dtype, **q(qa))
    y = b.const("b", const_b, dtype=dtype, **q(qb)) if const_b is not None else \
        b.tensor("b", shape_b, dtype, **q(qb))
    outs = []
    for op in ops:
        # products need a wider output range than sums
        qz = (qa[0] * qb[0] * 40, qo[1]) if op == "MUL" else qo
        for act in activations:
            outs.append(b.tensor(f"{op}_{act}", out_shape, dtype, **q(qz)))
            b.op(op, [x, y], [outs[-1]], activation=act)
    b.inputs([x] if const_b is not None else [x, y])
    b.outputs(outs)
    return b.build()


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
    ((2, 1, 3, 1, 2), (1, 4, 1, 5, 2)),  # rank 5: ADD/SUB broadcast to 6-D in TFLM
    ((1, 1), (1, 1)),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("case", range(len(SHAPES)))
def test_binary_shapes(dtype, case, tmp_path):
    sa, sb = SHAPES[case]
    ops = OPS if len(np.broadcast_shapes(sa, sb)) <= 4 else ["ADD", "SUB"]
    act = ACTIVATIONS[case % len(ACTIVATIONS)]
    check(binary_model(ops, dtype, sa, sb, [act]), samples_for([sa, sb], dtype, seed=case), tmp_path)


QUANTS = [  # (qa, qb, qo)
    ((0.05, -3), (0.05, -3), (0.05, -3)),
    ((1e-3, -128), (0.5, 127), (0.6, 0)),
    ((2.0, 127), (1e-2, -128), (4.5, -128)),
    ((0.0078125, 0), (0.0078125, 0), (0.0078125, 0)),
    ((0.1, 50), (0.02, -60), (0.03, 127)),
]


@pytest.mark.parametrize("qi", range(len(QUANTS)))
def test_int8_quantization_and_activations(qi, tmp_path):
    qa, qb, qo = QUANTS[qi]
    sa, sb = (2, 3, 4, 5), (1, 3, 1, 5)
    check(binary_model(OPS, "int8", sa, sb, ACTIVATIONS, qa, qb, qo),
          samples_for([sa, sb], "int8", seed=qi), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("shape_b", [(1, 1, 6), ()])  # a row, a scalar
def test_constant_operand(dtype, shape_b, tmp_path):
    rng = np.random.default_rng(3)
    const = np.asarray(rng.integers(-128, 128, shape_b, dtype=np.int8) if dtype == "int8" else
                       rng.normal(0, 1, shape_b).astype(np.float32))
    model = binary_model(OPS, dtype, (2, 5, 6), shape_b, ["RELU6"], const_b=const)
    check(model, samples_for([(2, 5, 6)], dtype, seed=4), tmp_path)


def test_sanitized(tmp_path):
    for dtype in ("int8", "float32"):
        sa, sb = (2, 1, 5, 3), (1, 4, 1, 3)
        check_sanitized(binary_model(OPS, dtype, sa, sb, ACTIVATIONS),
                        samples_for([sa, sb], dtype, 2, n=1), tmp_path / dtype)


def test_mul_broadcast_above_rank_4_is_refused(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(binary_model(["MUL"], "int8", (2, 1, 3, 1, 2), (1, 4, 1, 5, 2)))
    with pytest.raises(UnsupportedOperator, match="up to rank 4"):
        harness.compile_and_run(path, [], tmp_path)


def test_add_output_scale_too_small_is_refused(tmp_path):
    model = binary_model(["ADD"], "int8", (1, 4), (1, 4), qa=(1.0, 0), qb=(1.0, 0), qo=(1e-7, 0))
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedOperator, match="outside"):
        harness.compile_and_run(path, [], tmp_path)
