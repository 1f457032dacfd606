"""The Helium kernels' side of the lowerings (runtime_c/include/mc_mve.h): which layers may take the
MVE ISA path, and their constants laid out at compile time: weights in blocks of 4 output channels and
chunks of 16 values (zero-padded), and the per-channel requantization interleaved per block (bias,
multiplier, left shift, right shift) so that one pointer streams each. A lowering offers the MVE
schedule first (the default) where the board has MVE and the layer fits a Helium kernel, and emits
the Helium call when `on_mve(ctx)`."""
from __future__ import annotations

import numpy as np

from microc.codegen.lowering import LoweringContext
from microc.codegen.ops.common import c_init
from microc.codegen.schedule import Schedule

LANES = 16  # int8 values per MVE vector
BLOCK = 4   # output channels per block (int32 lanes of the requantization)
PATCH_MAX = 2304  # MC_MVE_PATCH_MAX: a gathered patch's bytes (two on the stack)


def on_mve(ctx: LoweringContext) -> bool:
    """Whether the layer's schedule takes the Helium kernel."""
    return ctx.schedule is not None and ctx.schedule.isa == "mve"


def offered(isas: tuple[str, ...], fits: bool, mve: list[Schedule], others: list[Schedule]) -> list[Schedule]:
    """A layer's candidates: the Helium ones first (the default) where the board has MVE and the layer
    fits the kernel, then the others."""
    return mve + others if fits and "mve" in isas else others


def _blocks(n: int) -> int:
    return -(-n // BLOCK)


def qparams(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """[blocks][bias, multiplier, left, right][4] int32; the padding channels are all zero."""
    n = len(bias)
    q = np.zeros((_blocks(n) * BLOCK, 4), np.int64)
    q[:n, 0], q[:n, 1] = bias, mult
    q[:n, 2], q[:n, 3] = np.maximum(shift, 0), np.minimum(shift, 0)
    return q.reshape(-1, BLOCK, 4).transpose(0, 2, 1).reshape(-1).astype(np.int32)


def gemm_weights(w: np.ndarray, rows: int, run: int) -> np.ndarray:
    """[out_c][rows * run] weights (a patch's values in filter order) as the GEMM reads them:
    [blocks][rows][ceil(run / 16)][4][16], zero-padded."""
    out_c = w.shape[0]
    chunks = -(-run // LANES)
    padded = np.zeros((_blocks(out_c) * BLOCK, rows, chunks * LANES), np.int8)
    padded[:out_c, :, :run] = w.reshape(out_c, rows, run)
    return padded.reshape(-1, BLOCK, rows, chunks, LANES).transpose(0, 2, 3, 1, 4).reshape(-1)


def gather_pays(rows: int, run: int, out_c: int) -> bool:
    """Whether a CONV_2D gathers every patch (one run of rows * run values) rather than reading its
    `rows` runs in place: when the chunks saved (each 2 VMLAVA and 1 load per block of 4 channels
    per pixel) outweigh the gather (about 12 instructions per row). Always when run is 0 (dilated in
    width: no runs)."""
    if run == 0:
        return True
    saved = rows * -(-run // LANES) - -(-rows * run // LANES)
    return saved * 3 * _blocks(out_c) > 12 * rows


def layout(rows: int, row_step: int, run: int) -> str:
    """An mc_mve_layout_t initializer."""
    return c_init(dict(rows=rows, row_step=row_step, run=run))


def gemm_init(ctx: LoweringContext, w: np.ndarray, rows: int, run: int, bias: np.ndarray,
              mult: np.ndarray, shift: np.ndarray, out_zp: int, act: dict) -> str:
    """An mc_mve_gemm_t initializer for [out_c][rows * run] weights."""
    return c_init({"out_c": w.shape[0], "weights": ctx.const(gemm_weights(w, rows, run), "w", "int8_t"),
                   "qparams": ctx.const(qparams(bias, mult, shift), "q", "int32_t"),
                   "out_zp": out_zp, **act})


DW_BLOCK = 8  # channels per DEPTHWISE_CONV_2D vector (int16 lanes)


def depthwise_weights(w: np.ndarray) -> np.ndarray:
    """1HWC weights as [ceil(C / 8)][k_h * k_w][8], zero-padded."""
    taps = w.reshape(-1, w.shape[-1])
    blocks = -(-taps.shape[1] // DW_BLOCK)
    padded = np.zeros((taps.shape[0], blocks * DW_BLOCK), np.int8)
    padded[:, :taps.shape[1]] = taps
    return padded.reshape(taps.shape[0], blocks, DW_BLOCK).transpose(1, 0, 2).reshape(-1)


def depthwise_qparams(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """qparams per block of 8 channels: the even channels' block of 4, then the odd channels' (the
    lanes of VMULLB and VMULLT)."""
    n = -(-len(bias) // DW_BLOCK) * DW_BLOCK
    order = np.arange(n).reshape(-1, 4, 2).transpose(0, 2, 1).reshape(-1)  # 0 2 4 6 1 3 5 7 ...
    arrays = [np.zeros(n, np.int64) for _ in range(3)]
    for a, v in zip(arrays, (bias, mult, shift)):
        a[:len(v)] = v
    return qparams(*(a[order] for a in arrays))


def depthwise_init(ctx: LoweringContext, w: np.ndarray, bias: np.ndarray, mult: np.ndarray,
                   shift: np.ndarray) -> dict:
    """The weights and qparams fields of an mc_dwconv_mve_t."""
    return {"weights": ctx.const(depthwise_weights(w), "w", "int8_t"),
            "qparams": ctx.const(depthwise_qparams(bias, mult, shift), "q", "int32_t")}
