/* CONV_2D int8 on Helium (mc_mve.h): pixels two at a time through the GEMM (mc_mve_pixels pairs
 * them), the interior read in place, border pixels (and every pixel of a filter with short rows)
 * gathered first. */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

static void conv_pair(const void *params, const int8_t *x0, const int8_t *x1, int8_t *o0, int8_t *o1,
                      int gathered) {
  const mc_conv2d_mve_t *p = (const mc_conv2d_mve_t *)params;
  mc_mve_gemm_s8(&p->gemm, gathered ? p->patch : p->image, x0, x1, o0, o1);
}

void mc_conv2d_s8_mve(const mc_conv2d_mve_t *p, const int8_t *in, int8_t *out) {
  mc_mve_pixels(&p->g, p->in_zp, p->gathered, in, out, conv_pair, p);
}

#endif
