"""RELU, RELU6, LEAKY_RELU, QUANTIZE, DEQUANTIZE against TFLite Micro: int8 bit-exact over all 256 inputs
at several scales and zero points, float32 within microc.verify.FLOAT_RTOL.

Each test builds one model holding several independent branches (one operator each, its own input and
output quantization), so one C build covers many configurations."""
from __future__ import annotations

import subprocess
from typing import NamedTuple

import numpy as np
import pytest

import harness
from microc import RUNTIME_C
from microc.errors import ModelFormatError, UnsupportedOperator
from microc.frontends import load_model
from microc.codegen.generate import generate
from microc.verify import FLOAT_RTOL
from tflite_builder import ModelBuilder, run_tflm

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
SHAPE = (1, 4, 8, 8)  # 256 elements: every int8 value once


class Branch(NamedTuple):
    """One operator of a test model with its own input and output; q = (scale, zero_point) or None."""
    op: str
    in_dtype: str
    in_q: tuple | None
    out_dtype: str
    out_q: tuple | None
    shape: tuple
    options: dict = {}


def int8_branch(op, in_q, out_q, shape=SHAPE, **options) -> Branch:
    return Branch(op, "int8", in_q, "int8", out_q, shape, options)


def float_branch(op, shape, **options) -> Branch:
    return Branch(op, "float32", None, "float32", None, shape, options)


def branch_model(branches: list[Branch]) -> bytes:
    """One model of independent single-operator branches, so one C build covers many cases."""
    b = ModelBuilder()
    ins, outs = [], []
    for i, br in enumerate(branches):
        x = b.tensor(f"x{i}", br.shape, br.in_dtype, *(br.in_q or (None, None)))
        y = b.tensor(f"y{i}", br.shape, br.out_dtype, *(br.out_q or (None, None)))
        b.op(br.op, [x], [y], **br.options)
        ins.append(x)
        outs.append(y)
    b.inputs(ins)
    b.outputs(outs)
    return b.build()


def int8_samples(shapes, seed=0):
    """All 256 values (permuted so every position sees several), random, all -128, all 127."""
    rng = np.random.default_rng(seed)
    samples = []
    for make in (lambda s: np.resize(ALL_INT8, s), lambda s: np.resize(rng.permutation(ALL_INT8), s),
                 lambda s: rng.integers(-128, 128, s, dtype=np.int8),
                 lambda s: np.full(s, -128, np.int8), lambda s: np.full(s, 127, np.int8)):
        samples.append([make(s).astype(np.int8) for s in shapes])
    return samples


def float_samples(shapes, spread=8.0, seed=0):
    rng = np.random.default_rng(seed)
    edge = np.array([0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 6.0, -6.0, 100.0, -100.0, 1e6, -1e6], np.float32)
    samples = []
    for k in range(3):
        sample = []
        for s in shapes:
            x = (rng.standard_normal(s) * spread).astype(np.float32)
            if k == 0:
                flat = x.reshape(-1)
                flat[:edge.size] = edge[:flat.size]
            sample.append(x)
        samples.append(sample)
    return samples


def check_against_tflm(branches: list[Branch], samples, tmp_path, sanitize=False, exact_float=False,
                       reference: bytes | None = None):
    """Run every sample through microc's C and TFLM (on `reference`, an equivalent model, where TFLM
    lacks the operator); int8 outputs equal, float within tolerance."""
    model = branch_model(branches)
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    got = harness.compile_and_run_sanitized(path, samples, tmp_path) if sanitize else \
        harness.compile_and_run(path, samples, tmp_path)
    for sample, outs in zip(samples, got):
        want = run_tflm(reference or model, sample)
        for i, (g, w) in enumerate(zip(outs, want)):
            where = f"output {i} ({branches[i].op}, {branches[i].in_q} -> {branches[i].out_q})"
            assert g.shape == w.shape and g.dtype == w.dtype, where
            if w.dtype == np.float32 and not exact_float:
                np.testing.assert_allclose(g, w, rtol=0, atol=FLOAT_RTOL * max(np.abs(w).max(), 1e-30),
                                           err_msg=where)
            else:
                mismatch = np.flatnonzero(g.reshape(-1) != w.reshape(-1))
                assert mismatch.size == 0, (f"{where}: {mismatch.size} mismatches, first at input "
                                            f"{sample[i].reshape(-1)[mismatch[0]]}: "
                                            f"{g.reshape(-1)[mismatch[0]]} != {w.reshape(-1)[mismatch[0]]}")
    return got


# (input q, output q) pairs: extreme zero points, scales far apart in both directions
REQUANT_PAIRS = [((0.05, -3), (0.05, -3)), ((0.05, -3), (0.02, -128)), ((0.1, 127), (0.003, -100)),
                 ((0.003, -128), (0.5, 10)), ((1.7, 5), (0.0123, 127)), ((2e-4, 0), (1e-6, -128)),
                 ((0.25, -128), (0.25, 127))]
# RELU6 clamps raw values on the input scale: TFLM assumes the output quantization equals the input's.
RELU6_QS = [(0.05, -3), (0.02, -128), (0.1, 127), (0.003, 0), (1.7, 5), (1e-12, -128), (0.0235, -128)]
LEAKY_ALPHAS = [0.2, 0.01, 0.5, 1.7, -0.3, 0.0, 1.0]


def test_int8_pointwise_ops(tmp_path):
    """RELU, QUANTIZE (int8 -> int8), RELU6, LEAKY_RELU: every int8 input, each configuration."""
    branches = [int8_branch(op, a, b) for op in ("RELU", "QUANTIZE") for a, b in REQUANT_PAIRS]
    branches += [int8_branch("RELU6", q, q) for q in RELU6_QS]
    branches += [int8_branch("LEAKY_RELU", a, b, alpha=alpha)
                 for (a, b), alpha in zip(REQUANT_PAIRS, LEAKY_ALPHAS)]
    check_against_tflm(branches, int8_samples([br.shape for br in branches]), tmp_path)


def relu_n1_to_1_in_tflm(branches: list[Branch]) -> bytes:
    """RELU_N1_TO_1 as TFLM can run it (it has no kernel for it): an int8 QUANTIZE to the output's
    parameters (TFLite's ReluN1To1 requantizes the same way, in double), then a 1x1 MAX_POOL_2D with
    RELU_N1_TO_1 fused, which clamps to zp + round(float32 +-1 / scale) as TFLite's kernel does."""
    b = ModelBuilder()
    ins, outs = [], []
    for i, br in enumerate(branches):
        x = b.tensor(f"x{i}", br.shape, br.in_dtype, *(br.in_q or (None, None)))
        y = b.tensor(f"y{i}", br.shape, br.out_dtype, *(br.out_q or (None, None)))
        src = x
        if br.in_dtype == "int8":
            src = b.tensor(f"r{i}", br.shape, "int8", *br.out_q)
            b.op("QUANTIZE", [x], [src])
        b.op("MAX_POOL_2D", [src], [y], filter_size=(1, 1), stride=(1, 1), padding="VALID",
             activation="RELU_N1_TO_1")
        ins.append(x)
        outs.append(y)
    b.inputs(ins)
    b.outputs(outs)
    return b.build()


# 1 / f32(0.4) is 2.4999999627 in double but exactly 2.5 in float32: the bound rounds to 3, as in TFLite.
RELU_N1_TO_1_PAIRS = REQUANT_PAIRS + [((0.4, 0), (0.4, 0)), ((0.05, 10), (0.4, -1)),
                                      ((0.0078125, 0), (0.0078125, 0)), ((0.02, -128), (0.01, 127))]


def test_int8_relu_n1_to_1(tmp_path):
    branches = [int8_branch("RELU_N1_TO_1", a, b) for a, b in RELU_N1_TO_1_PAIRS]
    samples = int8_samples([br.shape for br in branches])
    got = check_against_tflm(branches, samples, tmp_path, reference=relu_n1_to_1_in_tflm(branches))
    # the clamp happens: with scale 0.4 and zero point 0, +-1 quantize to +-3 (halves away from zero)
    point_four = len(REQUANT_PAIRS)
    np.testing.assert_array_equal(got[0][point_four].reshape(-1),
                                  np.clip(samples[0][point_four].reshape(-1), -3, 3))


def test_float_relu_n1_to_1(tmp_path):
    # 4-D shapes: the reference runs them through a pool
    branches = [float_branch("RELU_N1_TO_1", s) for s in [(1, 5, 5, 3), (1, 1, 7, 1), (2, 3, 11, 1)]]
    samples = float_samples([br.shape for br in branches], spread=2.0)
    check_against_tflm(branches, samples, tmp_path, exact_float=True,
                       reference=relu_n1_to_1_in_tflm(branches))


def test_dequantize_int8(tmp_path):
    """Exact: the table holds TFLM's own double-precision products."""
    qs = [(0.05, -3), (0.02, -128), (0.1, 127), (3.3e-5, 0), (17.5, 5)]
    branches = [Branch("DEQUANTIZE", "int8", q, "float32", None, SHAPE) for q in qs]
    check_against_tflm(branches, int8_samples([SHAPE] * len(qs)), tmp_path, exact_float=True)


def test_quantize_float_to_int8(tmp_path):
    qs = [(0.05, -3), (0.02, -128), (0.1, 127), (3.3e-3, 0), (0.0078125, 0)]
    shapes = [(1, 7, 5), (3, 17), (64,), (2, 2, 2, 9), (1, 1, 1, 1)]
    branches = [Branch("QUANTIZE", "float32", None, "int8", q, s) for q, s in zip(qs, shapes)]
    rng = np.random.default_rng(1)
    samples = float_samples(shapes, spread=4.0)
    # values exactly halfway between two quantization steps: rounding must go away from zero
    samples.append([((rng.integers(-300, 300, s) + 0.5) * np.float32(q[0])).astype(np.float32)
                    for q, s in zip(qs, shapes)])
    check_against_tflm(branches, samples, tmp_path)


def test_float_pointwise_ops(tmp_path):
    ops = [("RELU", {}), ("RELU6", {}), ("LEAKY_RELU", {"alpha": 0.1}), ("LEAKY_RELU", {"alpha": -1.5})]
    branches = [float_branch(op, s, **o) for op, o in ops for s in [(1, 5, 5, 3), (7,), (2, 33)]]
    check_against_tflm(branches, float_samples([br.shape for br in branches]), tmp_path)


def test_int8_ops_sanitized(tmp_path):
    """Odd sizes under ASan/UBSan: the table index and loop bounds stay in range."""
    branches = [int8_branch("QUANTIZE", a, b, (3, 1, 7, 13)) for a, b in REQUANT_PAIRS[1:3]]
    branches.append(Branch("DEQUANTIZE", "int8", (0.1, 3), "float32", None, (5, 3)))
    check_against_tflm(branches, int8_samples([br.shape for br in branches]), tmp_path, sanitize=True)


def _lower(model: bytes, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    return generate(load_model(path), "m")


def test_refusals(tmp_path):
    per_channel = ModelBuilder()
    x = per_channel.tensor("x", (1, 4), "float32")
    y = per_channel.tensor("y", (1, 4), "int8", scale=[0.1, 0.2, 0.3, 0.4], zero_point=0, axis=1)
    per_channel.op("QUANTIZE", [x], [y])
    per_channel.inputs([x]); per_channel.outputs([y])
    with pytest.raises(ModelFormatError, match="activation quantized per channel"):  # the validation pass
        _lower(per_channel.build(), tmp_path)
    to_int32 = branch_model([Branch("QUANTIZE", "float32", None, "int32", (0.1, 0), (4,))])
    with pytest.raises(UnsupportedOperator, match="float32 -> int32 is not supported"):
        _lower(to_int32, tmp_path)
    from_uint8 = branch_model([Branch("DEQUANTIZE", "uint8", (0.1, 0), "float32", None, (4,))])
    with pytest.raises(UnsupportedOperator, match="uint8 -> float32 is not supported"):
        _lower(from_uint8, tmp_path)


def test_kernels_compile_for_cortex_m4():
    for src in ("mc_pointwise.c", "mc_activation.c"):
        subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
                        "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                        f"-I{RUNTIME_C / 'include'}", "-c", str(RUNTIME_C / "src" / src), "-o", "/dev/null"],
                       check=True)
