/* Pooling and reductions: AVERAGE_POOL_2D, MAX_POOL_2D (also int16), MEAN, SUM, REDUCE_MAX, REDUCE_MIN
 * (int8 and float32), with the arithmetic of TFLite Micro's reference kernels. */
#ifndef MC_POOL_H
#define MC_POOL_H
#include <stdint.h>

/* A 2-D pooling window over NHWC data. Padded cells are not counted: the window is clipped to the input,
 * as TFLite does. pad_top/pad_left are the leading pads (the trailing ones follow from out_h/out_w). */
typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
} mc_pool_geom_t;

typedef struct {
  mc_pool_geom_t g;
  int32_t act_min, act_max;
} mc_pool_s8_t;

typedef struct {
  mc_pool_geom_t g;
  float act_min, act_max;
} mc_pool_f32_t;

/* Average: sum / count rounded half away from zero; scratch holds channels int32 sums. The _mve kernel
 * (Cortex-M55, mc_mve.h) sums 4 channels per vector; its source compiles to nothing without MVE. */
void mc_avg_pool_s8(const mc_pool_s8_t *p, const int8_t *in, int8_t *out, int32_t *scratch);
void mc_avg_pool_s8_mve(const mc_pool_s8_t *p, const int8_t *in, int8_t *out, int32_t *scratch);

/* TFLM: the sum over the window divided by the taps, rounded half away from zero. A window with no
 * taps cannot occur (the lowering refuses pads as large as the filter). */
static inline int32_t mc_rounded_average(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}
void mc_max_pool_s8(const mc_pool_s8_t *p, const int8_t *in, int8_t *out);
void mc_max_pool_s16(const mc_pool_s8_t *p, const int16_t *in, int16_t *out); /* int16: the same */
/* int16 AVERAGE_POOL_2D: TFLM's int32 sums and rounding, as mc_avg_pool_s8 (windows of at most 65,536
 * taps: the lowering's limit, so the sums cannot overflow). */
void mc_avg_pool_s16(const mc_pool_s8_t *p, const int16_t *in, int16_t *out, int32_t *scratch);
void mc_avg_pool_f32(const mc_pool_f32_t *p, const float *in, float *out);
void mc_max_pool_f32(const mc_pool_f32_t *p, const float *in, float *out);

/* MEAN over any set of axes. The input is described as kept dimensions (in output order) and reduced
 * dimensions, each with its input stride in elements; adjacent dimensions are merged at compile time. */
#define MC_MEAN_MAX_DIMS 6
typedef struct {
  int32_t n_kept, n_red;
  int32_t kept_dims[MC_MEAN_MAX_DIMS], kept_strides[MC_MEAN_MAX_DIMS];
  int32_t red_dims[MC_MEAN_MAX_DIMS], red_strides[MC_MEAN_MAX_DIMS];
  int32_t count; /* elements reduced into each output */
} mc_mean_geom_t;

/* int8 (TFLM requantizes every int8 MEAN, even between equal quantizations): requant(sum - in_zp *
 * count) + out_zp, the multiplier already divided by count at compile time as QuantizedMeanOrSum does. */
typedef struct {
  mc_mean_geom_t g;
  int32_t in_zp_times_count, multiplier, shift, out_zp;
} mc_mean_s8_t;

void mc_mean_s8(const mc_mean_s8_t *p, const int8_t *in, int8_t *out);
/* int16 MEAN and SUM: the same (TFLM's QuantizedMeanOrSum<int16_t>, int32 sums), clamped to int16. */
void mc_mean_s16(const mc_mean_s8_t *p, const int16_t *in, int16_t *out);
void mc_mean_f32(const mc_mean_geom_t *p, const float *in, float *out);

/* SUM: int8 is mc_mean_s8 with the multiplier in_scale / out_scale (not divided by count), as TFLM's
 * QuantizedMeanOrSum; float32 adds in TFLM's order. REDUCE_MAX, REDUCE_MIN: raw int8 values (TFLM
 * requires equal input and output quantization). */
void mc_sum_f32(const mc_mean_geom_t *g, const float *in, float *out);
void mc_reduce_max_s8(const mc_mean_geom_t *g, const int8_t *in, int8_t *out);
void mc_reduce_min_s8(const mc_mean_geom_t *g, const int8_t *in, int8_t *out);
void mc_reduce_max_f32(const mc_mean_geom_t *g, const float *in, float *out);
void mc_reduce_min_f32(const mc_mean_geom_t *g, const float *in, float *out);

#endif
