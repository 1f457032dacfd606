"""The operators added for issue 12 (GATHER, RESIZE_*, SUM, REDUCE_MAX, ARG_MAX/ARG_MIN, RSQRT, CAST,
BATCH_MATMUL, EXP) in one model on QEMU's Cortex-M4F (mps2-an386), every output verified against TFLM by
`microc deploy --verify`: the kernels as the M4 build compiles and runs them (one QEMU run for them all);
the int16 operators of test_ops_int16.ops16_model the same way (one more run), and the 16x8 kernels with
int16 weights (their DSP path, SMLAD; one more run)."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tflite_builder import ModelBuilder

Q, Q_SUM, Q_RSQRT = dict(scale=0.05, zero_point=-128), dict(scale=0.5, zero_point=-10), dict(scale=0.1, zero_point=-100)


def _model() -> bytes:
    b = ModelBuilder()
    x = b.tensor("x", (1, 6, 6, 4), "int8", **Q)
    f = b.tensor("f", (2, 5), "float32")
    outs = []

    def out(name, shape, dtype="int8", **q):
        outs.append(b.tensor(name, shape, dtype, **q))
        return outs[-1]

    def const(name, values):
        return b.const(name, np.array(values, np.int32))
    b.op("GATHER", [x, const("coords", [3, 0, 2])], [out("gather", (1, 6, 3, 4), **Q)], axis=2)
    b.op("RESIZE_BILINEAR", [x, const("s1", [9, 5])], [out("bilinear", (1, 9, 5, 4), **Q)], half_pixel_centers=True)
    b.op("RESIZE_NEAREST_NEIGHBOR", [x, const("s2", [3, 8])], [out("nearest", (1, 3, 8, 4), **Q)], align_corners=True)
    b.op("SUM", [x, const("a1", [1, 2])], [out("sum", (1, 1, 1, 4), **Q_SUM)], keep_dims=True)
    b.op("REDUCE_MAX", [x, const("a2", [3])], [out("max", (1, 6, 6), **Q)])
    b.op("ARG_MAX", [x, const("a3", [3])], [out("argmax", (1, 6, 6), "int32")])
    b.op("RSQRT", [x], [out("rsqrt", (1, 6, 6, 4), **Q_RSQRT)])
    w = b.const("w", np.random.default_rng(81).integers(-127, 128, (4, 5)).astype(np.int8), scale=0.02, zero_point=0)
    b.op("BATCH_MATMUL", [x, w], [out("matmul", (1, 6, 6, 5), scale=0.08, zero_point=3)])
    b.op("CAST", [x], [out("cast", (1, 6, 6, 4), "float32")], in_type="int8", out_type="float32")
    b.op("EXP", [f], [out("exp", (2, 5), "float32")])
    b.op("ARG_MIN", [f, const("a4", [1])], [out("argmin", (2,), "int32")])
    b.inputs([x, f])
    b.outputs(outs)
    return b.build()


ON_M4 = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                           reason="qemu-system-arm and arm-none-eabi-gcc are needed for the Cortex-M4 run")


def _verify_on_m4(model: bytes, tmp_path) -> dict:
    path = tmp_path / "ops.tflite"
    path.write_bytes(model)
    res = subprocess.run([sys.executable, "-m", "microc", "deploy", str(path), "--board", "mps2-an386",
                          "-n", "3", "--verify", "--json", "-o", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


@ON_M4
def test_new_operators_verify_on_cortex_m4(tmp_path):
    report = _verify_on_m4(_model(), tmp_path)
    # every element of the 11 outputs (904 per sample) of 3 samples; int8 exact, float32 within tolerance
    assert report["match"] and report["outputs_checked"] == 3 * 904, report


@ON_M4
def test_int16_operators_verify_on_cortex_m4(tmp_path):
    """The int16 operators of test_ops_int16.ops16_model (copies, comparisons, pools, RELUs, BATCH_MATMUL,
    MEAN, SUM, SQUARED_DIFFERENCE) as the M4 build runs them."""
    from test_ops_int16 import ops16_model
    report = _verify_on_m4(ops16_model(), tmp_path)
    # 3 random samples, then all -32768 and all 32767 (int16 inputs); 3,619 output values each, exact
    assert report["match"] and report["samples"] == 5 and report["outputs_checked"] == 5 * 3619, report
    assert report["max_abs_diff"] == 0.0


@ON_M4
def test_int16_weight_kernels_verify_on_cortex_m4(tmp_path):
    """test_ops_int16.long_sums_model on the M4, where CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV
    take their int16-weight schedules by default: SMLAD over int32 runs handed to int64 sums."""
    from test_ops_int16 import long_sums_model
    report = _verify_on_m4(long_sums_model()[0], tmp_path)
    kernels = {(layer["type"], (layer["schedule"] or {}).get("weights")) for layer in report["layers"]}
    assert kernels == {("TRANSPOSE_CONV", "int16"), ("CONV_2D", "int16"), ("FULLY_CONNECTED", "int16")}, kernels
    # 3 random samples, all -32768, all 32767; 6 TRANSPOSE_CONV outputs, the CONV_2D's, the FC's: exact
    assert report["match"] and report["samples"] == 5 and report["outputs_checked"] == 5 * 975, report
