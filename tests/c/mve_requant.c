/* The Helium requantization (mc_mve_requant, mc_mve_rdbp in mc_mve.h) against the scalar
 * mc_requantize and mc_requantize_down (themselves checked against TFLite's two-step form by
 * tests/test_ops_conv.py) on 240,000 lanes of random and edge inputs, every shift in [-31, 30]. Prints
 * "ok" (and exits 0) when every lane matched, else "bad" (exit 1). Replaces main.c of a project for mps3-an547
 * (tests/test_mve.py). */
#define MC_MVE_IMPL
#include "mc_kernels.h"
#include "mc_platform.h"

static uint32_t s = 2463534242u;
static uint32_t rnd(void) {
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

static const int32_t edge[] = {0, 1, -1, 2, -2, INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1, 1 << 30,
                               -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1, 65536, -65536, 3, -3};
#define N_EDGE ((int32_t)(sizeof edge / sizeof edge[0]))

static int32_t value(void) {
  const uint32_t r = rnd();
  return (r & 1) ? (int32_t)rnd() >> (rnd() % 32) : edge[rnd() % N_EDGE];
}

int main(void) {
  const int32x4_t lo = vdupq_n_s32(INT32_MIN), hi = vdupq_n_s32(INT32_MAX);
  uint32_t bad = 0, checked = 0, i;
  const char *t;
  int32_t j;
  mc_platform_init();
  for (i = 0; i < 60000u; ++i) {
    int32_t x[4], m[4], left[4], right[4], got[4], down[4];
    int32_t sh = 0;
    mc_mve_q_t q;
    for (j = 0; j < 4; ++j) {
      const uint32_t r = rnd();
      sh = (int32_t)(rnd() % 62) - 31;
      x[j] = value();
      m[j] = (r & 2) ? (int32_t)rnd() : (r & 4) ? edge[rnd() % N_EDGE] : (int32_t)(rnd() >> 1);
      left[j] = sh > 0 ? sh : 0;
      right[j] = sh > 0 ? 0 : sh;
    }
    q.mult = vldrwq_s32(m);
    q.left = vldrwq_s32(left);
    q.right = vldrwq_s32(right);
    vstrwq_s32(got, mc_mve_requant(vldrwq_s32(x), q, 0, lo, hi));
    /* ADD's output rescale: one positive multiplier, one shift <= 0 (the last lane's) */
    vstrwq_s32(down, mc_mve_rdbp(vqrdmulhq_n_s32(vldrwq_s32(x), m[3] & INT32_MAX), vdupq_n_s32(right[3])));
    for (j = 0; j < 4; ++j, ++checked) {
      bad += got[j] != mc_requantize(x[j], m[j], left[j] + right[j]);
      bad += down[j] != mc_requantize_down(x[j], m[3] & INT32_MAX, -right[3]);
    }
  }
  for (t = bad || checked != 240000u ? "bad\n" : "ok\n"; *t; ++t) mc_uart_putc((uint8_t)*t);
  mc_exit(bad != 0);
  return 0;
}
