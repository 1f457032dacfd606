"""SUM, REDUCE_MAX, REDUCE_MIN: microc's C against TFLM (int8 bit-exact, float32 within FLOAT_RTOL), over
the axis sets MEAN's tests use."""
import numpy as np
import pytest

import harness
from test_ops_pool import MEAN_CASES, check, check_sanitized, models_of, samples_for
from test_ops_shape import _refused
from tflite_builder import ModelBuilder, run_tflm


def add_reduce(b, dtype, tag, op, shape, axes, keep_dims, q=(0.05, -3), out_q=None):
    rank = len(shape)
    red = {a % rank for a in axes}
    oshape = [1 if i in red else d for i, d in enumerate(shape)] if keep_dims else \
        [d for i, d in enumerate(shape) if i not in red]
    out_q = out_q or (q if op != "SUM" else (q[0] * 4, 5))
    x = b.tensor(f"x{tag}", shape, dtype, **(dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}))
    ax = b.const(f"axis{tag}", list(axes), dtype="int32")
    y = b.tensor(f"y{tag}", oshape, dtype, **(dict(scale=out_q[0], zero_point=out_q[1]) if dtype == "int8" else {}))
    b.op(op, [x, ax], [y], keep_dims=keep_dims)
    return [x], [shape], y


def float_samples(feeds, seed):
    """Random samples, and one of NaN, +-inf and ties: TFLM's max (min) starts from -FLT_MAX (FLT_MAX)
    and skips NaN, so all -inf gives -FLT_MAX."""
    rng = np.random.default_rng(seed)
    special = np.array([np.nan, -np.inf, np.inf, 1.5, 1.5, -2.0], np.float32)
    return samples_for(feeds, "float32", seed, n=2) + [[rng.choice(special, s) for s in feeds]] + \
        [[np.full(s, v, np.float32) for s in feeds] for v in (-np.inf, np.inf, np.nan)]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_reduce_max_min(dtype, tmp_path):
    """No arithmetic: float32 is compared exactly too (NaN where TFLM gives NaN)."""
    cases = [(op, *c) for op in ("REDUCE_MAX", "REDUCE_MIN") for c in MEAN_CASES[::2]]
    model, feeds = models_of(dtype, cases, add_reduce)
    samples = float_samples(feeds, 41) if dtype == "float32" else samples_for(feeds, dtype, seed=41, n=2)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    for k, (sample, got) in enumerate(zip(samples, harness.compile_and_run(path, samples, tmp_path / "b"))):
        for ref, out in zip(run_tflm(model, sample), got):
            np.testing.assert_array_equal(out, ref, err_msg=f"sample {k}")


def test_sum_float(tmp_path):
    model, feeds = models_of("float32", [("SUM", *c) for c in MEAN_CASES[1::2]], add_reduce)
    check(model, samples_for(feeds, "float32", seed=42, n=2), tmp_path)


def test_sum_int8(tmp_path):
    quants = [((0.05, -3), (0.05, -3)), ((0.05, 10), (0.3, -3)), ((1e-3, -128), (0.5, 127)),
              ((2.0, 127), (1e-2, -128)), ((0.03, 0), (0.03 * 7, 0))]
    shapes = [((1, 6, 6, 4), (1, 2), True), ((2, 7, 3), (1,), False), ((2, 3, 4, 5), (3, 1, 2, 0), True)]
    cases = [("SUM", *shapes[k % 3], q, out_q) for k, (q, out_q) in enumerate(quants)]
    cases += [("SUM", *shapes[2], *quants[1]), ("SUM", *shapes[0], *quants[3])]
    cases += [("SUM", *c) for c in MEAN_CASES[::4]]
    model, feeds = models_of("int8", cases, add_reduce)
    check(model, samples_for(feeds, "int8", seed=43, n=2), tmp_path)


def test_reduce_max_int8_requires_same_quantization(tmp_path):
    b = ModelBuilder()
    x, _, y = add_reduce(b, "int8", "", "REDUCE_MAX", (2, 3), (1,), False, out_q=(0.1, -3))
    b.inputs(x)
    b.outputs([y])
    _refused(b.build(), tmp_path, "must share scale and zero point")


def test_sanitized(tmp_path):
    """int8 and float32 in one ASan/UBSan build; int8 also all -128 and all 127."""
    cases = [(op, *MEAN_CASES[i]) for op, i in (("SUM", 1), ("REDUCE_MAX", 13), ("REDUCE_MIN", 11))]
    check_sanitized(*both_dtypes(cases, add_reduce), tmp_path)


def both_dtypes(cases, add):
    """One model of `cases` in int8 and in float32, and its three samples."""
    b = ModelBuilder()
    ins, outs, samples = [], [], [[], [], []]
    for dtype in ("int8", "float32"):
        for k, case in enumerate(cases):
            i, feeds, y = add(b, dtype, f"{dtype}{k}", *case)
            ins, outs = ins + i, outs + [y]
            for j in range(3):
                samples[j] += samples_for(feeds, dtype, 1, n=1)[j] if dtype == "int8" else \
                    samples_for(feeds, dtype, 1 + j, n=1)[0]
    b.inputs(ins)
    b.outputs(outs)
    return b.build(), samples
