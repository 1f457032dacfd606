"""AVERAGE_POOL_2D, MAX_POOL_2D and MEAN: microc's C against TFLM, bit-exact for int8, within
FLOAT_RTOL for float32."""
import subprocess

import numpy as np
import pytest

import harness
from microc import RUNTIME_C
from microc.codegen.generate import generate
from microc.errors import UnsupportedOperator
from microc.frontends import load_model
from microc.verify import FLOAT_RTOL
from tflite_builder import ModelBuilder, run_tflm

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def samples_for(shapes, dtype, seed, n=3):
    """n random samples from a fixed seed; int8 also gets all -128 and all 127."""
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return [[rng.normal(0, 2, s).astype(np.float32) for s in shapes] for _ in range(n)]
    out = [[rng.integers(-128, 128, s, dtype=np.int8) for s in shapes] for _ in range(n)]
    return out + [[np.full(s, v, np.int8) for s in shapes] for v in (-128, 127)]


def check(model: bytes, samples, tmp_path, extra_flags=()):
    """Run every sample on TFLM and on microc's generated C; compare."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    got = harness.compile_and_run(path, samples, tmp_path / "build", extra_flags)
    for sample, outs in zip(samples, got):
        for ref, out in zip(run_tflm(model, sample), outs):
            assert out.shape == ref.shape
            if ref.dtype == np.float32:
                tol = FLOAT_RTOL * max(float(np.max(np.abs(ref))), 1e-30)
                np.testing.assert_allclose(out, ref, rtol=0, atol=tol)
            else:
                np.testing.assert_array_equal(out, ref)


_DRIVER = """#include <stdio.h>
#include "m.h"
static unsigned char in_buf[%(n_in)d][%(in_max)d], out_buf[%(n_out)d][%(out_max)d];
static const long in_bytes[] = {%(in_bytes)s}, out_bytes[] = {%(out_bytes)s};
int main(int argc, char **argv) {
  const void *ins[%(n_in)d]; void *outs[%(n_out)d]; int i; FILE *f;
  (void)argc;
  for (i = 0; i < %(n_in)d; ++i) {
    f = fopen(argv[1 + i], "rb");
    if (!f || fread(in_buf[i], 1, in_bytes[i], f) != (size_t)in_bytes[i]) return 2;
    fclose(f); ins[i] = in_buf[i];
  }
  for (i = 0; i < %(n_out)d; ++i) outs[i] = out_buf[i];
  if (m_run(ins, outs) != 0) return 3;
  for (i = 0; i < %(n_out)d; ++i) fwrite(out_buf[i], 1, out_bytes[i], stdout);
  return 0;
}
"""


def check_sanitized(model: bytes, samples, tmp_path):
    """As check(), but the generated C runs as an ASan/UBSan executable (a sanitized library
    cannot be loaded into an unsanitized Python)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    gen = generate(load_model(path), "m")
    for name, text in gen.files.items():
        (tmp_path / name).write_text(text)
    ins, outs = gen.metadata["inputs"], gen.metadata["outputs"]
    (tmp_path / "driver.c").write_text(_DRIVER % dict(
        n_in=len(ins), n_out=len(outs), in_max=max(t["bytes"] for t in ins),
        out_max=max(t["bytes"] for t in outs), in_bytes=", ".join(str(t["bytes"]) for t in ins),
        out_bytes=", ".join(str(t["bytes"]) for t in outs)))
    sources = [*tmp_path.glob("*.c"), *(s for s in (RUNTIME_C / "src").glob("mc_*.c")
                                        if s.name != "mc_runner.c")]
    exe = tmp_path / "run"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", *harness.SANITIZE,
                    f"-I{tmp_path}", f"-I{RUNTIME_C / 'include'}", *map(str, sources), "-o", str(exe),
                    "-lm"], check=True, capture_output=True, text=True)
    for k, sample in enumerate(samples):
        files = []
        for i, x in enumerate(sample):
            files.append(tmp_path / f"in{k}_{i}.bin")
            files[-1].write_bytes(np.ascontiguousarray(x).tobytes())
        res = subprocess.run([str(exe), *map(str, files)], capture_output=True, timeout=60)
        assert res.returncode == 0 and b"runtime error" not in res.stderr, res.stderr[-2000:]
        raw, off = res.stdout, 0
        for ref, t in zip(run_tflm(model, sample), outs):
            got = np.frombuffer(raw[off:off + t["bytes"]], t["dtype"]).reshape(t["shape"])
            off += t["bytes"]
            if ref.dtype == np.float32:
                np.testing.assert_allclose(got, ref, rtol=0,
                                           atol=FLOAT_RTOL * max(float(np.max(np.abs(ref))), 1e-30))
            else:
                np.testing.assert_array_equal(got, ref)


def out_size(size, k, stride, padding):
    return (size - k) // stride + 1 if padding == "VALID" else -(-size // stride)


def pool_model(op, dtype, shape, k, stride, padding, activation, q=(0.05, -3), out_q=None):
    b = ModelBuilder()
    n, h, w, c = shape
    oshape = (n, out_size(h, k[0], stride[0], padding), out_size(w, k[1], stride[1], padding), c)
    qa = dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}
    qo = dict(scale=(out_q or q)[0], zero_point=(out_q or q)[1]) if dtype == "int8" else {}
    x = b.tensor("x", shape, dtype, **qa)
    y = b.tensor("y", oshape, dtype, **qo)
    b.op(op, [x], [y], filter_size=k, stride=stride, padding=padding, activation=activation)
    b.inputs([x])
    b.outputs([y])
    return b.build()


POOL_CASES = [  # shape, filter, stride, padding
    ((1, 6, 6, 3), (2, 2), (2, 2), "VALID"),
    ((1, 7, 5, 4), (3, 3), (2, 2), "SAME"),
    ((2, 5, 9, 1), (3, 2), (1, 2), "SAME"),
    ((1, 8, 8, 5), (4, 4), (3, 3), "SAME"),
    ((1, 4, 4, 16), (4, 4), (1, 1), "VALID"),
    ((1, 9, 3, 2), (5, 1), (1, 1), "SAME"),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pool(op, dtype, case, tmp_path):
    shape, k, stride, padding = POOL_CASES[case]
    act = ACTIVATIONS[case % len(ACTIVATIONS)]
    model = pool_model(op, dtype, shape, k, stride, padding, act)
    check(model, samples_for([shape], dtype, seed=case), tmp_path)


@pytest.mark.parametrize("q", [(0.05, -3), (1e-3, -128), (4.0, 127), (0.0078125, 0)])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_avg_pool_int8_activations_and_extreme_quantization(act, q, tmp_path):
    model = pool_model("AVERAGE_POOL_2D", "int8", (1, 5, 5, 3), (3, 3), (1, 1), "SAME", act, q=q)
    check(model, samples_for([(1, 5, 5, 3)], "int8", seed=7), tmp_path)


def test_pool_sanitized(tmp_path):
    for i, op in enumerate(["AVERAGE_POOL_2D", "MAX_POOL_2D"]):
        model = pool_model(op, "int8", (1, 7, 5, 4), (3, 3), (2, 2), "SAME", "RELU6")
        check_sanitized(model, samples_for([(1, 7, 5, 4)], "int8", seed=3), tmp_path / op)


def test_pool_int8_requires_same_quantization(tmp_path):
    model = pool_model("MAX_POOL_2D", "int8", (1, 4, 4, 2), (2, 2), (2, 2), "VALID", "NONE",
                       out_q=(0.1, 0))
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedOperator, match="share scale and zero point"):
        harness.compile_and_run(path, [], tmp_path)


# ---- MEAN ----

def mean_model(dtype, shape, axes, keep_dims, q=(0.05, -3), out_q=(0.02, 5)):
    b = ModelBuilder()
    rank = len(shape)
    red = {a % rank for a in axes}
    oshape = [1 if i in red else d for i, d in enumerate(shape)] if keep_dims else \
        [d for i, d in enumerate(shape) if i not in red]
    qa = dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}
    qo = dict(scale=out_q[0], zero_point=out_q[1]) if dtype == "int8" else {}
    x = b.tensor("x", shape, dtype, **qa)
    ax = b.const("axis", list(axes), dtype="int32")
    y = b.tensor("y", oshape, dtype, **qo)
    b.op("MEAN", [x, ax], [y], keep_dims=keep_dims)
    b.inputs([x])
    b.outputs([y])
    return b.build()


MEAN_CASES = [  # shape, axes, keep_dims
    ((1, 5, 7, 3), (1, 2), True),   # TFLM's special 4-D H,W case (float)
    ((2, 4, 6, 8), (2, 1), False),
    ((1, 5, 7, 3), (-1,), True),
    ((3, 4, 5), (0, 2), False),
    ((2, 6), (1,), False),
    ((2, 3, 4, 5), (0,), True),
    ((4, 1, 9), (2, 1), True),
    ((1, 10, 10, 16), (1, 2), True),
    ((2, 3, 2, 3, 2), (1, 3), False),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("case", range(len(MEAN_CASES)))
def test_mean(dtype, case, tmp_path):
    shape, axes, keep = MEAN_CASES[case]
    check(mean_model(dtype, shape, axes, keep), samples_for([shape], dtype, seed=case), tmp_path)


@pytest.mark.parametrize("q,out_q", [
    ((0.05, -3), (0.05, -3)),        # same quantization: TFLM sums raw values, truncating division
    ((0.05, 10), (0.05, -3)),
    ((1e-3, -128), (0.5, 127)),
    ((2.0, 127), (1e-2, -128)),
    ((0.03, 0), (0.03 * 7, 0)),
])
def test_mean_int8_quantization(q, out_q, tmp_path):
    for i, (shape, axes, keep) in enumerate([((1, 6, 6, 4), (1, 2), True), ((2, 7, 3), (1,), False)]):
        check(mean_model("int8", shape, axes, keep, q, out_q), samples_for([shape], "int8", seed=i),
              tmp_path / str(i))


def test_mean_sanitized(tmp_path):
    for dtype in ("int8", "float32"):
        check_sanitized(mean_model(dtype, (2, 3, 4, 5), (1, 3), False),
                        samples_for([(2, 3, 4, 5)], dtype, 1), tmp_path / dtype)
