"""SOFTMAX, LOGISTIC, TANH, HARD_SWISH against TFLite Micro: int8 bit-exact (the element-wise ones over
all 256 inputs at several scales and zero points), float32 within microc.verify.FLOAT_RTOL."""
from __future__ import annotations

import numpy as np
import pytest

import harness
from microc.errors import UnsupportedOperator
from test_ops_pointwise import (SHAPE, _lower, branch_model, check_against_tflm, float_samples,
                                int8_branches, int8_samples)

IN_QS = [(0.05, -3), (0.02, -128), (0.1, 127), (0.003, 0), (0.25, 5), (1.0, -20), (0.0117, 100),
         (4e-8, 0)]


def test_logistic_int8(tmp_path):
    # TFLM requires output zero point -128 and assumes scale 1/256.
    branches = int8_branches([(q, (1 / 256, -128)) for q in IN_QS])
    check_against_tflm(branch_model("LOGISTIC", branches), int8_samples([SHAPE] * len(IN_QS)), tmp_path)


def test_tanh_int8(tmp_path):
    # TFLM assumes (and does not check) output scale 1/128 and zero point 0; an odd one must agree too.
    outs = [(1 / 128, 0)] * (len(IN_QS) - 1) + [(0.01, 7)]
    branches = int8_branches(list(zip(IN_QS, outs)))
    check_against_tflm(branch_model("TANH", branches), int8_samples([SHAPE] * len(IN_QS)), tmp_path)


def test_hard_swish_int8(tmp_path):
    pairs = [((0.05, -3), (0.03, -10)), ((0.02, -128), (0.02, -128)), ((0.1, 127), (0.1, 127)),
             ((0.003, 0), (0.5, -128)), ((0.25, 5), (0.002, 0)), ((0.0235, -128), (0.0235, -90)),
             ((1.0, 0), (1.0, 127)), ((0.002, 10), (0.00002, 0))]
    branches = int8_branches(pairs)
    check_against_tflm(branch_model("HARD_SWISH", branches), int8_samples([SHAPE] * len(pairs)), tmp_path)


SOFTMAX_OUT = (1 / 256, -128)


def test_softmax_int8(tmp_path):
    cases = [((0.05, -3), (1, 10), 1.0), ((0.1, 127), (4, 7), 1.0), ((0.0235, 0), (2, 3, 12), 2.5),
             ((0.25, -128), (1, 1, 1, 2), 0.3), ((1.0, 5), (3, 1), 1.0), ((0.003, 0), (2, 300), 1.0),
             ((0.0039, -20), (1, 256), 0.7), ((0.8, 0), (5, 6), 10.0)]
    branches = [("int8", q, "int8", SOFTMAX_OUT, s) for q, s, _ in cases]
    model = branch_model("SOFTMAX", branches, [{"beta": beta} for _, _, beta in cases])
    samples = int8_samples([s for _, s, _ in cases])
    rng = np.random.default_rng(5)
    # narrow ranges: many elements near the row maximum, the sum of exps large
    samples.append([rng.integers(100, 128, s, dtype=np.int8) for _, s, _ in cases])
    check_against_tflm(model, samples, tmp_path)


def test_softmax_int8_long_flat_rows(tmp_path):
    """Rows of up to 511 equal values: the exp sum fills Q12.19 up to just below 2^28, the largest sum
    TFLM runs (its RoundingDivideByPOT asserts the final shift stays <= 31, and aborts beyond)."""
    shapes = [(1, 511), (2, 300), (1, 257)]
    branches = [("int8", (0.05, 0), "int8", SOFTMAX_OUT, s) for s in shapes]
    rng = np.random.default_rng(7)
    samples = [[np.full(s, 3, np.int8) for s in shapes],
               [rng.integers(126, 128, s, dtype=np.int8) for s in shapes]]
    check_against_tflm(branch_model("SOFTMAX", branches), samples, tmp_path)


def test_softmax_int8_rows_tflm_cannot_run(tmp_path):
    """Exp sums >= 2^28 (>= 512 elements at the row maximum) abort TFLM; microc gives the exact result:
    every share below 1/512 is 0 on the 1/256 output scale, i.e. -128."""
    path = tmp_path / "model.tflite"
    path.write_bytes(branch_model("SOFTMAX", [("int8", (0.05, 0), "int8", SOFTMAX_OUT, (2, 2000))]))
    flat = np.full((2, 2000), 3, np.int8)
    one_high = flat.copy()
    one_high[:, 17] = 127  # e^(124 * 0.05) = 493: the peak keeps 493 / (493 + 1999) of 256
    (out_flat,), (out_peak,) = harness.compile_and_run(path, [[flat], [one_high]], tmp_path)
    assert np.all(out_flat == -128)
    assert np.all(np.delete(out_peak, 17, axis=1) == -128)
    assert np.all(out_peak[:, 17] == round(256 * np.exp(6.2) / (np.exp(6.2) + 1999)) - 128)


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH", "HARD_SWISH"])
def test_float_elementwise(op, tmp_path):
    shapes = [(1, 5, 5, 3), (7,), (2, 33)]
    branches = [("float32", None, "float32", None, s) for s in shapes]
    check_against_tflm(branch_model(op, branches), float_samples(shapes, spread=6.0), tmp_path)


def test_softmax_float(tmp_path):
    shapes, betas = [(1, 10), (3, 7), (2, 2, 5), (1, 1)], [1.0, 0.5, 3.0, 1.0]
    branches = [("float32", None, "float32", None, s) for s in shapes]
    model = branch_model("SOFTMAX", branches, [{"beta": b} for b in betas])
    check_against_tflm(model, float_samples(shapes, spread=5.0), tmp_path)


def test_activations_sanitized(tmp_path):
    shapes = [(3, 11), (1, 2, 2, 5)]
    branches = [("int8", (0.1, 3), "int8", SOFTMAX_OUT, s) for s in shapes]
    check_against_tflm(branch_model("SOFTMAX", branches), int8_samples(shapes), tmp_path, sanitize=True)


def test_refusals(tmp_path):
    bad_softmax = branch_model("SOFTMAX", [("int8", (0.1, 0), "int8", (1 / 256, 0), (1, 4))])
    with pytest.raises(UnsupportedOperator, match="scale 1/256 and zero point -128"):
        _lower(bad_softmax, tmp_path)
    bad_logistic = branch_model("LOGISTIC", [("int8", (0.1, 0), "int8", (1 / 256, 0), (1, 4))])
    with pytest.raises(UnsupportedOperator, match="zero point must be -128"):
        _lower(bad_logistic, tmp_path)
    bad_hard_swish = branch_model("HARD_SWISH", [("int8", (1.0, 0), "int8", (1e-4, 0), (1, 4))])
    with pytest.raises(UnsupportedOperator, match="output scale must be at least"):
        _lower(bad_hard_swish, tmp_path)
    to_int16 = branch_model("TANH", [("int8", (0.1, 0), "int16", (1 / 32768, 0), (1, 4))])
    with pytest.raises(UnsupportedOperator, match="int8 -> int16 is not supported"):
        _lower(to_int16, tmp_path)
