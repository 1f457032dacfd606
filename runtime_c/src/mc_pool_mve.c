/* AVERAGE_POOL_2D int8 on Helium (mc_pool.h): each window summed 4 channels per vector (int8 widened
 * to int32 lanes; the last block's loads read up to 3 bytes past the image, into the arena's slack,
 * and its sums are stored predicated), then divided as TFLM does, one channel at a time (MVE has no
 * vector division). */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

void mc_avg_pool_s8_mve(const mc_pool_s8_t *p, const int8_t *in, int8_t *out, int32_t *acc) {
  const mc_pool_geom_t *g = &p->g;
  const int32_t C = g->channels, row = g->in_w * C;
  int32_t b, oy, ox, y, x, c;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *img = in + (size_t)b * g->in_h * row;
    for (oy = 0; oy < g->out_h; ++oy) {
      const int32_t iy = oy * g->stride_h - g->pad_top;
      const int32_t y0 = MC_MAX(iy, 0), y1 = MC_MIN(iy + g->filter_h, g->in_h);
      for (ox = 0; ox < g->out_w; ++ox, out += C) {
        const int32_t ix = ox * g->stride_w - g->pad_left;
        const int32_t x0 = MC_MAX(ix, 0), x1 = MC_MIN(ix + g->filter_w, g->in_w);
        const int32_t count = (y1 - y0) * (x1 - x0);
        for (c = 0; c < C; c += 4) {
          const int8_t *r = img + (y0 * row + x0 * C + c);
          int32x4_t s = vdupq_n_s32(0);
          for (y = y0; y < y1; ++y, r += row) {
            const int8_t *px = r;
            for (x = x0; x < x1; ++x, px += C) s = vaddq_s32(s, vldrbq_s32(px));
          }
          vstrwq_p_s32(acc + c, s, vctp32q((uint32_t)(C - c)));
        }
        for (c = 0; c < C; ++c) out[c] = mc_clamp_s8(mc_rounded_average(acc[c], count), p->act_min, p->act_max);
      }
    }
  }
}

#endif
