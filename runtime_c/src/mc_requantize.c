/* Requantization of a row of int32 accumulators (mc_conv.h), in a loop of its own: the conv kernels
 * sum a pixel's (or a pixel pair's) channels first and requantize them here, where few values are
 * live, instead of between the multiply-accumulates where every register is taken.
 *
 * Each channel's constants come folded at compile time (microc/codegen/ops/common.py requant_table).
 * For a right shift R >= 1 and a multiplier m >= 0 (QuantizeMultiplier's for scales below 1/2),
 * TFLM's RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, m), R) equals
 *   floor((x * m + 2^30 + 2^(30 + R) - [x < 0] * 2^31) / 2^(31 + R)),
 * one 64-bit multiply-add and the high word shifted by R - 1: SRDHM's rounding is floor((x * m +
 * 2^30) / 2^31) for either sign (mc_common.h), RoundingDivideByPOT(y, R) is floor((y + 2^(R - 1) -
 * [y < 0]) / 2^R), nested floors merge, and [y < 0] may be read as [x < 0] (they differ only when
 * y = 0, where both give 0). Other channels (R = 0, left shifts) go through mc_requantize. */
#include "mc_kernels.h"

#ifdef __AVR__
/* avr-gcc 5.4 crashes in its induction-variable pass (ICE in get_use_type) on this loop when the
 * table is a __memx pointer (the Mega 2560) */
__attribute__((optimize("no-ivopts")))
#endif
void mc_requantize_row_s8(const int32_t *acc, int32_t n, const MC_FLASH int32_t *table, int32_t zp,
                          int32_t lo, int32_t hi, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i, table += 4) {
    const int32_t x = acc[i], c_lo = MC_READ_S32(&table[0]), c_hi = MC_READ_S32(&table[1]);
    const int32_t m = MC_READ_S32(&table[2]), r1 = MC_READ_S32(&table[3]);
    int32_t v;
    if (r1 >= 0) {
      int64_t s = (int64_t)(((uint64_t)(uint32_t)c_hi << 32) | (uint32_t)c_lo);
      s += (int64_t)x * m;
      s -= (int64_t)((uint32_t)x >> 31) << 31;
      v = (int32_t)(s >> 32) >> r1;
    } else {
      v = mc_requantize(x, m, c_lo); /* c_lo holds the shift */
    }
    out[i] = mc_clamp_s8(v + zp, lo, hi);
  }
}
