"""SOFTMAX, LOGISTIC, TANH, HARD_SWISH against TFLite Micro: int8 bit-exact (the element-wise ones over
all 256 inputs at several scales and zero points), float32 within microc.verify.FLOAT_RTOL."""
from __future__ import annotations

import numpy as np
import pytest

import harness
from microc.errors import UnsupportedOperator
from test_ops_pointwise import (Branch, _lower, branch_model, check_against_tflm, float_branch,
                                float_samples, int8_branch, int8_samples)

IN_QS = [(0.05, -3), (0.02, -128), (0.1, 127), (0.003, 0), (0.25, 5), (1.0, -20), (0.0117, 100),
         (4e-8, 0)]
HARD_SWISH_PAIRS = [((0.05, -3), (0.03, -10)), ((0.02, -128), (0.02, -128)), ((0.1, 127), (0.1, 127)),
                    ((0.003, 0), (0.5, -128)), ((0.25, 5), (0.002, 0)), ((0.0235, -128), (0.0235, -90)),
                    ((1.0, 0), (1.0, 127)), ((0.002, 10), (0.00002, 0)), ((1e-4, 0), (1.0, -5)),
                    ((0.2, -7), (2e-3, 3))]
SOFTMAX_OUT = (1 / 256, -128)


def test_int8_elementwise_activations(tmp_path):
    """LOGISTIC (TFLM requires output zero point -128, assumes scale 1/256), TANH (TFLM assumes, without
    checking, output scale 1/128 and zero point 0; an odd one must agree too), HARD_SWISH."""
    branches = [int8_branch("LOGISTIC", q, SOFTMAX_OUT) for q in IN_QS]
    branches += [int8_branch("TANH", q, (1 / 128, 0)) for q in IN_QS]
    branches.append(int8_branch("TANH", (0.1, 3), (0.01, 7)))
    branches += [int8_branch("HARD_SWISH", a, b) for a, b in HARD_SWISH_PAIRS]
    check_against_tflm(branches, int8_samples([br.shape for br in branches]), tmp_path)


def test_softmax_int8(tmp_path):
    cases = [((0.05, -3), (1, 10), 1.0), ((0.1, 127), (4, 7), 1.0), ((0.0235, 0), (2, 3, 12), 2.5),
             ((0.25, -128), (1, 1, 1, 2), 0.3), ((1.0, 5), (3, 1), 1.0), ((0.003, 0), (2, 300), 1.0),
             ((0.0039, -20), (1, 256), 0.7), ((0.8, 0), (5, 6), 10.0)]
    branches = [int8_branch("SOFTMAX", q, SOFTMAX_OUT, s, beta=beta) for q, s, beta in cases]
    samples = int8_samples([br.shape for br in branches])
    rng = np.random.default_rng(5)
    # narrow ranges: many elements near the row maximum, the sum of exps large
    samples.append([rng.integers(100, 128, br.shape, dtype=np.int8) for br in branches])
    check_against_tflm(branches, samples, tmp_path)


def test_softmax_int8_to_int16(tmp_path):
    """int8 input, int16 output (scale 1/65536, zero point -32768: the keyword models' last layer)."""
    cases = [((0.05, -3), (1, 10), 1.0), ((0.0700, 2), (1, 2), 1.0), ((0.0235, 0), (2, 3, 12), 2.5),
             ((0.003, 0), (2, 300), 1.0)]
    branches = [Branch("SOFTMAX", "int8", q, "int16", (1 / 65536, -32768), s, {"beta": beta})
                for q, s, beta in cases]
    check_against_tflm(branches, int8_samples([br.shape for br in branches]), tmp_path)


def test_softmax_int8_long_flat_rows(tmp_path):
    """Rows of up to 511 equal values: the exp sum fills Q12.19 up to just below 2^28, the largest sum
    TFLM runs (its RoundingDivideByPOT asserts the final shift stays <= 31, and aborts beyond)."""
    branches = [int8_branch("SOFTMAX", (0.05, 0), SOFTMAX_OUT, s) for s in [(1, 511), (2, 300), (1, 257)]]
    rng = np.random.default_rng(7)
    samples = [[np.full(br.shape, 3, np.int8) for br in branches],
               [rng.integers(126, 128, br.shape, dtype=np.int8) for br in branches]]
    check_against_tflm(branches, samples, tmp_path)


def test_softmax_int8_rows_tflm_cannot_run(tmp_path):
    """Exp sums >= 2^28 (>= 512 elements at the row maximum) abort TFLM; microc gives the exact result:
    every share below 1/512 is 0 on the 1/256 output scale, i.e. -128."""
    path = tmp_path / "model.tflite"
    path.write_bytes(branch_model([int8_branch("SOFTMAX", (0.05, 0), SOFTMAX_OUT, (2, 2000))]))
    flat = np.full((2, 2000), 3, np.int8)
    one_high = flat.copy()
    one_high[:, 17] = 127  # e^(124 * 0.05) = 493: the peak keeps 493 / (493 + 1999) of 256
    (out_flat,), (out_peak,) = harness.compile_and_run(path, [[flat], [one_high]], tmp_path)
    assert np.all(out_flat == -128)
    assert np.all(np.delete(out_peak, 17, axis=1) == -128)
    assert np.all(out_peak[:, 17] == round(256 * np.exp(6.2) / (np.exp(6.2) + 1999)) - 128)


def test_float_activations(tmp_path):
    shapes = [(1, 5, 5, 3), (7,), (2, 33)]
    branches = [float_branch(op, s) for op in ("LOGISTIC", "TANH", "HARD_SWISH") for s in shapes]
    branches += [float_branch("SOFTMAX", s, beta=b) for s, b in [((1, 10), 1.0), ((3, 7), 0.5),
                                                                 ((2, 2, 5), 3.0), ((1, 1), 1.0)]]
    check_against_tflm(branches, float_samples([br.shape for br in branches], spread=6.0), tmp_path)


def test_activations_sanitized(tmp_path):
    branches = [int8_branch("SOFTMAX", (0.1, 3), SOFTMAX_OUT, s) for s in [(3, 11), (1, 2, 2, 5)]]
    branches += [int8_branch("HARD_SWISH", (0.1, 3), (0.05, 0), (3, 5)), float_branch("SOFTMAX", (2, 9))]
    int8 = int8_samples([br.shape for br in branches[:3]])
    samples = [i + f for i, f in zip(int8, float_samples([(2, 9)]))]  # three samples
    check_against_tflm(branches, samples, tmp_path, sanitize=True)


@pytest.mark.parametrize("branch,why", [
    (int8_branch("SOFTMAX", (0.1, 0), (1 / 256, 0), (1, 4)), "scale 1/256 and zero point -128"),
    (int8_branch("SOFTMAX", (1e-9, 0), SOFTMAX_OUT, (1, 4)), "too small for TFLM's int8 kernel"),
    (int8_branch("SOFTMAX", (0.1, 0), SOFTMAX_OUT, (1, 8192)), "over 8192 elements"),
    (int8_branch("LOGISTIC", (0.1, 0), (1 / 256, 0), (1, 4)), "zero point must be -128"),
    (int8_branch("HARD_SWISH", (1.0, 0), (1e-4, 0), (1, 4)), "output scale must be at least"),
    (Branch("TANH", "int8", (0.1, 0), "int16", (1 / 32768, 0), (1, 4)), "int8 -> int16 is not supported"),
])
def test_refusals(branch, why, tmp_path):
    with pytest.raises(UnsupportedOperator, match=why):
        _lower(branch_model([branch]), tmp_path)
