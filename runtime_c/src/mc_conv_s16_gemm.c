/* The 16x8 CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV as matrix products over int16 weights
 * (mc_conv.h, "The 16x8 kernels of the schedules with int16 weights"): int16 inputs and int16 weights
 * pair up in SMLAD's lanes with no unpacking, four output channels per input load. The portable C
 * below computes the same int32 partial sums (so a sanitized host build checks their bound). */
#define MC_CONV_IMPL
#include <string.h>
#include "mc_kernels.h"

/* Four channels' int64 sums, fed int32 partial sums over at most MC_S16_RUN_CHUNKS chunks. */
typedef struct {
  int64_t a[4];
  mc_acc4_t s;
  int32_t held; /* chunks in s */
} sums_t;

static void sums_flush(sums_t *t) {
  t->a[0] += t->s.s0, t->a[1] += t->s.s1, t->a[2] += t->s.s2, t->a[3] += t->s.s3;
  t->s.s0 = t->s.s1 = t->s.s2 = t->s.s3 = 0;
  t->held = 0;
}

static void sums_init(sums_t *t) {
  t->a[0] = t->a[1] = t->a[2] = t->a[3] = 0;
  t->s.s0 = t->s.s1 = t->s.s2 = t->s.s3 = 0;
  t->held = 0;
}

/* s + the 4 rows of w ([n][4][2] words) times x (n chunks of 4 int16, 4-byte aligned), n > 0. */
static inline mc_acc4_t dot4(const int16_t *x, const int32_t *w, int32_t n, mc_acc4_t s) {
#ifdef MC_CONV_SIMD
  return mc_dot_4rows_w16((const int32_t *)(const void *)x, w, n, s);
#else
  int32_t c, h, r, sum[4];
  sum[0] = s.s0, sum[1] = s.s1, sum[2] = s.s2, sum[3] = s.s3;
  for (c = 0; c < n; ++c, x += 4, w += 8)
    for (r = 0; r < 4; ++r)
      for (h = 0; h < 2; ++h) {
        const int32_t word = w[2 * r + h];
        sum[r] += x[2 * h] * (int16_t)(word & 0xFFFF) + x[2 * h + 1] * (int16_t)((uint32_t)word >> 16);
      }
  s.s0 = sum[0], s.s1 = sum[1], s.s2 = sum[2], s.s3 = sum[3];
  return s;
#endif
}

/* t += x (chunks of 4 values) times the 4 rows of w. */
static void sums_add(sums_t *t, const int16_t *x, const int32_t *w, int32_t chunks) {
  while (chunks > 0) {
    int32_t n = MC_S16_RUN_CHUNKS - t->held;
    if (n == 0) {
      sums_flush(t);
      n = MC_S16_RUN_CHUNKS;
    }
    if (n > chunks) n = chunks;
    t->s = dot4(x, w, n, t->s);
    t->held += n, x += 4 * n, w += 8 * n, chunks -= n;
  }
}

/* out[o] (o < out_c) for one input vector of `chunks` chunks: every block of 4 channels. */
static void gemm_s16(const mc_s16_requant_t *q, int32_t out_c, const int16_t *x, int32_t chunks,
                     int16_t *out) {
  const int32_t *w = (const int32_t *)(const void *)q->weights;
  int32_t o, r;
  for (o = 0; o < out_c; o += 4, w += 8 * chunks) {
    sums_t t;
    sums_init(&t);
    sums_add(&t, x, w, chunks);
    sums_flush(&t);
    for (r = 0; r < 4 && o + r < out_c; ++r) out[o + r] = mc_requant_s16(q, t.a[r], o + r);
  }
}

/* GCC makes library calls of these loops in any case; the tests skip the calls for empty runs. */
static inline void copy_s16(int16_t *dst, const int16_t *src, int32_t n) {
  if (n > 0) memcpy(dst, src, (size_t)n * sizeof(int16_t));
}

static inline void zero_s16(int16_t *dst, int32_t n) {
  if (n > 0) memset(dst, 0, (size_t)n * sizeof(int16_t));
}

/* The patch of output pixel (oy, ox) in the weights' order: padded taps and the tail (to len) zero. */
static void gather_patch(const mc_conv_geom_t *g, const int16_t *image, int32_t oy, int32_t ox, int32_t len,
                         int16_t *patch) {
  const mc_conv_window_t w = mc_conv_window(g, oy, ox);
  const int32_t row = g->k_w * g->in_c;
  int32_t ky, kx;
  for (ky = 0; ky < g->k_h; ++ky, patch += row) {
    const int16_t *src = image + w.origin + ky * g->dil_h * g->in_w * g->in_c;
    if (ky < w.ky0 || ky >= w.ky1 || w.kx0 >= w.kx1) {
      zero_s16(patch, row);
    } else if (g->dil_w == 1) { /* the taps inside the image are one run */
      zero_s16(patch, w.kx0 * g->in_c);
      copy_s16(patch + w.kx0 * g->in_c, src + w.kx0 * g->in_c, (w.kx1 - w.kx0) * g->in_c);
      zero_s16(patch + w.kx1 * g->in_c, row - w.kx1 * g->in_c);
    } else {
      for (kx = 0; kx < g->k_w; ++kx) {
        if (kx < w.kx0 || kx >= w.kx1) zero_s16(patch + kx * g->in_c, g->in_c);
        else copy_s16(patch + kx * g->in_c, src + kx * g->dil_w * g->in_c, g->in_c);
      }
    }
  }
  zero_s16(patch, len - g->k_h * row);
}

void mc_conv2d_s16_pixels(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out, int32_t lanes,
                          mc_s16_gemm_fn gemm) {
  const mc_conv_geom_t *g = &p->g;
  int16_t patch[p->patch_len] __attribute__((aligned(8))); /* C99 VLA: at most MC_S16_GEMM_MAX_K */
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const int16_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    for (oy = 0; oy < g->out_h; ++oy)
      for (ox = 0; ox < g->out_w; ++ox, out += g->out_c) {
        gather_patch(g, image, oy, ox, p->patch_len, patch);
        gemm(&p->q, g->out_c, patch, p->patch_len / lanes, out);
      }
  }
}

void mc_conv2d_gemm_s16(const mc_conv2d_s16_t *p, const int16_t *in, int16_t *out) {
  mc_conv2d_s16_pixels(p, in, out, 4, gemm_s16);
}

void mc_fully_connected_w16_s16(const mc_fc_s16_t *p, const int16_t *in, int16_t *out) {
  const int32_t n = p->in_features, chunks = (n + 3) >> 2;
  int16_t x[4 * chunks] __attribute__((aligned(8))); /* one batch, aligned, zero-padded */
  int32_t b;
  for (b = 0; b < p->batches; ++b, in += n, out += p->out_features) {
    copy_s16(x, in, n);
    zero_s16(x + n, 4 * chunks - n);
    gemm_s16(&p->q, p->out_features, x, chunks, out);
  }
}

/* The input index that filter tap k brings to output index o, or -1 (as mc_conv_s16.c's). */
static int32_t tap_input(int32_t o, int32_t k, int32_t pad, int32_t stride, int32_t n) {
  const int32_t t = o + pad - k;
  if (t < 0 || t % stride) return -1;
  return t / stride < n ? t / stride : -1;
}

/* The input pixels that reach output pixel (oy, ox), k values each (in_c, then zeros), and their filter
 * taps; returns how many. */
static int32_t gather_taps(const mc_tconv_geom_t *g, const int16_t *image, int32_t oy, int32_t ox, int32_t k,
                           int16_t *patch, int32_t *taps) {
  int32_t n = 0, ky, kx;
  for (ky = 0; ky < g->k_h; ++ky) {
    const int32_t iy = tap_input(oy, ky, g->pad_top, g->stride_h, g->in_h);
    for (kx = 0; iy >= 0 && kx < g->k_w; ++kx) {
      const int32_t ix = tap_input(ox, kx, g->pad_left, g->stride_w, g->in_w);
      if (ix < 0) continue;
      copy_s16(patch + n * k, image + ((size_t)iy * g->in_w + ix) * g->in_c, g->in_c);
      zero_s16(patch + n * k + g->in_c, k - g->in_c);
      taps[n++] = ky * g->k_w + kx;
    }
  }
  return n;
}

void mc_tconv_s16_pixels(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out, int32_t lanes,
                         mc_s16_taps_fn fn) {
  const mc_tconv_geom_t *g = &p->g;
  const int32_t k = (g->in_c + lanes - 1) / lanes * lanes;
  int16_t patch[p->patch_len] __attribute__((aligned(8))); /* the pixel's input pixels, k values each */
  int32_t taps[p->patch_len / k];                           /* and their filter taps */
  int32_t b, oy, ox;
  for (b = 0; b < g->batches; ++b) {
    const int16_t *image = in + (size_t)b * g->in_h * g->in_w * g->in_c;
    for (oy = 0; oy < g->out_h; ++oy)
      for (ox = 0; ox < g->out_w; ++ox, out += g->out_c)
        fn(p, patch, k, taps, gather_taps(g, image, oy, ox, k, patch, taps), out);
  }
}

/* One output pixel of TRANSPOSE_CONV: per block of 4 channels, the sum over its n taps. */
static void tconv_taps(const mc_tconv_s16_t *p, const int16_t *patch, int32_t k, const int32_t *taps,
                       int32_t n, int16_t *out) {
  const int32_t chunks = k >> 2, blocks = (p->g.out_c + 3) >> 2;
  const int32_t *w = (const int32_t *)(const void *)p->q.weights;
  int32_t o, r, i;
  for (o = 0; o < blocks; ++o) {
    sums_t t;
    sums_init(&t);
    for (i = 0; i < n; ++i) sums_add(&t, patch + i * k, w + ((size_t)taps[i] * blocks + o) * chunks * 8, chunks);
    sums_flush(&t);
    for (r = 0; r < 4 && 4 * o + r < p->g.out_c; ++r) out[4 * o + r] = mc_requant_s16(&p->q, t.a[r], 4 * o + r);
  }
}

void mc_transpose_conv_w16_s16(const mc_tconv_s16_t *p, const int16_t *in, int16_t *out) {
  mc_tconv_s16_pixels(p, in, out, 4, tconv_taps);
}
