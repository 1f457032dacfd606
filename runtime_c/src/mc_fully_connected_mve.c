/* FULLY_CONNECTED int8 on Helium (mc_mve.h): batch rows two at a time through the GEMM. */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

void mc_fully_connected_s8_mve(const mc_fc_mve_t *p, const int8_t *in, int8_t *out) {
  const int32_t n = p->in_features, m = p->gemm.out_c;
  mc_mve_layout_t l;
  int32_t b;
  l.rows = 1;
  l.row_step = 0;
  l.run = n;
  for (b = 0; b + 1 < p->batches; b += 2)
    mc_mve_gemm_s8(&p->gemm, l, in + (size_t)b * n, in + (size_t)(b + 1) * n, out + (size_t)b * m,
                   out + (size_t)(b + 1) * m);
  if (b < p->batches) mc_mve_gemm_s8(&p->gemm, l, in + (size_t)b * n, 0, out + (size_t)b * m, 0);
}

#endif
