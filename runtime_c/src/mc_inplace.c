/* In-place convolutions (mc_inplace.h): the ordinary kernels run on saved input, writing over it. */
#include "mc_kernels.h"

static void copy_row(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) dst[i] = src[i];
}

void mc_depthwise_conv2d_s8_inplace(const mc_dwconv_s8_t *p, const MC_FLASH int8_t *grouped, int32_t group,
                                    int8_t *io, int8_t *scratch) {
  const int32_t C = p->g.in_c, in_px = p->g.in_h * p->g.in_w, out_px = p->g.out_h * p->g.out_w;
  const int32_t taps = p->g.k_h * p->g.k_w;
  int8_t *plane_in = scratch, *plane_out = scratch + (size_t)in_px * group;
  mc_dwconv_s8_t q = *p;
  int32_t c, i, j;
  q.g.in_c = q.g.out_c = group;
  for (c = 0; c < C; c += group) {
    for (i = 0; i < in_px; ++i)
      for (j = 0; j < group; ++j) plane_in[i * group + j] = io[(size_t)i * C + c + j];
    q.weights = grouped + (size_t)c * taps;
    q.bias = p->bias + c;
    q.bias_raw = p->bias_raw + c;
    q.requant = p->requant + 4 * c;
    mc_depthwise_conv2d_s8(&q, plane_in, plane_out);
    for (i = 0; i < out_px; ++i)
      for (j = 0; j < group; ++j) io[(size_t)i * C + c + j] = plane_out[i * group + j];
  }
}

void mc_conv2d_s8_1x1_inplace(const mc_conv2d_s8_t *p, mc_conv2d_s8_fn kernel, int32_t rows_per_pass,
                              int8_t *io, int8_t *rows, void *kernel_scratch) {
  const int32_t passes = p->g.batches * p->g.in_h / rows_per_pass;
  const int32_t in_pass = rows_per_pass * p->g.in_w * p->g.in_c, out_pass = rows_per_pass * p->g.out_w * p->g.out_c;
  const int forward = p->g.out_c <= p->g.in_c;
  mc_conv2d_s8_t q = *p;
  int32_t n, r;
  q.g.batches = 1;
  q.g.in_h = q.g.out_h = q.g.oy_end = rows_per_pass;
  q.g.oy_begin = 0;
  for (n = 0; n < passes; ++n) {
    r = forward ? n : passes - 1 - n;
    copy_row(rows, io + (size_t)r * in_pass, in_pass);
    kernel(&q, rows, io + (size_t)r * out_pass, kernel_scratch);
  }
}

void mc_conv2d_s8_rows_inplace(const mc_conv2d_s8_t *p, mc_conv2d_s8_fn kernel, int8_t *io, int8_t *window,
                               void *kernel_scratch) {
  const int32_t H = p->g.in_h, K = p->g.k_h, row = p->g.in_w * p->g.in_c, out_row = p->g.out_w * p->g.out_c;
  mc_conv2d_s8_t q = *p;
  int32_t y, i, r0 = 0, r1 = 0; /* the window holds input rows [r0, r1) */
  q.g.out_h = 1;
  for (y = 0; y < p->g.out_h; ++y) {
    const int32_t lo = y - p->g.pad_top, n0 = lo > 0 ? lo : 0, n1 = lo + K < H ? lo + K : H;
    /* rows [n0, y) are overwritten in io by now: they move down in the window; rows from y on are
     * still the input's in io */
    copy_row(window, window + (n0 - r0) * row, (y - n0) * row); /* forward: the source lies higher */
    for (i = y; i < n1; ++i) copy_row(window + (i - n0) * row, io + (size_t)i * row, row);
    r0 = n0;
    r1 = n1;
    q.g.in_h = r1 - r0;
    q.g.pad_top = r0 - lo;
    q.g.oy_begin = 0;
    q.g.oy_end = r1 - r0 == K ? 1 : 0;
    kernel(&q, window, io + (size_t)y * out_row, kernel_scratch);
  }
}
