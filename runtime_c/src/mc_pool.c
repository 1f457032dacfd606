/* AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SUM, REDUCE_MAX and REDUCE_MIN with the arithmetic of TFLite Micro's reference kernels. */
#include <float.h>
#include "mc_kernels.h"

/* The window of output (oy, ox), clipped to the input: rows [*y0, *y1), columns [*x0, *x1). */
static void pool_window(const mc_pool_geom_t *g, int32_t oy, int32_t ox, int32_t *y0, int32_t *y1,
                        int32_t *x0, int32_t *x1) {
  const int32_t iy = oy * g->stride_h - g->pad_top, ix = ox * g->stride_w - g->pad_left;
  *y0 = MC_MAX(iy, 0);
  *y1 = MC_MIN(iy + g->filter_h, g->in_h);
  *x0 = MC_MAX(ix, 0);
  *x1 = MC_MIN(ix + g->filter_w, g->in_w);
}

/* Every output pixel of every batch: INIT, then TAP for each input pixel px of the clipped window,
 * then FINISH, with count_ taps; out advances one pixel (C channels) each time. */
#define MC_POOL_LOOP(T, p, in, out, INIT, TAP, FINISH)                                         \
  do {                                                                                        \
    const mc_pool_geom_t *g_ = &(p)->g;                                                       \
    int32_t b_, oy_, ox_, y_, x_, y0_, y1_, x0_, x1_, count_;                                 \
    for (b_ = 0; b_ < g_->batches; ++b_) {                                                    \
      const T *img_ = (in) + b_ * g_->in_h * g_->in_w * C;                                    \
      for (oy_ = 0; oy_ < g_->out_h; ++oy_) {                                                 \
        for (ox_ = 0; ox_ < g_->out_w; ++ox_, (out) += C) {                                   \
          pool_window(g_, oy_, ox_, &y0_, &y1_, &x0_, &x1_);                                  \
          count_ = (y1_ - y0_) * (x1_ - x0_); /* unused by the max pools */                   \
          (void)count_;                                                                       \
          INIT;                                                                               \
          for (y_ = y0_; y_ < y1_; ++y_) {                                                    \
            for (x_ = x0_; x_ < x1_; ++x_) {                                                  \
              const T *px = img_ + (y_ * g_->in_w + x_) * C;                                  \
              TAP;                                                                            \
            }                                                                                 \
          }                                                                                   \
          FINISH;                                                                             \
        }                                                                                     \
      }                                                                                       \
    }                                                                                         \
  } while (0)

void mc_avg_pool_s8(const mc_pool_s8_t *p, const int8_t *in, int8_t *out, int32_t *acc) {
  const int32_t C = p->g.channels, lo = p->act_min, hi = p->act_max;
  int32_t c;
  MC_POOL_LOOP(int8_t, p, in, out,
               for (c = 0; c < C; ++c) acc[c] = 0,
               for (c = 0; c < C; ++c) acc[c] += px[c],
               for (c = 0; c < C; ++c) out[c] = mc_clamp_s8(mc_rounded_average(acc[c], count_), lo, hi));
}

void mc_avg_pool_s16(const mc_pool_s8_t *p, const int16_t *in, int16_t *out, int32_t *acc) {
  const int32_t C = p->g.channels, lo = p->act_min, hi = p->act_max;
  int32_t c;
  MC_POOL_LOOP(int16_t, p, in, out,
               for (c = 0; c < C; ++c) acc[c] = 0,
               for (c = 0; c < C; ++c) acc[c] += px[c],
               for (c = 0; c < C; ++c) out[c] = mc_clamp_s16(mc_rounded_average(acc[c], count_), lo, hi));
}

/* The output pixel is the running maximum: no scratch, contiguous loads. */
void mc_max_pool_s8(const mc_pool_s8_t *p, const int8_t *in, int8_t *out) {
  const int32_t C = p->g.channels, lo = p->act_min, hi = p->act_max;
  int32_t c;
  MC_POOL_LOOP(int8_t, p, in, out,
               for (c = 0; c < C; ++c) out[c] = INT8_MIN,
               for (c = 0; c < C; ++c) out[c] = px[c] > out[c] ? px[c] : out[c],
               for (c = 0; c < C; ++c) out[c] = mc_clamp_s8(out[c], lo, hi));
}

void mc_max_pool_s16(const mc_pool_s8_t *p, const int16_t *in, int16_t *out) {
  const int32_t C = p->g.channels, lo = p->act_min, hi = p->act_max;
  int32_t c;
  MC_POOL_LOOP(int16_t, p, in, out,
               for (c = 0; c < C; ++c) out[c] = INT16_MIN,
               for (c = 0; c < C; ++c) out[c] = px[c] > out[c] ? px[c] : out[c],
               for (c = 0; c < C; ++c) out[c] = mc_clamp_s16(out[c], lo, hi));
}

/* Sums accumulate in the output pixel, in TFLM's order (row-major over the window). */
void mc_avg_pool_f32(const mc_pool_f32_t *p, const float *in, float *out) {
  const int32_t C = p->g.channels;
  const float lo = p->act_min, hi = p->act_max;
  int32_t c;
  MC_POOL_LOOP(float, p, in, out,
               for (c = 0; c < C; ++c) out[c] = 0.0f,
               for (c = 0; c < C; ++c) out[c] += px[c],
               for (c = 0; c < C; ++c) out[c] = mc_clamp_f32(out[c] / (float)count_, lo, hi));
}

void mc_max_pool_f32(const mc_pool_f32_t *p, const float *in, float *out) {
  const int32_t C = p->g.channels;
  const float lo = p->act_min, hi = p->act_max;
  int32_t c;
  MC_POOL_LOOP(float, p, in, out,
               for (c = 0; c < C; ++c) out[c] = -3.402823466e+38f, /* numeric_limits::lowest() */
               for (c = 0; c < C; ++c) out[c] = px[c] > out[c] ? px[c] : out[c],
               for (c = 0; c < C; ++c) out[c] = mc_clamp_f32(out[c], lo, hi));
}

/* ---- MEAN: odometers over the kept and the reduced dimensions ---- */

/* Advance a multi-index over dims[0..n) (last fastest); returns the change of the input offset. */
static int32_t odometer_step(int32_t n, const int32_t *dims, const int32_t *strides, int32_t *idx) {
  int32_t d, delta = 0;
  for (d = n - 1; d >= 0; --d) {
    delta += strides[d];
    if (++idx[d] < dims[d]) return delta;
    delta -= strides[d] * dims[d];
    idx[d] = 0;
  }
  return delta;
}

static int32_t product(int32_t n, const int32_t *dims) {
  int32_t i, r = 1;
  for (i = 0; i < n; ++i) r *= dims[i];
  return r;
}

/* Fold the reduced elements at base into acc (starting from init) with COMBINE(acc, x), in row-major
 * order of the reduced dimensions (TFLM's order). */
#define MC_REDUCE(T, ACC, g, base, acc, init, COMBINE)                                        \
  do {                                                                                        \
    const int32_t inner = (g)->red_dims[(g)->n_red - 1];                                      \
    const int32_t step = (g)->red_strides[(g)->n_red - 1];                                    \
    const int32_t rows = product((g)->n_red - 1, (g)->red_dims);                              \
    int32_t ridx[MC_MEAN_MAX_DIMS] = {0}, r, i;                                               \
    const T *row = (base);                                                                    \
    acc = (ACC)(init);                                                                        \
    for (r = 0; r < rows; ++r) {                                                              \
      const T *px = row;                                                                      \
      for (i = 0; i < inner; ++i, px += step) acc = COMBINE(acc, *px);                        \
      row += odometer_step((g)->n_red - 1, (g)->red_dims, (g)->red_strides, ridx);            \
    }                                                                                         \
  } while (0)
#define MC_PLUS(acc, x) ((acc) + (x))

/* One output per kept index: out[o] = FINISH(fold of its reduced elements). */
#define MC_REDUCE_ALL(T, ACC, g, in, out, init, COMBINE, FINISH)                              \
  do {                                                                                        \
    const int32_t n_out_ = product((g)->n_kept, (g)->kept_dims);                              \
    int32_t kidx_[MC_MEAN_MAX_DIMS] = {0}, o_;                                                \
    const T *base_ = (in);                                                                    \
    ACC acc_;                                                                                 \
    for (o_ = 0; o_ < n_out_; ++o_) {                                                         \
      MC_REDUCE(T, ACC, g, base_, acc_, init, COMBINE);                                       \
      (out)[o_] = FINISH(acc_);                                                               \
      base_ += odometer_step((g)->n_kept, (g)->kept_dims, (g)->kept_strides, kidx_);          \
    }                                                                                         \
  } while (0)

void mc_mean_s8(const mc_mean_s8_t *p, const int8_t *in, int8_t *out) {
#define MC_MEAN_S8(sum) \
  mc_clamp_s8(mc_requantize((sum) - p->in_zp_times_count, p->multiplier, p->shift) + p->out_zp, INT8_MIN, INT8_MAX)
  MC_REDUCE_ALL(int8_t, int32_t, &p->g, in, out, 0, MC_PLUS, MC_MEAN_S8);
#undef MC_MEAN_S8
}

void mc_mean_s16(const mc_mean_s8_t *p, const int16_t *in, int16_t *out) {
#define MC_MEAN_S16(sum) \
  mc_clamp_s16(mc_requantize((sum) - p->in_zp_times_count, p->multiplier, p->shift) + p->out_zp, INT16_MIN, INT16_MAX)
  MC_REDUCE_ALL(int16_t, int32_t, &p->g, in, out, 0, MC_PLUS, MC_MEAN_S16);
#undef MC_MEAN_S16
}

void mc_mean_f32(const mc_mean_geom_t *g, const float *in, float *out) {
  const float count = (float)g->count;
#define MC_DIV_COUNT(sum) ((sum) / count)
  MC_REDUCE_ALL(float, float, g, in, out, 0.0f, MC_PLUS, MC_DIV_COUNT);
#undef MC_DIV_COUNT
}

/* REDUCE_MAX, REDUCE_MIN: TFLM starts from the type's lowest (largest) value and keeps the current one
 * unless the element is strictly greater (smaller), so NaN is skipped and all -inf gives -FLT_MAX. */
#define MC_KEEP_MAX(acc, x) ((x) > (acc) ? (x) : (acc))
#define MC_KEEP_MIN(acc, x) ((x) < (acc) ? (x) : (acc))
#define MC_SAME(acc) (acc)
void mc_reduce_max_s8(const mc_mean_geom_t *g, const int8_t *in, int8_t *out) {
  MC_REDUCE_ALL(int8_t, int8_t, g, in, out, INT8_MIN, MC_KEEP_MAX, MC_SAME);
}
void mc_reduce_min_s8(const mc_mean_geom_t *g, const int8_t *in, int8_t *out) {
  MC_REDUCE_ALL(int8_t, int8_t, g, in, out, INT8_MAX, MC_KEEP_MIN, MC_SAME);
}
void mc_reduce_max_f32(const mc_mean_geom_t *g, const float *in, float *out) {
  MC_REDUCE_ALL(float, float, g, in, out, -FLT_MAX, MC_KEEP_MAX, MC_SAME);
}
void mc_reduce_min_f32(const mc_mean_geom_t *g, const float *in, float *out) {
  MC_REDUCE_ALL(float, float, g, in, out, FLT_MAX, MC_KEEP_MIN, MC_SAME);
}

/* SUM float32: the elements added in TFLM's order (int8 SUM is mc_mean_s8 with an unscaled multiplier). */
void mc_sum_f32(const mc_mean_geom_t *g, const float *in, float *out) {
  MC_REDUCE_ALL(float, float, g, in, out, 0.0f, MC_PLUS, MC_SAME);
}
