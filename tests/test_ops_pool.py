"""AVERAGE_POOL_2D, MAX_POOL_2D and MEAN: microc's C against TFLM, bit-exact for int8, within
FLOAT_RTOL for float32."""
import subprocess

import numpy as np
import pytest
import tflite

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
    names = output_names(model)
    for k, (sample, outs) in enumerate(zip(samples, got)):
        for name, ref, out in zip(names, run_tflm(model, sample), outs):
            assert_matches(out, ref, f"output '{name}', sample {k}")


def output_names(model: bytes) -> list[str]:
    sg = tflite.Model.GetRootAs(model, 0).Subgraphs(0)
    return [sg.Tensors(i).Name().decode() for i in sg.OutputsAsNumpy()]


def assert_matches(out, ref, what):
    """int8 bit-exact; float32 within FLOAT_RTOL of the largest reference magnitude."""
    assert out.shape == ref.shape, what
    if ref.dtype == np.float32:
        tol = FLOAT_RTOL * max(float(np.max(np.abs(ref))), 1e-30)
        np.testing.assert_allclose(out, ref, rtol=0, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(out, ref, err_msg=what)


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
                                        if s.name not in harness.NEEDS_PLATFORM)]
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
            assert_matches(got, ref, f"output '{t['name']}', sample {k}")


def models_of(dtype, cases, add):
    """One model holding every case (each its own inputs and outputs): one build covers them all.
    add(b, dtype, tag, *case) -> (input ids, input shapes, output id or ids)."""
    b = ModelBuilder()
    ins, feeds, outs = [], [], []
    for k, case in enumerate(cases):
        i, f, o = add(b, dtype, str(k), *case)
        ins, feeds, outs = ins + i, feeds + f, outs + (o if isinstance(o, list) else [o])
    b.inputs(ins)
    b.outputs(outs)
    return b.build(), feeds


def out_size(size, k, stride, padding):
    return (size - k) // stride + 1 if padding == "VALID" else -(-size // stride)


def add_pool(b, dtype, tag, op, shape, k, stride, padding, activation, q=(0.05, -3), out_q=None):
    n, h, w, c = shape
    oshape = (n, out_size(h, k[0], stride[0], padding), out_size(w, k[1], stride[1], padding), c)
    qa = dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}
    qo = dict(scale=(out_q or q)[0], zero_point=(out_q or q)[1]) if dtype == "int8" else {}
    x = b.tensor(f"x{tag}", shape, dtype, **qa)
    y = b.tensor(f"y{tag}", oshape, dtype, **qo)
    b.op(op, [x], [y], filter_size=k, stride=stride, padding=padding, activation=activation)
    return [x], [shape], y


POOL_CASES = [  # shape, filter, stride, padding
    ((1, 6, 6, 3), (2, 2), (2, 2), "VALID"),
    ((1, 7, 5, 4), (3, 3), (2, 2), "SAME"),
    ((2, 5, 9, 1), (3, 2), (1, 2), "SAME"),
    ((1, 8, 8, 5), (4, 4), (3, 3), "SAME"),
    ((1, 4, 4, 16), (4, 4), (1, 1), "VALID"),
    ((1, 9, 3, 2), (5, 1), (1, 1), "SAME"),
    ((1, 1, 1, 7), (1, 1), (1, 1), "VALID"),
    ((1, 10, 10, 8), (10, 10), (1, 1), "VALID"),  # global pooling
]


POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_pool(dtype, tmp_path):
    cases = [(op, *c, ACTIVATIONS[k % len(ACTIVATIONS)]) for op in POOLS
             for k, c in enumerate(POOL_CASES)]
    model, feeds = models_of(dtype, cases, add_pool)
    check(model, samples_for(feeds, dtype, seed=1), tmp_path)


def test_pool_int8_activations_and_extreme_quantization(tmp_path):
    cases = [(op, (1, 5, 5, 3), (3, 3), (1, 1), "SAME", act, q) for op in POOLS for act in ACTIVATIONS
             for q in [(0.05, -3), (1e-3, -128), (4.0, 127), (0.0078125, 0)]]
    model, feeds = models_of("int8", cases, add_pool)
    check(model, samples_for(feeds, "int8", seed=7), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_pool_sanitized(dtype, tmp_path):
    cases = [(op, (1, 7, 5, 4), (3, 3), (2, 2), "SAME", "RELU6") for op in POOLS]
    model, feeds = models_of(dtype, cases, add_pool)
    check_sanitized(model, samples_for(feeds, dtype, seed=3), tmp_path)


def test_pool_int8_requires_same_quantization(tmp_path):
    case = ("MAX_POOL_2D", (1, 4, 4, 2), (2, 2), (2, 2), "VALID", "NONE", (0.05, -3), (0.1, 0))
    model, _ = models_of("int8", [case], add_pool)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedOperator, match="share scale and zero point"):
        harness.compile_and_run(path, [], tmp_path)


# ---- MEAN ----

def add_mean(b, dtype, tag, shape, axes, keep_dims, q=(0.05, -3), out_q=(0.02, 5)):
    rank = len(shape)
    red = {a % rank for a in axes}
    oshape = [1 if i in red else d for i, d in enumerate(shape)] if keep_dims else \
        [d for i, d in enumerate(shape) if i not in red]
    qa = dict(scale=q[0], zero_point=q[1]) if dtype == "int8" else {}
    qo = dict(scale=out_q[0], zero_point=out_q[1]) if dtype == "int8" else {}
    x = b.tensor(f"x{tag}", shape, dtype, **qa)
    ax = b.const(f"axis{tag}", list(axes), dtype="int32")
    y = b.tensor(f"y{tag}", oshape, dtype, **qo)
    b.op("MEAN", [x, ax], [y], keep_dims=keep_dims)
    return [x], [shape], y


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
    ((3, 4), (0, 1), False),
    ((2, 3, 4, 5), (0, 1, 2), False),
    ((2, 3, 4, 5), (3, 1, 2, 0), True),
    ((2, 3, 4, 5), (1, -1, 1), False),  # duplicates are ignored
    ((2, 1, 3, 2, 1, 2), (1, 3, 5), True),
    ((2, 3, 2, 2, 3, 2), (0, 2, 4), False),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_mean(dtype, tmp_path):
    model, feeds = models_of(dtype, MEAN_CASES, add_mean)
    check(model, samples_for(feeds, dtype, seed=11), tmp_path)


def test_mean_int8_quantization(tmp_path):
    quants = [((0.05, -3), (0.05, -3)),  # equal quantization still requantizes (rounds) in TFLM
              ((0.05, 10), (0.05, -3)), ((1e-3, -128), (0.5, 127)), ((2.0, 127), (1e-2, -128)),
              ((0.03, 0), (0.03 * 7, 0))]
    cases = [(shape, axes, keep, q, out_q) for q, out_q in quants
             for shape, axes, keep in [((1, 6, 6, 4), (1, 2), True), ((2, 7, 3), (1,), False),
                                       ((1, 40, 40, 2), (1, 2), False)]]
    model, feeds = models_of("int8", cases, add_mean)
    check(model, samples_for(feeds, "int8", seed=12), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_mean_sanitized(dtype, tmp_path):
    model, feeds = models_of(dtype, [((2, 3, 4, 5), (1, 3), False), ((1, 4, 4, 3), (1, 2), True)],
                             add_mean)
    check_sanitized(model, samples_for(feeds, dtype, 1), tmp_path)


@pytest.mark.parametrize("src", ["mc_pool.c", "mc_elementwise.c", "mc_shape.c"])
def test_kernels_cross_compile_for_cortex_m4(src, tmp_path):
    """These kernels (pool here, elementwise and shape beside it) as the M4 boards build them."""
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                    "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                    f"-I{RUNTIME_C / 'include'}", "-c", str(RUNTIME_C / "src" / src),
                    "-o", str(tmp_path / "k.o")], check=True, capture_output=True, text=True)
