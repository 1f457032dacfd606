/* Helium (MVE) kernels of the Cortex-M55: int8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and ADD,
 * bit-exact with TFLite Micro's reference kernels like the portable ones. The lowering selects them
 * when the board's ISA path is MVE (microc/codegen/ops/mve.py lays their constants out); their
 * sources compile to nothing without __ARM_FEATURE_MVE.
 *
 * Dense products (FULLY_CONNECTED, CONV_2D) are one GEMM: a patch (a pixel's filter taps, or an input
 * row) as rows of `run` contiguous int8 values, dotted 16 at a time (VMLADAVA) with blocks of
 * 4 output channels, two patches at a time so that every weight vector loaded feeds two products.
 * Requantization runs on 4 channels per vector: VQRDMULH is SaturatingRoundingDoublingHighMul bit for
 * bit, and TFLite's RoundingDivideByPOT (ties away from zero) is VRSHL after subtracting 1 from
 * negative values (as CMSIS-NN does). */
#ifndef MC_MVE_H
#define MC_MVE_H
#include <stdint.h>
#include "mc_conv.h"        /* mc_conv_geom_t */
#include "mc_elementwise.h" /* mc_add_s8_t */

/* Where a patch's values lie relative to its first: `rows` runs of `run` contiguous values, row_step
 * apart. The last 16-value chunk of a run may read up to 15 values past it: its weights are zero
 * there, and a model's arena keeps 16 bytes of slack after its end (microc/codegen/generate.py). */
typedef struct {
  int32_t rows, row_step, run;
} mc_mve_layout_t;

/* Weights: per block of 4 output channels, per row, ceil(run / 16) chunks of [4][16] values
 * (zero-padded past `run` and past out_c). qparams: per block, 16 int32: bias[4] (input zero point
 * folded in), multiplier[4], left[4] (shift > 0 ? shift : 0), right[4] (shift > 0 ? 0 : shift). */
typedef struct {
  int32_t out_c;
  const int8_t *weights;
  const int32_t *qparams;
  int32_t out_zp, act_min, act_max;
} mc_mve_gemm_t;

/* Every output channel of patch x0 (into o0) and, unless x1 is NULL, of patch x1 (into o1). */
void mc_mve_gemm_s8(const mc_mve_gemm_t *p, mc_mve_layout_t l, const int8_t *x0, const int8_t *x1,
                    int8_t *o0, int8_t *o1);

/* FULLY_CONNECTED int8: each batch row is a patch of one row of in_features values. */
typedef struct {
  int32_t batches, in_features;
  mc_mve_gemm_t gemm;
} mc_fc_mve_t;
void mc_fully_connected_s8_mve(const mc_fc_mve_t *p, const int8_t *in, int8_t *out);

/* The output pixels of a convolution, two at a time: fn(p, x0, x1, o0, o1, gathered) computes every
 * channel of pixels x0 and x1 (x1 NULL: x0 alone) into o0 and o1, both read in place from the image
 * (gathered = 0: interior pixels, pointing at their tap (0, 0)) or both gathered (gathered = 1:
 * patches [k_h][k_w][in_c] in filter order whose padded taps hold the input zero point, which a
 * folded bias cancels as TFLM skips them). gather_all: gather every pixel. */
typedef void (*mc_mve_pair_fn)(const void *p, const int8_t *x0, const int8_t *x1, int8_t *o0,
                               int8_t *o1, int gathered);
#define MC_MVE_PATCH_MAX 2304 /* bytes per gathered patch (two on the stack); larger ones are not selected */
void mc_mve_pixels(const mc_conv_geom_t *g, int32_t in_zp, int gather_all, const int8_t *in, int8_t *out,
                   mc_mve_pair_fn fn, const void *p);

/* CONV_2D int8 through the GEMM: interior pixels in place with `image` (their filter rows in the
 * image), gathered ones with `patch`; gathered = 1: every pixel (filters with short rows, or dilated
 * in width). */
typedef struct {
  mc_conv_geom_t g;
  int32_t gathered;
  mc_mve_layout_t image, patch;
  int32_t in_zp;
  mc_mve_gemm_t gemm;
} mc_conv2d_mve_t;
void mc_conv2d_s8_mve(const mc_conv2d_mve_t *p, const int8_t *in, int8_t *out);

/* DEPTHWISE_CONV_2D int8 with depth multiplier 1: 8 channels per vector (int8 widened to int16
 * lanes, VMULLB/VMULLT to int32: even and odd channels), two pixels per weight load. Weights
 * [ceil(C / 8)][k_h*k_w][8] (zero-padded); qparams per block of 8 channels: the even channels'
 * 16 int32 as mc_mve_gemm_t's, then the odd channels'. */
typedef struct {
  mc_conv_geom_t g;
  const int8_t *weights;
  const int32_t *qparams;
  int32_t in_zp, out_zp, act_min, act_max;
} mc_dwconv_mve_t;
void mc_depthwise_conv2d_s8_mve(const mc_dwconv_mve_t *p, const int8_t *in, int8_t *out);

/* ADD/SUB int8 of two same-shape tensors (mc_add_s8_t with rank 1): table lookups by gather loads. */
void mc_add_s8_mve(const mc_add_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out);

/* Helpers of the MVE sources (defined MC_MVE_IMPL), not part of the interface. */
#if defined(MC_MVE_IMPL) && defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>

/* TFLite's RoundingDivideByPOT(y, -right) for right <= 0 in each lane: VRSHL rounds ties up, so
 * negative values go down by 1 first when there is a shift (right's sign bit set). */
static inline int32x4_t mc_mve_rdbp(int32x4_t y, int32x4_t right) {
  return vrshlq_s32(vqaddq_s32(y, vshrq_n_s32(vandq_s32(y, right), 31)), right);
}

/* The per-block requantization constants (after the bias), loaded once for the pixels that share
 * them. */
typedef struct {
  int32x4_t mult, left, right;
} mc_mve_q_t;

static inline mc_mve_q_t mc_mve_load_q(const int32_t *q) {
  mc_mve_q_t r;
  r.mult = vldrwq_s32(q + 4);
  r.left = vldrwq_s32(q + 8);
  r.right = vldrwq_s32(q + 12);
  return r;
}

/* TFLite's MultiplyByQuantizedMultiplier of acc (holding the bias). The left shift wraps as the
 * portable kernels' (uint32_t) shift does. */
static inline int32x4_t mc_mve_scale(int32x4_t acc, mc_mve_q_t q) {
  return mc_mve_rdbp(vqrdmulhq_s32(vshlq_s32(acc, q.left), q.mult), q.right);
}

/* mc_mve_scale(acc) + zp, clamped to [lo, hi]. */
static inline int32x4_t mc_mve_requant(int32x4_t acc, mc_mve_q_t q, int32_t zp, int32x4_t lo,
                                       int32x4_t hi) {
  return vminq_s32(vmaxq_s32(vaddq_n_s32(mc_mve_scale(acc, q), zp), lo), hi);
}

/* The first n (< 4: a predicated store; else 4) lanes of v as int8 at o. */
static inline void mc_mve_store4(int8_t *o, int32x4_t v, int32_t n) {
  if (n >= 4)
    vstrbq_s32(o, v);
  else
    vstrbq_p_s32(o, v, vctp32q((uint32_t)n));
}
#endif

#endif
