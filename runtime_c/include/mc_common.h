/* Arithmetic shared by every int8 kernel: TFLite's requantization, bit for bit.
 * MultiplyByQuantizedMultiplier = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left,
 * multiplier), right), the double rounding of TFLite Micro's reference kernels (and CMSIS-NN). */
#ifndef MC_COMMON_H
#define MC_COMMON_H
#include <stdint.h>

/* Constant data (weights, biases, multipliers); a board may place it elsewhere (e.g. AVR PROGMEM). */
#ifndef MC_WEIGHT_ATTR
#define MC_WEIGHT_ATTR __attribute__((aligned(4)))
#endif

/* Constant data that kernels read only through MC_READ_S8/S32/F32 (the int8 weights and per-channel
 * arrays of FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D; the SVMs' support vectors and coefficients), declared
 * `const T MC_FLASH name[N] MC_FLASH_ATTR` and pointed to by `const T MC_FLASH *`. Plain const data
 * would be copied to RAM on AVR, so there it stays in flash:
 * - AVRs with more than 64 KB of flash (ELPM: the Mega 2560), compiled as GNU C (as the Arduino core
 *   does; not strict ISO C): the __memx address space, whose 24-bit pointers reach all of flash;
 * - other AVRs (or strict ISO C): PROGMEM, read with LPM (pgm_read_*): the first 64 KB only;
 * - everywhere else: ordinary constants, and the accessors are plain loads. */
#if defined(__AVR__) && defined(__AVR_HAVE_ELPM__) && defined(__MEMX) && !defined(__STRICT_ANSI__)
#define MC_FLASH __memx
#define MC_FLASH_ATTR
#define MC_READ_S8(p) (*(p))
#define MC_READ_S32(p) (*(p))
#define MC_READ_F32(p) (*(p))
#elif defined(__AVR__)
#include <avr/pgmspace.h>
#define MC_FLASH
#define MC_FLASH_ATTR PROGMEM
#define MC_READ_S8(p) ((int8_t)pgm_read_byte(p))
#define MC_READ_S32(p) ((int32_t)pgm_read_dword(p))
#define MC_READ_F32(p) pgm_read_float(p)
#else
#define MC_FLASH
#define MC_FLASH_ATTR MC_WEIGHT_ATTR
#define MC_READ_S8(p) (*(p))
#define MC_READ_S32(p) (*(p))
#define MC_READ_F32(p) (*(p))
#endif

#define MC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MC_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline int32_t mc_srdhm(int32_t a, int32_t b) {
  int64_t ab;
  int32_t nudge;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? ((int32_t)1 << 30) : (1 - ((int32_t)1 << 30)); /* int may be 16-bit (AVR) */
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t mc_rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31), rounded as TFLite does:
 * RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, multiplier), right), in fewer
 * instructions (it runs once per output of every conv/FC). Two identities keep it bit-exact:
 * SRDHM's sign-dependent nudge followed by a division truncating toward zero equals
 * floor((ab + 2^30) / 2^31) for either sign, and RoundingDivideByPOT(y, e) for e >= 1 equals
 * (y >> e) + ((rem + 2^(e-1) - (y < 0)) >> e) with rem = y - ((y >> e) << e), free of overflow.
 * Checked equal to the two-step form on ~3e8 inputs (every shift in [-31, 31], edge values). */
static inline int32_t mc_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  /* Shift as unsigned: TFLite multiplies by (1 << left), which would be signed overflow in C. */
  const int32_t a = (int32_t)((uint32_t)x << left);
  int32_t y, q;
  uint32_t rem;
  if (multiplier == INT32_MIN && a == INT32_MIN) {
    y = INT32_MAX; /* the one case SRDHM saturates */
  } else {
    y = (int32_t)(((int64_t)a * multiplier + ((int64_t)1 << 30)) >> 31);
  }
  if (right == 0) return y;
  q = y >> right;
  rem = (uint32_t)y - ((uint32_t)q << right);
  return q + (int32_t)((rem + ((uint32_t)1 << (right - 1)) - ((uint32_t)y >> 31)) >> right);
}

/* mc_requantize for shift <= 0 (right = -shift) and a positive multiplier, as QuantizeMultiplier
 * makes them: no left shift, and SRDHM cannot saturate, so it is one multiply-add and a shift (the
 * identity above), then RoundingDivideByPOT. Same results as mc_requantize; for inner loops whose
 * shift is known to be <= 0 (ADD/SUB's output rescale). */
static inline int32_t mc_requantize_down(int32_t x, int32_t multiplier, int right) {
  const int32_t high = (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << 30)) >> 31);
  return mc_rounding_divide_by_pot(high, right);
}

/* TFLM's MultiplyByQuantizedMultiplier for an int64 accumulator (the 16x8 kernels, int64 bias): the
 * Q31 multiplier reduced to 16 bits, then one rounding shift by 15 - shift. Both are computed at
 * compile time (microc/codegen/quant.py: reduced_multiplier), so here mult16 and total_shift >= 1. */
static inline int32_t mc_requantize64(int64_t x, int32_t mult16, int32_t total_shift) {
  return (int32_t)((x * mult16 + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

static inline int16_t mc_clamp_s16(int32_t v, int32_t lo, int32_t hi) {
  return (int16_t)(v < lo ? lo : (v > hi ? hi : v));
}

static inline int8_t mc_clamp_s8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

static inline float mc_clamp_f32(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

#endif
