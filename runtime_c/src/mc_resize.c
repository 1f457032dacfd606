/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (mc_resize.h). */
#include <string.h>
#include "mc_kernels.h"

void mc_resize_nearest(const mc_resize_nearest_t *p, const uint8_t *in, uint8_t *out) {
  const size_t pixel = (size_t)p->pixel_bytes, row = pixel * (size_t)p->in_w;
  int32_t b, y, x;
  for (b = 0; b < p->batches; ++b, in += row * (size_t)p->in_h) {
    for (y = 0; y < p->out_h; ++y) {
      const uint8_t *src = in + (size_t)p->rows[y] * row;
      for (x = 0; x < p->out_w; ++x, out += pixel) memcpy(out, src + (size_t)p->cols[x] * pixel, pixel);
    }
  }
}

/* The four corner pixels of output (y, x) in batch image `img`, channel c at [c]. */
#define MC_CORNERS(T)                                                              \
  const size_t row_ = (size_t)p->in_w * (size_t)p->channels;                       \
  const T *a = img + p->y0[y] * row_ + (size_t)p->x0[x] * (size_t)p->channels;     \
  const T *b = img + p->y1[y] * row_ + (size_t)p->x0[x] * (size_t)p->channels;     \
  const T *c_ = img + p->y0[y] * row_ + (size_t)p->x1[x] * (size_t)p->channels;    \
  const T *d = img + p->y1[y] * row_ + (size_t)p->x1[x] * (size_t)p->channels

void mc_resize_bilinear_f32(const mc_resize_bilinear_t *p, const float *in, float *out) {
  const size_t image = (size_t)p->in_h * (size_t)p->in_w * (size_t)p->channels;
  int32_t n, y, x, c;
  for (n = 0; n < p->batches; ++n) {
    const float *img = in + n * image;
    for (y = 0; y < p->out_h; ++y) {
      const float dy = p->pos_y[y] - (float)p->y0[y];
      for (x = 0; x < p->out_w; ++x) {
        const float dx = p->pos_x[x] - (float)p->x0[x];
        MC_CORNERS(float);
        /* TFLM's expression, term by term */
        for (c = 0; c < p->channels; ++c)
          *out++ = a[c] * (1 - dy) * (1 - dx) + b[c] * dy * (1 - dx) + c_[c] * (1 - dy) * dx + d[c] * dy * dx;
      }
    }
  }
}

void mc_resize_bilinear_s8(const mc_resize_bilinear_t *p, const int8_t *in, int8_t *out) {
  const size_t image = (size_t)p->in_h * (size_t)p->in_w * (size_t)p->channels;
  int32_t n, y, x, c;
  for (n = 0; n < p->batches; ++n) {
    const int8_t *img = in + n * image;
    for (y = 0; y < p->out_h; ++y) {
      const int64_t wy = p->w_y[y];
      for (x = 0; x < p->out_w; ++x) {
        const int64_t wx = p->w_x[x];
        MC_CORNERS(int8_t);
        for (c = 0; c < p->channels; ++c) {
          const int64_t sum = a[c] * (1024 - wy) * (1024 - wx) + b[c] * wy * (1024 - wx) +
                              c_[c] * (1024 - wy) * wx + d[c] * wy * wx;
          *out++ = (int8_t)((sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
        }
      }
    }
  }
}
