/* Convolution-like kernels: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (int8 and float32). */
#ifndef MC_CONV_H
#define MC_CONV_H
#include <stdint.h>
#include "mc_common.h" /* MC_FLASH */

/* FULLY_CONNECTED int8: out[b][o] = requant(bias[o] + sum_i w[o][i] * in[b][i]) + out_zp, clamped.
 * The input zero point is folded into bias at compile time (bias - in_zp * sum_i w[o][i]).
 * Weights (schedule weights "int8") in blocks of R = 4 rows (the last block: out_features % 4 rows if
 * not 0), each block [in_features / 4][R][4] (four rows' next four weights side by side) then
 * [R][in_features % 4]. Rows are requantized in groups of MC_FC_GROUP (mc_requantize_row_s8's table). */
typedef struct {
  int32_t batches, in_features, out_features;
  const MC_FLASH int8_t *weights;     /* row blocks, see above (int32 words with weights "int16") */
  const MC_FLASH int32_t *bias;       /* [out_features], zero point folded in */
  const MC_FLASH int32_t *requant;    /* [out_features][4], mc_requantize_row_s8's table */
  int32_t out_zp, act_min, act_max;
} mc_fc_s8_t;
#define MC_FC_GROUP 16
void mc_fully_connected_s8(const mc_fc_s8_t *p, const int8_t *in, int8_t *out);
/* The int32 accumulators alone, acc[o] = bias[o] + sum_i w[o][i] * x[i] for one input vector, weights
 * in the same row blocks: the matrix products of other kernels (LSTM gates, SVDF features). */
void mc_fc_accumulate_s8(const int8_t *x, const MC_FLASH int8_t *w, const MC_FLASH int32_t *bias, int32_t n,
                         int32_t out_f, int32_t *acc);
/* The same with the weights sign-extended at compile time (schedule weights "int16"): `weights` points
 * at int32 words, in blocks of 4 rows as above (the last: out_features % 4 rows), each block
 * [ceil(in_features / 4)][R][even, odd], each word two int16 lanes (w[4i], w[4i + 2]) and (w[4i + 1],
 * w[4i + 3]), the lanes SXTB16 makes of 4 inputs; weights past in_features are zero. On DSP targets
 * each batch's inputs are sign-extended once on the stack (2 * in_features bytes, rounded up to 8;
 * in_features at most MC_FC_W16_MAX_IN), then per 4 inputs and 4 rows: five LDRD and eight SMLAD. */
#define MC_FC_W16_MAX_IN 1024
void mc_fully_connected_w16_s8(const mc_fc_s8_t *p, const int8_t *in, int8_t *out);

typedef struct {
  int32_t batches, in_features, out_features;
  const float *weights; /* [out_features][in_features] */
  const float *bias;    /* [out_features] or NULL */
  float act_min, act_max;
} mc_fc_f32_t;
void mc_fully_connected_f32(const mc_fc_f32_t *p, const float *in, float *out);

/* Geometry of CONV_2D and DEPTHWISE_CONV_2D, NHWC. Output pixels with oy in [oy_begin, oy_end) and
 * ox in [ox_begin, ox_end) read no padding (the interior, computed at compile time). */
typedef struct {
  int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int32_t stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
  int32_t oy_begin, oy_end, ox_begin, ox_end;
} mc_conv_geom_t;

/* The int8 kernels fold the input zero point into the bias at compile time (bias - in_zp * sum of
 * the channel's weights) for interior pixels. A border pixel skips its padded taps as TFLM does and
 * starts from the model's own bias (bias_raw) with in_zp subtracted from each input. */

/* CONV_2D int8 (TFLM ConvPerChannel): weights OHWI. scratch: NULL (inputs read in place), or room
 * for two patches of patch_len values (gathered first: faster when k_w*in_c is small); patch_len is
 * k_h*k_w*in_c rounded up to a multiple of 4, and each channel's weights are zero-padded to it. */
typedef struct {
  mc_conv_geom_t g;
  int32_t patch_len;         /* 0 when read in place */
  const MC_FLASH int8_t *weights;     /* [out_c][k_h][k_w][in_c], or [out_c][patch_len] with patches */
  const MC_FLASH int32_t *bias;       /* [out_c], zero point folded in */
  const MC_FLASH int32_t *bias_raw;   /* [out_c], the model's bias (zeros when it has none) */
  const MC_FLASH int32_t *multiplier; /* [out_c] */
  const MC_FLASH int32_t *shift;      /* [out_c] */
  const MC_FLASH int32_t *requant;    /* [out_c][4] (mc_requantize_row_s8), or NULL: kernel "1x1" */
  int32_t in_zp, out_zp, act_min, act_max;
} mc_conv2d_s8_t;
void mc_conv2d_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch);

/* CONV_2D int8 with a 1x1 filter and no padding (schedule kernel "1x1"), same parameters; weights in
 * pairs of output channels: each pair [in_c / 4][2][4] (the two channels' next four weights side by
 * side) then [2][in_c % 4]; the last channel of an odd count alone, as its row. in_c is at most
 * MC_CONV1X1_MAX_IN_C (the widened pixel pair lives on the stack: 4 * in_c bytes on DSP targets), out_c
 * at most MC_CONV1X1_MAX_OUT_C (two pixels' sums on the stack: 8 * out_c bytes).
 * scratch: unused (the signature of mc_conv2d_s8). */
#define MC_CONV1X1_MAX_IN_C 256
#define MC_CONV1X1_MAX_OUT_C 256
void mc_conv2d_1x1_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch);
/* The same on DSP targets (__ARM_FEATURE_DSP) with the weights sign-extended at compile time (schedule
 * weights "int16": twice the flash, no unpacking): `weights` points at int32 words, per pair of
 * channels [in_c / 4][2][even, odd], each word two int16 lanes: (w[4i], w[4i + 2]) and
 * (w[4i + 1], w[4i + 3]), the lanes SXTB16 makes of the inputs; the last channel of an odd count
 * alone. in_c is a multiple of 4. */
void mc_conv2d_1x1_w16_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch);
/* CONV_2D int8, any filter (schedule kernel "gemm", DSP targets): each pixel pair's patches gathered
 * on the stack (patch_len values each, as with im2col), sign-extended, then multiplied with the
 * weights of mc_conv2d_1x1_w16_s8's layout over patch_len inputs (each channel's weights zero-padded
 * to patch_len, at most MC_CONV_GEMM_MAX_K), out_c at most MC_CONV1X1_MAX_OUT_C. scratch: unused. */
#define MC_CONV_GEMM_MAX_K 640
void mc_conv2d_gemm_w16_s8(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch);

/* CONV_2D float32 (TFLM reference Conv): sum over the taps inside the image in (ky, kx, c) order,
 * then + bias. */
typedef struct {
  mc_conv_geom_t g;
  const float *weights; /* [out_c][k_h][k_w][in_c] */
  const float *bias;    /* [out_c] (zeros when the model has none) */
  float act_min, act_max;
} mc_conv2d_f32_t;
void mc_conv2d_f32(const mc_conv2d_f32_t *p, const float *in, float *out);

/* 16x8 kernels (int16 activations, int8 weights, TFLM's reference_integer_ops): the requantization
 * per output channel is either TFLM's int64 MultiplyByQuantizedMultiplier (`wide`: int64 bias;
 * multiplier = the 16-bit reduced multiplier, shift = 15 - shift, see mc_requantize64) or its int32
 * one (int32 bias: the int32 accumulator wraps as TFLM's does; multiplier and shift as mc_requantize).
 * TFLM's int16 convolutions add no zero points (symmetric int16), and neither do these. */
typedef struct {
  const int8_t *weights;   /* CONV_2D: [out_c][k_h][k_w][in_c]; TRANSPOSE_CONV: the same (OHWI) */
  const int64_t *bias;     /* [out_c] (zeros when the model has none) */
  const int32_t *multiplier, *shift; /* [out_c] */
  int32_t wide, act_min, act_max;
} mc_s16_requant_t;

/* CONV_2D int16 x int8 (TFLM ConvPerChannel<int64_t or int32_t>): padded taps skipped. */
typedef struct {
  mc_conv_geom_t g;
  mc_s16_requant_t q;
  int32_t patch_len; /* mc_conv2d_gemm_s16: k_h * k_w * in_c rounded up to 4; else 0 */
} mc_conv2d_s16_t;
void mc_conv2d_s16(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out);

/* The 16x8 kernels of the schedules with int16 weights (kernel "gemm" of CONV_2D, weights "int16" of
 * FULLY_CONNECTED and TRANSPOSE_CONV): a matrix product of int16 input vectors (gathered on the stack,
 * 4-byte aligned, zero-padded to a multiple of 4, at most MC_S16_GEMM_MAX_K values) by the weights
 * sign-extended to int16 at compile time, 4 output channels at a time: q.weights points at int32 words,
 * per block of 4 channels (out_c padded with zero channels to a multiple of 4) [K / 4][4][2], each word
 * two int16 lanes (w[k], w[k + 1]) as the inputs' words hold them; SMLAD on DSP targets. The products
 * (at most 2^22 each) are summed in int32 over at most MC_S16_RUN_CHUNKS chunks of 4 (508 < 2^9 products:
 * no overflow), then in int64: the exact sums of TFLM's int64 accumulation.
 * CONV_2D: K = patch_len, the patch in the weights' (ky, kx, c) order, padded taps zero.
 * FULLY_CONNECTED: K = in_features rounded up to 4.
 * TRANSPOSE_CONV: per filter tap t = ky * k_w + kx a matrix of out_c x K, K = in_c rounded up to 4
 * (blocks of t at t * ceil(out_c / 4) * K * 2 words); each output pixel's input pixels (at most
 * patch_len / K of them) are gathered, and each is multiplied by its tap's matrix. */
#define MC_S16_GEMM_MAX_K 1024
/* bias + acc of channel oc requantized and clamped as q says (every 16x8 kernel's last step). */
int16_t mc_requant_s16(const mc_s16_requant_t *q, int64_t acc, int32_t oc);
#define MC_S16_RUN_CHUNKS 127
void mc_conv2d_gemm_s16(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out);

/* DEPTHWISE_CONV_2D int16 x int8 (TFLM DepthwiseConvPerChannel, int64 bias): weights [k_h][k_w][out_c]. */
typedef struct {
  mc_conv_geom_t g;
  int32_t depth_mult;
  mc_s16_requant_t q;
} mc_dwconv_s16_t;
void mc_depthwise_conv2d_s16(const mc_dwconv_s16_t *p, const int16_t *in, int16_t *out);

/* FULLY_CONNECTED int16 x int8 (TFLM FullyConnected[PerChannel], int64 or int32 bias): weights
 * [out_features][in_features]. */
typedef struct {
  int32_t batches, in_features, out_features;
  mc_s16_requant_t q;
} mc_fc_s16_t;
void mc_fully_connected_s16(const mc_fc_s16_t *p, const int16_t *in, int16_t *out);
void mc_fully_connected_w16_s16(const mc_fc_s16_t *p, const int16_t *in, int16_t *out);

/* TRANSPOSE_CONV (TFLM TransposeConv): output pixel (oy, ox) gathers input pixel
 * ((oy + pad_top - ky) / stride_h, (ox + pad_left - kx) / stride_w) for every filter tap where the
 * division is exact and in range; the same sums as TFLM's scatter, in TFLM's order for float32
 * (input rows, columns, channels ascending). Filter OHWI. */
typedef struct {
  int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int32_t stride_h, stride_w, pad_top, pad_left;
} mc_tconv_geom_t;
typedef struct {
  mc_tconv_geom_t g;
  const int8_t *weights;
  const int32_t *bias; /* [out_c] (zeros when the model has none) */
  const int32_t *multiplier, *shift;
  int32_t in_zp, out_zp, act_min, act_max;
} mc_tconv_s8_t;
void mc_transpose_conv_s8(const mc_tconv_s8_t *p, const int8_t *in, int8_t *out);
typedef struct {
  mc_tconv_geom_t g;
  mc_s16_requant_t q;
  int32_t patch_len; /* mc_transpose_conv_w16_s16: the most taps of an output pixel x K; else 0 */
} mc_tconv_s16_t;
void mc_transpose_conv_s16(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out);
void mc_transpose_conv_w16_s16(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out);
/* The same on Helium (mve: the M55), with the weights left int8 (VLDRB.S16 widens them) in chunks of 8:
 * per block of 4 channels [K / 8][4][8] int8, K rounded up to 8, the sums int64 (VMLALDAVA). */
void mc_conv2d_gemm_s16_mve(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out);
void mc_fully_connected_s16_mve(const mc_fc_s16_t *p, const int16_t *in, int16_t *out);
void mc_transpose_conv_s16_mve(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out);
/* The walks of those kernels over the output pixels: CONV_2D's gathers each pixel's patch (padded taps
 * and the tail zero; patch_len values, a multiple of `lanes`) and calls gemm(q, out_c, patch,
 * patch_len / lanes, out); TRANSPOSE_CONV's gathers the input pixels that reach it, k values each (in_c
 * rounded up to `lanes`, zero-padded), with their filter taps, and calls fn(p, patch, k, taps, n, out). */
typedef void (*mc_s16_gemm_fn)(const mc_s16_requant_t *q, int32_t out_c, const int16_t *x, int32_t chunks,
                               int16_t *out);
void mc_conv2d_s16_pixels(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out, int32_t lanes,
                          mc_s16_gemm_fn gemm);
typedef void (*mc_s16_taps_fn)(const mc_tconv_s16_t *p, const int16_t *patch, int32_t k, const int32_t *taps,
                               int32_t n, int16_t *out);
void mc_tconv_s16_pixels(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out, int32_t lanes,
                         mc_s16_taps_fn fn);
typedef struct {
  mc_tconv_geom_t g;
  const float *weights;
  const float *bias; /* [out_c] or NULL */
  float act_min, act_max;
} mc_tconv_f32_t;
void mc_transpose_conv_f32(const mc_tconv_f32_t *p, const float *in, float *out);

/* DEPTHWISE_CONV_2D int8 (TFLM DepthwiseConvPerChannel): out channel c = ic * depth_mult + m reads
 * input channel ic; weights 1HW(out_c). */
typedef struct {
  mc_conv_geom_t g;
  int32_t depth_mult;
  const MC_FLASH int8_t *weights;     /* [k_h][k_w][out_c] */
  const MC_FLASH int32_t *bias;       /* [out_c], zero point folded in */
  const MC_FLASH int32_t *bias_raw;   /* [out_c], the model's bias (zeros when it has none) */
  const MC_FLASH int32_t *requant;    /* [out_c][4] (mc_requantize_row_s8) */
  int32_t in_zp, out_zp, act_min, act_max;
} mc_dwconv_s8_t;
void mc_depthwise_conv2d_s8(const mc_dwconv_s8_t *p, const int8_t *in, int8_t *out);

typedef struct {
  mc_conv_geom_t g;
  int32_t depth_mult;
  const float *weights; /* [k_h][k_w][out_c] */
  const float *bias;    /* [out_c] (zeros when the model has none) */
  float act_min, act_max;
} mc_dwconv_f32_t;
void mc_depthwise_conv2d_f32(const mc_dwconv_f32_t *p, const float *in, float *out);

/* out[i] = clamp(MultiplyByQuantizedMultiplier(acc[i], channel i) + zp, lo, hi) for i < n, bit for bit
 * with TFLM; `table`: 4 words per channel folded at compile time (mc_requantize.c): the rounding
 * constant 2^30 + 2^(30 + R) (low, high word), the multiplier and R - 1 for a right shift R >= 1;
 * else (shift, 0, multiplier, -1). */
void mc_requantize_row_s8(const int32_t *acc, int32_t n, const MC_FLASH int32_t *table, int32_t zp,
                          int32_t lo, int32_t hi, int8_t *out);

/* The patch of pixel (oy, ox) as kernels with patch_len take it (padded taps: the input zero point;
 * the values past k_h * k_w * in_c: zero). */
void mc_conv_gather_patch_s8(const mc_conv2d_s8_t *p, const int8_t *image, int32_t oy, int32_t ox,
                             int8_t *patch);

/* The taps of output pixel (oy, ox) inside the image: filter rows [ky0, ky1), columns [kx0, kx1)
 * (empty ranges possible), and the input offset (in values) of tap (0, 0), which may lie outside. */
typedef struct {
  int32_t ky0, ky1, kx0, kx1;
  int32_t origin;
} mc_conv_window_t;
mc_conv_window_t mc_conv_window(const mc_conv_geom_t *g, int32_t oy, int32_t ox);

/* Helpers of the conv kernels' sources (defined MC_CONV_IMPL), not part of the interface: on DSP
 * targets (Cortex-M4/M7/M33...) int8 values are multiplied in pairs with SMLAD / SMLAxy. */
#ifdef MC_CONV_IMPL
/* Four rows' int32 sums. */
typedef struct {
  int32_t s0, s1, s2, s3;
} mc_acc4_t;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#include <string.h>
#define MC_CONV_SIMD 1
/* Four int8 values as one (possibly unaligned) word; Cortex-M4 LDR allows unaligned addresses. */
static inline int32_t load4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
/* Bytes 0 and 2 (even) or 1 and 3 (odd) sign-extended into two int16 lanes, plus `off` in each
 * lane: SMLAD sums the products of matching lanes; even + odd cover all four values. */
/* SXTB16/SXTAB16 rotate their operand for free; GCC's intrinsics do not offer the rotation. */
static inline int32_t mc_sxtb16_ror8(int32_t v) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}
static inline int32_t mc_sxtab16_ror8(int32_t a, int32_t v) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}
#define EVEN(v) __sxtb16(v)
#define ODD(v) mc_sxtb16_ror8(v)
#define EVEN_OFF(off2, v) __sxtab16(off2, v)
#define ODD_OFF(off2, v) mc_sxtab16_ror8(off2, v)
/* Four rows (w: [chunk][4][2] words) by 2 words of inputs per chunk (xs, 4-byte aligned), int16 lanes
 * multiplied in matching pairs: per chunk five LDRD and eight SMLAD (assembly: GCC loads the same words
 * one LDR at a time). chunks > 0. FULLY_CONNECTED's int16 weights and the 16x8 kernels' schedules. */
static inline mc_acc4_t mc_dot_4rows_w16(const int32_t *xs, const int32_t *w, int32_t chunks, mc_acc4_t s) {
  int32_t xe, xo, ke, ko;
  __asm__("1:\n\t"
          "ldrd %[xe], %[xo], [%[xs]], #8\n\t"
          "ldrd %[ke], %[ko], [%[w]], #8\n\t"
          "smlad %[s0], %[xe], %[ke], %[s0]\n\t"
          "smlad %[s0], %[xo], %[ko], %[s0]\n\t"
          "ldrd %[ke], %[ko], [%[w]], #8\n\t"
          "smlad %[s1], %[xe], %[ke], %[s1]\n\t"
          "smlad %[s1], %[xo], %[ko], %[s1]\n\t"
          "ldrd %[ke], %[ko], [%[w]], #8\n\t"
          "smlad %[s2], %[xe], %[ke], %[s2]\n\t"
          "smlad %[s2], %[xo], %[ko], %[s2]\n\t"
          "ldrd %[ke], %[ko], [%[w]], #8\n\t"
          "smlad %[s3], %[xe], %[ke], %[s3]\n\t"
          "smlad %[s3], %[xo], %[ko], %[s3]\n\t"
          "subs %[n], %[n], #1\n\t"
          "bne 1b"
          : [s0] "+r"(s.s0), [s1] "+r"(s.s1), [s2] "+r"(s.s2), [s3] "+r"(s.s3), [xs] "+r"(xs),
            [w] "+r"(w), [n] "+r"(chunks), [xe] "=&r"(xe), [xo] "=&r"(xo), [ke] "=&r"(ke), [ko] "=&r"(ko)
          :
          : "cc", "memory");
  return s;
}
#endif
#endif

#endif
