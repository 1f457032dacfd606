/* DEPTHWISE_CONV_2D int8 (depth multiplier 1) on Helium (mc_mve.h): 8 channels per vector, int8
 * loads widened to int16 lanes, VMULLB/VMULLT giving the even and odd channels' int32 products (MVE
 * has no lane-wise multiply-accumulate), two pixels per weight load (mc_mve_pixels pairs them). */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

typedef struct {
  int32x4_t e0, d0, e1, d1; /* even and odd channels of pixel 0, then pixel 1 */
} acc_t;

/* Every tap of 8 channels of pixels x0 and x1 (at tap (0, 0)), weights from w (8 per tap), into s.
 * In assembly: GCC's intrinsic form recomputes addresses and moves vectors in the tap loop. */
static inline __attribute__((always_inline)) void taps_s8(acc_t *s, const int8_t *x0, const int8_t *x1,
                                                         const int8_t *w, int32_t k_h, int32_t k_w,
                                                         int32_t tap_step, int32_t row_adv) {
  int32x4_t e0 = s->e0, d0 = s->d0, e1 = s->e1, d1 = s->d1;
  int32_t ky;
  __asm__ volatile(
      "mov %[ky], %[kh]\n"
      "2:\n"
      "dls lr, %[kw]\n"
      "1:\n"
      "vldrb.s16 q4, [%[w]], #8\n"
      "vldrb.s16 q5, [%[x0]]\n"
      "vmullb.s16 q6, q5, q4\n"
      "vadd.i32 %q[e0], %q[e0], q6\n"
      "vmullt.s16 q6, q5, q4\n"
      "vadd.i32 %q[d0], %q[d0], q6\n"
      "vldrb.s16 q5, [%[x1]]\n"
      "vmullb.s16 q6, q5, q4\n"
      "vadd.i32 %q[e1], %q[e1], q6\n"
      "vmullt.s16 q6, q5, q4\n"
      "vadd.i32 %q[d1], %q[d1], q6\n"
      "add %[x0], %[x0], %[ts]\n"
      "add %[x1], %[x1], %[ts]\n"
      "le lr, 1b\n"
      "add %[x0], %[x0], %[adv]\n"
      "add %[x1], %[x1], %[adv]\n"
      "subs %[ky], %[ky], #1\n"
      "bne 2b\n"
      : [e0] "+w"(e0), [d0] "+w"(d0), [e1] "+w"(e1), [d1] "+w"(d1), [x0] "+r"(x0), [x1] "+r"(x1),
        [w] "+r"(w), [ky] "=&r"(ky)
      : [kh] "r"(k_h), [kw] "r"(k_w), [ts] "r"(tap_step), [adv] "r"(row_adv)
      : "q4", "q5", "q6", "lr", "cc", "memory");
  s->e0 = e0, s->d0 = d0, s->e1 = e1, s->d1 = d1;
}

/* Channels [c, c + 8) of one pixel back in channel order from their even and odd lanes,
 * requantized with the block's constants q, clamped, stored (n < 8: the first n). The zero point and
 * the clamp apply to int16 lanes after a saturating narrowing: the same results as in int32, since
 * the clamp range lies inside int16, and half the instructions. */
static inline void store8(int8_t *o, int32x4_t even, int32x4_t odd, const int32_t *q,
                          const mc_dwconv_mve_t *p, int32_t n) {
  const int32x4_t ye = mc_mve_scale(even, mc_mve_load_q(q)), yo = mc_mve_scale(odd, mc_mve_load_q(q + 16));
  int16x8_t v = vqmovntq_s32(vqmovnbq_s32(vreinterpretq_s16_s32(ye), ye), yo);
  v = vqaddq_n_s16(v, (int16_t)p->out_zp);
  v = vminq_s16(vmaxq_s16(v, vdupq_n_s16((int16_t)p->act_min)), vdupq_n_s16((int16_t)p->act_max));
  if (n >= 8)
    vstrbq_s16(o, v);
  else
    vstrbq_p_s16(o, v, vctp16q((uint32_t)n));
}

static void dw_pair(const void *params, const int8_t *x0, const int8_t *x1, int8_t *o0, int8_t *o1,
                    int gathered) {
  const mc_dwconv_mve_t *p = (const mc_dwconv_mve_t *)params;
  const mc_conv_geom_t *g = &p->g;
  const int32_t C = g->out_c, taps = g->k_h * g->k_w;
  const int32_t tap_step = gathered ? C : g->dil_w * C;
  const int32_t row_step = gathered ? g->k_w * C : g->dil_h * g->in_w * C;
  const int32_t *q = p->qparams;
  const int8_t *w = p->weights;
  int32_t c;
  if (!x1) x1 = x0;
  for (c = 0; c < C; c += 8, q += 32, w += taps * 8) {
    acc_t s;
    s.e0 = s.e1 = vldrwq_s32(q); /* the biases */
    s.d0 = s.d1 = vldrwq_s32(q + 16);
    taps_s8(&s, x0 + c, x1 + c, w, g->k_h, g->k_w, tap_step, row_step - g->k_w * tap_step);
    store8(o0 + c, s.e0, s.d0, q, p, C - c);
    if (o1) store8(o1 + c, s.e1, s.d1, q, p, C - c);
  }
}

void mc_depthwise_conv2d_s8_mve(const mc_dwconv_mve_t *p, const int8_t *in, int8_t *out) {
  mc_mve_pixels(&p->g, p->in_zp, 0, in, out, dw_pair, p);
}

#endif
