/* TensorFlow Lite Micro's signal operators (mc_signal.h), with TFLM's integer arithmetic bit for bit.
 * Narrowing conversions to int16_t wrap (two's complement, as every compiler microc targets does);
 * products that could overflow a signed type are formed in unsigned arithmetic, which wraps the same. */
#include <string.h>
#include "mc_kernels.h"

/* The bit length of x, and 32 for 0 (TFLM's MostSignificantBit32 as GCC builds it). */
static uint32_t msb32(uint32_t x) {
  uint32_t n = 0;
  if (!x) return 32;
  while (x) { x >>= 1; ++n; }
  return n;
}

static uint32_t msb64(uint64_t x) {
  uint32_t n = 0;
  if (!x) return 64;
  while (x) { x >>= 1; ++n; }
  return n;
}

void mc_signal_window(const int16_t *x, const int16_t *w, int32_t size, int32_t window, int32_t shift,
                      int16_t *y) {
  int32_t i, j;
  for (i = 0; i < size; i += window) {
    for (j = 0; j < window; ++j) {
      const int32_t raw = ((int32_t)x[i + j] * w[j]) >> shift;
      y[i + j] = (int16_t)(raw < INT16_MIN ? INT16_MIN : raw > INT16_MAX ? INT16_MAX : raw);
    }
  }
}

void mc_signal_fft_auto_scale(const int16_t *x, int32_t size, int16_t *y, int32_t *shift) {
  /* TFLM's MaxAbs16 keeps the maximum in an int16: -(-32768) wraps back to -32768, whose bit length
   * as a uint32 is 32, so such an input is not scaled (nor is all zeros: msb32(0) is 32). */
  int16_t max = 0;
  int32_t i, bits;
  for (i = 0; i < size; ++i) {
    const int32_t v = x[i];
    if (v > max) max = (int16_t)v;
    else if (-v > max) max = (int16_t)(-v);
  }
  bits = 16 - (int32_t)msb32((uint32_t)(int32_t)max) - 1;
  if (bits < 0) bits = 0;
  for (i = 0; i < size; ++i) y[i] = (int16_t)(x[i] * (1 << bits));
  *shift = bits;
}

/* ---- kissfft, FIXED_POINT 16 ---- */

typedef struct { int16_t r, i; } mc_cpx16;

#define MC_SROUND(x) ((int16_t)(((x) + (1 << 14)) >> 15))
#define MC_SMUL(a, b) ((int32_t)(a) * (b))
/* C_FIXDIV: x = round(x * (32767 / radix)) */
#define MC_FIXDIV(c, k) do { (c).r = MC_SROUND(MC_SMUL((c).r, 32767 / (k))); \
                             (c).i = MC_SROUND(MC_SMUL((c).i, 32767 / (k))); } while (0)
#define MC_CMUL(m, a, b) do { (m).r = MC_SROUND(MC_SMUL((a).r, (b).r) - MC_SMUL((a).i, (b).i)); \
                              (m).i = MC_SROUND(MC_SMUL((a).r, (b).i) + MC_SMUL((a).i, (b).r)); } while (0)

static void bfly2(mc_cpx16 *out, int32_t fstride, const mc_cpx16 *tw, int32_t m) {
  mc_cpx16 *out2 = out + m, t;
  const mc_cpx16 *tw1 = tw;
  int32_t k;
  for (k = 0; k < m; ++k, ++out, ++out2, tw1 += fstride) {
    MC_FIXDIV(*out, 2);
    MC_FIXDIV(*out2, 2);
    MC_CMUL(t, *out2, *tw1);
    out2->r = (int16_t)(out->r - t.r);
    out2->i = (int16_t)(out->i - t.i);
    out->r = (int16_t)(out->r + t.r);
    out->i = (int16_t)(out->i + t.i);
  }
}

static void bfly4(mc_cpx16 *out, int32_t fstride, const mc_cpx16 *tw, int32_t m, int32_t inverse) {
  const mc_cpx16 *tw1 = tw, *tw2 = tw, *tw3 = tw;
  mc_cpx16 s[6];
  int32_t k;
  for (k = 0; k < m; ++k, ++out) {
    MC_FIXDIV(out[0], 4);
    MC_FIXDIV(out[m], 4);
    MC_FIXDIV(out[2 * m], 4);
    MC_FIXDIV(out[3 * m], 4);
    MC_CMUL(s[0], out[m], *tw1);
    MC_CMUL(s[1], out[2 * m], *tw2);
    MC_CMUL(s[2], out[3 * m], *tw3);
    s[5].r = (int16_t)(out->r - s[1].r);
    s[5].i = (int16_t)(out->i - s[1].i);
    out->r = (int16_t)(out->r + s[1].r);
    out->i = (int16_t)(out->i + s[1].i);
    s[3].r = (int16_t)(s[0].r + s[2].r);
    s[3].i = (int16_t)(s[0].i + s[2].i);
    s[4].r = (int16_t)(s[0].r - s[2].r);
    s[4].i = (int16_t)(s[0].i - s[2].i);
    out[2 * m].r = (int16_t)(out->r - s[3].r);
    out[2 * m].i = (int16_t)(out->i - s[3].i);
    tw1 += fstride;
    tw2 += fstride * 2;
    tw3 += fstride * 3;
    out->r = (int16_t)(out->r + s[3].r);
    out->i = (int16_t)(out->i + s[3].i);
    if (inverse) {
      out[m].r = (int16_t)(s[5].r - s[4].i);
      out[m].i = (int16_t)(s[5].i + s[4].r);
      out[3 * m].r = (int16_t)(s[5].r + s[4].i);
      out[3 * m].i = (int16_t)(s[5].i - s[4].r);
    } else {
      out[m].r = (int16_t)(s[5].r + s[4].i);
      out[m].i = (int16_t)(s[5].i - s[4].r);
      out[3 * m].r = (int16_t)(s[5].r - s[4].i);
      out[3 * m].i = (int16_t)(s[5].i + s[4].r);
    }
  }
}

/* kissfft's kf_work: p sub-transforms of length m on the decimated input, then radix-p butterflies. */
static void fft_stage(const mc_rfft_s16_t *p, int32_t stage, mc_cpx16 *out, const mc_cpx16 *f, int32_t fstride) {
  const int32_t radix = p->radix[stage], m = p->span[stage];
  const mc_cpx16 *tw = (const mc_cpx16 *)(const void *)p->twiddles;
  int32_t k;
  for (k = 0; k < radix; ++k, f += fstride) {
    if (m == 1) out[k] = *f;
    else fft_stage(p, stage + 1, out + k * m, f, fstride * radix);
  }
  if (radix == 2) bfly2(out, fstride, tw, m);
  else bfly4(out, fstride, tw, m, p->inverse);
}

void mc_signal_rfft_s16(const mc_rfft_s16_t *p, const int16_t *x, int16_t *y, void *scratch) {
  const int32_t ncfft = p->fft_length / 2;
  int16_t *work = (int16_t *)scratch;
  mc_cpx16 *buf = (mc_cpx16 *)(void *)(work + p->fft_length);
  const mc_cpx16 *super = (const mc_cpx16 *)(const void *)p->super_twiddles;
  int32_t frame, k;
  for (frame = 0; frame < p->frames; ++frame) {
    mc_cpx16 *fd = (mc_cpx16 *)(void *)(y + 2 * frame * p->out_stride);
    mc_cpx16 tdc, fpk, fpnk, f1k, f2k, tw;
    memcpy(work, x + frame * p->input_length, (size_t)p->input_length * sizeof(int16_t));
    memset(work + p->input_length, 0, (size_t)(p->fft_length - p->input_length) * sizeof(int16_t));
    fft_stage(p, 0, buf, (const mc_cpx16 *)(const void *)work, 1);
    /* kiss_fftr: split the packed transform of the even and odd samples into the real spectrum */
    tdc = buf[0];
    MC_FIXDIV(tdc, 2);
    fd[0].r = (int16_t)(tdc.r + tdc.i);
    fd[ncfft].r = (int16_t)(tdc.r - tdc.i);
    fd[ncfft].i = fd[0].i = 0;
    for (k = 1; k <= ncfft / 2; ++k) {
      fpk = buf[k];
      fpnk.r = buf[ncfft - k].r;
      fpnk.i = (int16_t)(-buf[ncfft - k].i);
      MC_FIXDIV(fpk, 2);
      MC_FIXDIV(fpnk, 2);
      f1k.r = (int16_t)(fpk.r + fpnk.r);
      f1k.i = (int16_t)(fpk.i + fpnk.i);
      f2k.r = (int16_t)(fpk.r - fpnk.r);
      f2k.i = (int16_t)(fpk.i - fpnk.i);
      MC_CMUL(tw, f2k, super[k - 1]);
      fd[k].r = (int16_t)((f1k.r + tw.r) >> 1);
      fd[k].i = (int16_t)((f1k.i + tw.i) >> 1);
      fd[ncfft - k].r = (int16_t)((f1k.r - tw.r) >> 1);
      fd[ncfft - k].i = (int16_t)((tw.i - f1k.i) >> 1);
    }
  }
}

void mc_signal_irfft_s16(const mc_rfft_s16_t *p, const int16_t *x, int16_t *y, void *scratch) {
  const int32_t ncfft = p->fft_length / 2;
  mc_cpx16 *buf = (mc_cpx16 *)scratch;
  const mc_cpx16 *super = (const mc_cpx16 *)(const void *)p->super_twiddles;
  int32_t frame, k;
  for (frame = 0; frame < p->frames; ++frame) {
    const mc_cpx16 *fd = (const mc_cpx16 *)(const void *)(x + 2 * frame * p->input_length);
    mc_cpx16 fk, fnkc, fek, fok, tmp;
    /* kiss_fftri: the packed spectrum of the even and odd samples, then the inverse complex FFT */
    buf[0].r = (int16_t)(fd[0].r + fd[ncfft].r);
    buf[0].i = (int16_t)(fd[0].r - fd[ncfft].r);
    MC_FIXDIV(buf[0], 2);
    for (k = 1; k <= ncfft / 2; ++k) {
      fk = fd[k];
      fnkc.r = fd[ncfft - k].r;
      fnkc.i = (int16_t)(-fd[ncfft - k].i);
      MC_FIXDIV(fk, 2);
      MC_FIXDIV(fnkc, 2);
      fek.r = (int16_t)(fk.r + fnkc.r);
      fek.i = (int16_t)(fk.i + fnkc.i);
      tmp.r = (int16_t)(fk.r - fnkc.r);
      tmp.i = (int16_t)(fk.i - fnkc.i);
      MC_CMUL(fok, tmp, super[k - 1]);
      buf[k].r = (int16_t)(fek.r + fok.r);
      buf[k].i = (int16_t)(fek.i + fok.i);
      buf[ncfft - k].r = (int16_t)(fek.r - fok.r);
      buf[ncfft - k].i = (int16_t)(fek.i - fok.i);
      buf[ncfft - k].i = (int16_t)(buf[ncfft - k].i * -1);
    }
    fft_stage(p, 0, (mc_cpx16 *)(void *)(y + frame * p->out_stride), buf, 1);
  }
}

void mc_signal_energy(const int16_t *x, int32_t start, int32_t end, uint32_t *y) {
  int32_t i;
  for (i = start; i < end; ++i) {
    const int32_t re = x[2 * i], im = x[2 * i + 1];
    y[i] = (uint32_t)(re * re) + (uint32_t)(im * im); /* TFLM's int32 sum, wrapped */
  }
}

void mc_signal_filter_bank(const mc_filter_bank_t *p, const uint32_t *x, uint64_t *y) {
  uint64_t weighted = 0, unweighted = 0;
  int32_t c, j;
  for (c = 0; c <= p->channels; ++c) {
    const int32_t f0 = p->freq_starts[c], w0 = p->weight_starts[c];
    for (j = 0; j < p->widths[c]; ++j) {
      weighted += (uint64_t)(int64_t)p->weights[w0 + j] * (uint64_t)x[f0 + j];
      unweighted += (uint64_t)(int64_t)p->unweights[w0 + j] * (uint64_t)x[f0 + j];
    }
    if (c > 0) y[c - 1] = weighted;
    weighted = unweighted;
    unweighted = 0;
  }
}

/* TFLM's Sqrt32 (width 32, saturating at 0xFFFF) and Sqrt64 (width 64, at 0xFFFFFFFF): digit-by-digit
 * square root from the top even bit, rounded up where the remainder exceeds the root. */
static uint32_t isqrt(uint64_t num, int32_t width, uint64_t cap) {
  uint64_t res = 0, bit;
  int32_t top, iterations;
  if (num == 0) return 0;
  top = (int32_t)(width - msb64(num)) | 1;
  bit = (uint64_t)1 << (width - 1 - top);
  iterations = (width - 1 - top) / 2 + 1;
  while (iterations--) {
    if (num >= res + bit) {
      num -= res + bit;
      res = (res >> 1) + bit;
    } else {
      res >>= 1;
    }
    bit >>= 2;
  }
  if (num > res && res != cap) ++res;
  return (uint32_t)res;
}

static uint32_t sqrt64(uint64_t num) {
  return (num >> 32) == 0 ? isqrt(num, 32, 0xFFFFu) : isqrt(num, 64, 0xFFFFFFFFu);
}

void mc_signal_filter_bank_sqrt(const uint64_t *x, int32_t n, const int32_t *shift, uint32_t *y) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = sqrt64(x[i]) >> *shift;
}

void mc_signal_spectral_subtraction(const mc_spectral_subtraction_t *p, const uint32_t *x, uint32_t *y,
                                    uint32_t *noise, uint32_t *state) {
  int32_t i;
  for (i = 0; i < p->channels; ++i) {
    const uint32_t smoothing = (i & 1) ? p->alt_smoothing : p->smoothing;
    const uint32_t keep = (i & 1) ? p->alt_one_minus_smoothing : p->one_minus_smoothing;
    const uint32_t up = x[i] << p->smoothing_bits;
    uint32_t estimate, floor_, subtracted;
    state[i] = (uint32_t)(((uint64_t)up * smoothing + (uint64_t)state[i] * keep) >> p->subtraction_bits);
    estimate = state[i];
    if (estimate > up) {
      estimate = up;
      if (p->clamping) state[i] = estimate;
    }
    floor_ = (uint32_t)(((uint64_t)x[i] * p->min_signal_remaining) >> p->subtraction_bits);
    subtracted = (up - estimate) >> p->smoothing_bits;
    y[i] = subtracted > floor_ ? subtracted : floor_;
  }
  memcpy(noise, state, (size_t)p->channels * sizeof(uint32_t));
}

#define MC_PCAN_SNR_BITS 12
#define MC_PCAN_OUTPUT_BITS 6

static int16_t pcan_gain(uint32_t x, const int16_t *lut) {
  int32_t interval, frac, result;
  if (x <= 2) return lut[x];
  interval = (int32_t)msb32(x);
  lut += 4 * interval - 6;
  frac = (int16_t)(((interval < 11) ? (x << (11 - interval)) : (x >> (interval - 11))) & 0x3FF);
  result = ((int32_t)lut[2] * frac) >> 5;
  result += (int32_t)((uint32_t)lut[1] << 5);
  result = (int32_t)((uint32_t)result * (uint32_t)frac);
  result = (result + (1 << 14)) >> 15;
  result += lut[0];
  return (int16_t)result;
}

void mc_signal_pcan(const uint32_t *x, const uint32_t *noise, const int16_t *lut, int32_t n, int32_t snr_shift,
                    uint32_t *y) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const uint32_t gain = (uint32_t)(int32_t)pcan_gain(noise[i], lut);
    const uint32_t snr = (uint32_t)(((uint64_t)x[i] * gain) >> snr_shift);
    y[i] = snr < (2u << MC_PCAN_SNR_BITS)
               ? (snr * snr) >> (2 + 2 * MC_PCAN_SNR_BITS - MC_PCAN_OUTPUT_BITS)
               : (snr >> (MC_PCAN_SNR_BITS - MC_PCAN_OUTPUT_BITS)) - (1u << MC_PCAN_OUTPUT_BITS);
  }
}

/* TFLM's Log32: log2 in Q16 (the fraction corrected by the table), times ln 2 (45426 / 65536), times
 * the output scale, each step rounded; the last product wraps in uint32 as TFLM's does. */
static uint32_t log32(uint32_t x, uint32_t out_scale, const uint16_t *lut) {
  const uint32_t integer = msb32(x) - 1;
  int32_t frac = (int32_t)((int64_t)x - ((int64_t)1 << integer));
  uint32_t base, fraction, log2, loge;
  int32_t c0, c1, rel;
  if (integer < 16) frac = (int32_t)((uint32_t)frac << (16 - integer));
  else frac >>= integer - 16;
  base = (uint32_t)frac >> 9;
  c0 = lut[base];
  c1 = lut[base + 1];
  rel = ((c1 - c0) * (frac - (int32_t)(512 * base))) >> 16;
  fraction = (uint32_t)(frac + c0 + rel);
  log2 = (integer << 16) + fraction;
  loge = (uint32_t)(((uint64_t)45426 * log2 + 32768) >> 16);
  return (out_scale * loge + 32768u) >> 16;
}

void mc_signal_filter_bank_log(const uint32_t *x, int32_t n, uint32_t output_scale, uint32_t correction_bits,
                               const uint16_t *lut, int16_t *y) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const uint32_t scaled = x[i] << correction_bits;
    if (scaled > 1) {
      const uint32_t v = log32(scaled, output_scale, lut);
      y[i] = (int16_t)(v < (uint32_t)INT16_MAX ? v : (uint32_t)INT16_MAX);
    } else {
      y[i] = 0;
    }
  }
}

void mc_signal_delay(const int16_t *x, int32_t rows, int32_t frame, int32_t delay, int16_t *y, int16_t *state) {
  int32_t r, j;
  for (r = 0; r < rows; ++r, x += frame, y += frame, state += delay) {
    /* the row's stream is state[0..delay) then x[0..frame) */
    for (j = 0; j < frame; ++j) y[j] = j < delay ? state[j] : x[j - delay];
    /* forward: state[j] reads state[frame + j], which is further on and not yet overwritten */
    for (j = 0; j < delay; ++j) state[j] = frame + j < delay ? state[frame + j] : x[frame + j - delay];
  }
}

void mc_signal_framer(const mc_framer_t *p, const int16_t *x, int16_t *y, uint8_t *valid, int16_t *state) {
  int32_t r, f;
  *valid = 1;
  for (r = 0; r < p->rows; ++r, state += p->capacity + 1) {
    int16_t *buf = state + 1;
    int32_t held = state[0] + p->prefill; /* a FIFO kept at the buffer's start */
    for (f = 0; f < p->frames; ++f) {
      const int32_t k = r * p->frames + f;
      memcpy(buf + held, x + k * p->step, (size_t)p->step * sizeof(int16_t));
      held += p->step;
      if (held >= p->size) {
        memcpy(y + k * p->size, buf, (size_t)p->size * sizeof(int16_t));
        held -= p->step;
        memmove(buf, buf + p->step, (size_t)held * sizeof(int16_t));
      } else {
        *valid = 0;
      }
    }
    state[0] = (int16_t)(held - p->prefill);
  }
}

void mc_signal_stacker(const mc_stacker_t *p, const int16_t *x, int16_t *y, uint8_t *valid, int16_t *state) {
  int16_t *buf = state + 2;
  const int32_t frame = p->channels, size = p->channels * p->frames;
  int32_t held = state[0], k;
  memcpy(buf + held, x, (size_t)frame * sizeof(int16_t));
  held += frame;
  if (!state[1]) { /* the first frame stands in for the left context not seen yet */
    for (k = 0; k < p->left; ++k, held += frame) memcpy(buf + held, x, (size_t)frame * sizeof(int16_t));
    state[1] = 1;
  }
  *valid = held >= size;
  if (*valid) {
    memcpy(y, buf, (size_t)size * sizeof(int16_t));
    held -= p->step * frame;
    memmove(buf, buf + p->step * frame, (size_t)held * sizeof(int16_t));
  }
  state[0] = (int16_t)held;
}

/* One overlap-add over every frame of every row; ADD(buffer element, input element) is the sum kept. */
#define MC_OVERLAP_ADD(T, ADD)                                                                   \
  do {                                                                                          \
    int32_t r, f, i;                                                                            \
    for (r = 0; r < p->rows; ++r, state += p->size) {                                          \
      for (f = 0; f < p->frames; ++f, x += p->size, y += p->step) {                            \
        for (i = 0; i < p->size; ++i) state[i] = ADD(state[i], x[i]);                           \
        memcpy(y, state, (size_t)p->step * sizeof(T));                                         \
        memmove(state, state + p->step, (size_t)(p->size - p->step) * sizeof(T));              \
        memset(state + p->size - p->step, 0, (size_t)p->step * sizeof(T));                     \
      }                                                                                         \
    }                                                                                           \
  } while (0)

static int16_t add_sat16(int16_t a, int16_t b) {
  const int32_t v = (int32_t)a + b;
  return (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v);
}
#define MC_ADD_F32(a, b) ((a) + (b))

void mc_signal_overlap_add_s16(const mc_overlap_add_t *p, const int16_t *x, int16_t *y, int16_t *state) {
  MC_OVERLAP_ADD(int16_t, add_sat16);
}

void mc_signal_overlap_add_f32(const mc_overlap_add_t *p, const float *x, float *y, float *state) {
  MC_OVERLAP_ADD(float, MC_ADD_F32);
}
