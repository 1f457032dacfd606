/* TensorFlow Lite Micro's signal library (the custom operators of its audio front ends: Signal*), with
 * the integer arithmetic of TFLM's kernels bit for bit: C's own conversions (narrowing wraps), shifts
 * and unsigned wrap-around, as TFLM's sources do them. Each kernel's comment names what it computes;
 * docs/signal.md has the operator table. */
#ifndef MC_SIGNAL_H
#define MC_SIGNAL_H
#include <stdint.h>

/* SignalWindow: y = saturate_int16((x * w) >> shift), the window repeated over the input. */
void mc_signal_window(const int16_t *x, const int16_t *w, int32_t size, int32_t window, int32_t shift,
                      int16_t *y);

/* SignalFftAutoScale: the left shift that brings max|x| to bit 14 (0 for an all-zero input or one
 * holding -32768, as TFLM's int16 arithmetic gives), y = x << shift (wrapping to int16). */
void mc_signal_fft_auto_scale(const int16_t *x, int32_t size, int16_t *y, int32_t *shift);

/* SignalRfft, int16: kissfft's fixed-point real FFT (FIXED_POINT 16: every butterfly divides by its
 * radix with rounding), for fft lengths that are powers of two (radix-4 stages, one radix-2 last).
 * Frames of `input_length` samples are zero-padded to fft_length; each gives fft_length/2 + 1 complex
 * (re, im) int16 outputs. Twiddles (kissfft's floor(0.5 + 32767 cos), sin) come from the compiler.
 * Scratch: 4 * fft_length bytes. */
#define MC_FFT_MAX_STAGES 16
typedef struct {
  int32_t fft_length, input_length, frames, out_stride;
  int32_t stages;
  int32_t radix[MC_FFT_MAX_STAGES], span[MC_FFT_MAX_STAGES]; /* kissfft's factors: p, m per stage */
  const int16_t *twiddles;       /* fft_length / 2 complex */
  const int16_t *super_twiddles; /* fft_length / 4 complex */
  int32_t inverse;               /* SignalIrfft: kissfft's inverse twiddles and butterflies */
} mc_rfft_s16_t;
void mc_signal_rfft_s16(const mc_rfft_s16_t *p, const int16_t *x, int16_t *y, void *scratch);
/* SignalIrfft, int16: kiss_fftri, the inverse of the above (scaled as kissfft's fixed point does): frames
 * of `input_length` complex inputs (the first fft_length/2 + 1 used) to `out_stride` samples (the first
 * fft_length written). Scratch: 2 * fft_length bytes. */
void mc_signal_irfft_s16(const mc_rfft_s16_t *p, const int16_t *x, int16_t *y, void *scratch);

/* SignalEnergy: y[i] = re^2 + im^2 (uint32) for start <= i < end; the rest is not written (as TFLM). */
void mc_signal_energy(const int16_t *x, int32_t start, int32_t end, uint32_t *y);

/* SignalFilterBank: triangular mel channels over uint32 energies, uint64 sums of int16 weights (each
 * sign-extended, the products wrapping mod 2^64); channel 0 of TFLM's is scratch and not output. */
typedef struct {
  int32_t channels;
  const int16_t *freq_starts, *weight_starts, *widths; /* [channels + 1] */
  const int16_t *weights, *unweights;
} mc_filter_bank_t;
void mc_signal_filter_bank(const mc_filter_bank_t *p, const uint32_t *x, uint64_t *y);

/* SignalFilterBankSquareRoot: y = isqrt_rounded(x) >> *shift (the shift is a run-time tensor). */
void mc_signal_filter_bank_sqrt(const uint64_t *x, int32_t n, const int32_t *shift, uint32_t *y);

/* SignalFilterBankSpectralSubtraction: a per-channel noise estimate (state, kept between invokes,
 * zero after reset) smoothed in fixed point, subtracted with a floor; `noise` gets its copy. */
typedef struct {
  int32_t channels;
  uint32_t smoothing, one_minus_smoothing, alt_smoothing, alt_one_minus_smoothing;
  uint32_t min_signal_remaining, smoothing_bits, subtraction_bits;
  int32_t clamping;
} mc_spectral_subtraction_t;
void mc_signal_spectral_subtraction(const mc_spectral_subtraction_t *p, const uint32_t *x, uint32_t *y,
                                    uint32_t *noise, uint32_t *state);

/* SignalPCAN: per-channel automatic gain control from the noise estimate through the gain table
 * (interpolated piecewise), then the SNR shrink of 12 to 6 bits. */
void mc_signal_pcan(const uint32_t *x, const uint32_t *noise, const int16_t *lut, int32_t n, int32_t snr_shift,
                    uint32_t *y);

/* SignalFilterBankLog: y = min(32767, round(output_scale * ln(x << correction_bits))) in TFLM's
 * fixed-point log (log2 through a 129-entry correction table; 0 where the shifted input is <= 1). */
void mc_signal_filter_bank_log(const uint32_t *x, int32_t n, uint32_t output_scale, uint32_t correction_bits,
                               const uint16_t *lut, int16_t *y);

/* SignalDelay: each row of `frame` samples comes out `delay` samples late: y is the row's state (the
 * last `delay` samples, zero after reset) followed by x, cut to `frame`; the rest is the next state. */
void mc_signal_delay(const int16_t *x, int32_t rows, int32_t frame, int32_t delay, int16_t *y, int16_t *state);

/* SignalFramer: each row's samples, `step` at a time, into overlapping frames of `size` samples
 * (frames: inner / step per row). State per row, `capacity` + 1 int16: the samples held minus the
 * prefilled ones (so zero after reset), then the samples (zeros after reset, the prefill's). A frame
 * not yet complete is not written and clears *valid, as TFLM. */
typedef struct {
  int32_t rows, frames, size, step, capacity, prefill; /* prefill: size - step zeros after reset */
} mc_framer_t;
void mc_signal_framer(const mc_framer_t *p, const int16_t *x, int16_t *y, uint8_t *valid, int16_t *state);

/* SignalStacker: the last left + 1 + right frames of `channels` samples, one frame per invoke, the first
 * repeated `left` times more; output (and *valid) once that many are held, then `step` frames dropped.
 * State: the samples held, whether the first frame came, then `frames` frames (all zero after reset). */
typedef struct {
  int32_t channels, frames, left, step;
} mc_stacker_t;
void mc_signal_stacker(const mc_stacker_t *p, const int16_t *x, int16_t *y, uint8_t *valid, int16_t *state);

/* SignalOverlapAdd: each frame of `size` samples added into the row's state (int16 saturating, float
 * plain), the first `step` samples out, the state shifted by `step` (zeros in). State: size per row. */
typedef struct {
  int32_t rows, frames, size, step;
} mc_overlap_add_t;
void mc_signal_overlap_add_s16(const mc_overlap_add_t *p, const int16_t *x, int16_t *y, int16_t *state);
void mc_signal_overlap_add_f32(const mc_overlap_add_t *p, const float *x, float *y, float *state);
#endif
