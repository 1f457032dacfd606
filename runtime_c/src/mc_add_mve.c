/* ADD/SUB int8 of same-shape tensors on Helium (mc_mve.h): 4 elements per vector, each input's
 * rescale looked up in its table (mc_add_s8_t) by a gather load, the sum scaled to the output as
 * mc_requantize_down does (VQRDMULH, then RoundingDivideByPOT). */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

void mc_add_s8_mve(const mc_add_s8_t *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t n = p->shape.dims[0], mult = p->out_multiplier, zp = p->out_offset;
  const int32x4_t right = vdupq_n_s32(p->out_shift); /* <= 0 */
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int32_t *ta = p->a_table, *tb = p->b_table;
  int32_t i;
  for (i = 0; i + 4 <= n; i += 4) {
    const uint32x4_t ia = vreinterpretq_u32_s32(vaddq_n_s32(vldrbq_s32(a + i), 128));
    const uint32x4_t ib = vreinterpretq_u32_s32(vaddq_n_s32(vldrbq_s32(b + i), 128));
    const int32x4_t sum = vaddq_s32(vldrwq_gather_shifted_offset_s32(ta, ia),
                                    vldrwq_gather_shifted_offset_s32(tb, ib));
    int32x4_t y = mc_mve_rdbp(vqrdmulhq_n_s32(sum, mult), right);
    y = vminq_s32(vmaxq_s32(vaddq_n_s32(y, zp), lo), hi);
    vstrbq_s32(out + i, y);
  }
  for (; i < n; ++i) {
    const int32_t y = mc_requantize_down(ta[a[i] + 128] + tb[b[i] + 128], mult, -p->out_shift) + zp;
    out[i] = mc_clamp_s8(y, p->act_min, p->act_max);
  }
}

#endif
