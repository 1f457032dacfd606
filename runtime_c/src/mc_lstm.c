/* UNIDIRECTIONAL_SEQUENCE_LSTM as TFLM's EvalLstm (kernels/lstm_eval.h, lstm_eval.cc): the int8 kernel
 * with int16 cell state (gates in Q3.12 from two FCs with saturating int16 sums, TFLM's int16 sigmoid
 * and tanh from its 256-entry table, the inter-gate multiplications requantized as MulElementwise),
 * and float32. One step at a time over `rows` rows of the state; the same buffers as TFLM's. */
#include <string.h>
#include <math.h>
#include "mc_common.h"
#include "mc_conv.h"
#include "mc_recurrent.h"

enum { FORGET = 0, INPUT = 1, CELL = 2, OUTPUT = 3 };

/* tflite/kernels/internal/common.h sigmoid_table_uint16: 65536 * sigmoid(i / 32), i in [0, 255]. */
static const uint16_t sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535};

static int32_t clamp_s16(int32_t v) { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }

/* reference_integer_ops::Logistic(0, 0, ...): Q3.12 in (times 3 = Q4.11 * 2^-9 steps), Q0.15 out. */
static int16_t sigmoid_s16(int16_t x) {
  const int32_t in = x * 3;
  const uint32_t a = (uint32_t)(in < 0 ? -in : in);
  const uint32_t uh = a >> 9;
  uint32_t result;
  if (uh >= 255) {
    result = 0x7FFFu << 10;
  } else {
    const uint32_t ua = sigmoid_table[uh], ub = sigmoid_table[uh + 1];
    result = (ua << 9) + (a & 0x1FFu) * (ub - ua);
  }
  result = in >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
  return (int16_t)(result >> 10);
}

/* reference_integer_ops::Tanh with the input multiplier and shift lstm_internal::Tanh derives. */
static int16_t tanh_s16(int16_t x, int32_t mult, int32_t shift) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  const int32_t in = (x * mult + round) >> shift;
  const uint32_t a = (uint32_t)(in < 0 ? -in : in);
  const uint32_t uh = a >> 8;
  int32_t result;
  if (uh >= 255) {
    result = 0xFFFF << 8;
  } else {
    const uint32_t ua = sigmoid_table[uh], ub = sigmoid_table[uh + 1];
    result = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
  }
  result = in >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
  return (int16_t)(result >> 8);
}

/* mc_requantize(x, mult, shift) of many values by one multiplier and shift: for a right shift R >= 1 and
 * mult >= 0 (QuantizeMultiplier's for scales below 1/2: the LSTM's) one 64-bit multiply-add per value,
 * floor((x * mult + 2^30 + 2^(30 + R) - [x < 0] * 2^31) / 2^(31 + R)) (the identity of mc_requantize.c),
 * else mc_requantize itself. */
typedef struct {
  int64_t round;
  int32_t mult, shift, r1; /* r1 = R - 1, or -1: mc_requantize */
} requant_t;

static requant_t requant_of(int32_t mult, int32_t shift) {
  requant_t q;
  q.mult = mult, q.shift = shift, q.r1 = shift <= -1 && mult >= 0 ? -shift - 1 : -1;
  q.round = q.r1 >= 0 ? ((int64_t)1 << 30) + ((int64_t)1 << (30 - shift)) : 0;
  return q;
}

static inline int32_t requant(const requant_t *q, int32_t x) {
  if (q->r1 < 0) return mc_requantize(x, q->mult, q->shift);
  return (int32_t)((q->round + (int64_t)x * q->mult - ((int64_t)((uint32_t)x >> 31) << 31)) >> 32) >> q->r1;
}

/* FC of `rows` int8 vectors of n to m int16 outputs (zero point folded into the bias; FULLY_CONNECTED's
 * accumulation, SMLAD on DSP targets), requantized and clamped to int16 as
 * reference_integer_ops::FullyConnected. acc: m int32. */
static void fc_s8_s16(int32_t rows, int32_t n, int32_t m, const int8_t *x, const MC_FLASH int8_t *w,
                      const MC_FLASH int32_t *bias, int32_t mult, int32_t shift, int16_t *y, int32_t *acc) {
  const requant_t q = requant_of(mult, shift);
  int32_t r, o;
  for (r = 0; r < rows; r++) {
    mc_fc_accumulate_s8(x + r * n, w, bias, n, m, acc);
    for (o = 0; o < m; o++) y[r * m + o] = (int16_t)clamp_s16(requant(&q, acc[o]));
  }
}

/* MulElementwise of two int16 vectors (zero points 0) to int16. */
static void mul_s16(int32_t n, const int16_t *a, const int16_t *b, int32_t mult, int32_t shift,
                    int16_t *y) {
  int32_t i;
  const requant_t q = requant_of(mult, shift);
  for (i = 0; i < n; i++) y[i] = (int16_t)clamp_s16(requant(&q, a[i] * b[i]));
}

static void gate_s8(const mc_lstm_s8_t *p, int g, int32_t rows, const int8_t *x, const int8_t *h,
                    int16_t *out, int16_t *tmp, int32_t *acc) {
  const int32_t n = rows * p->state;
  int32_t i;
  fc_s8_s16(rows, p->inputs, p->state, x, p->w_in + g * p->state * p->inputs, p->bias_in + g * p->state,
            p->fc_mult[2 * g], p->fc_shift[2 * g], out, acc);
  fc_s8_s16(rows, p->state, p->state, h, p->w_rec + g * p->state * p->state, p->bias_rec + g * p->state,
            p->fc_mult[2 * g + 1], p->fc_shift[2 * g + 1], tmp, acc);
  for (i = 0; i < n; i++) out[i] = (int16_t)clamp_s16(out[i] + tmp[i]);
  for (i = 0; i < n; i++) out[i] = g == CELL ? tanh_s16(out[i], 3, 0) : sigmoid_s16(out[i]);
}

/* lstm_internal::LstmStep on rows of the state starting at h, c; writes the new hidden state to out. */
static void step_s8(const mc_lstm_s8_t *p, int32_t rows, const int8_t *x, int8_t *h, int16_t *c,
                    int8_t *out, int16_t *scratch) {
  const int32_t n = rows * p->state;
  int16_t *b0 = scratch, *b1 = scratch + n, *b2 = scratch + 2 * n, *b3 = scratch + 3 * n;
  int32_t *acc = (int32_t *)(void *)(scratch + 4 * n); /* 8 * n bytes in: 4-byte aligned */
  const requant_t hidden = requant_of(p->hidden_mult, p->hidden_shift);
  int32_t i;
  gate_s8(p, FORGET, rows, x, h, b0, b3, acc);
  gate_s8(p, INPUT, rows, x, h, b1, b3, acc);
  gate_s8(p, CELL, rows, x, h, b2, b3, acc);
  mul_s16(n, b0, c, p->forget_mult, p->forget_shift, c);
  mul_s16(n, b1, b2, p->input_mult, p->input_shift, b1);
  for (i = 0; i < n; i++) c[i] = (int16_t)clamp_s16(c[i] + b1[i]);
  if (p->cell_clip >= 0)
    for (i = 0; i < n; i++) c[i] = (int16_t)MC_MAX(MC_MIN(c[i], p->cell_clip), -p->cell_clip);
  gate_s8(p, OUTPUT, rows, x, h, b1, b3, acc);
  for (i = 0; i < n; i++) b0[i] = tanh_s16(c[i], p->tanh_mult, p->tanh_shift);
  for (i = 0; i < n; i++)
    h[i] = mc_clamp_s8(requant(&hidden, b0[i] * b1[i]) + p->hidden_zp, -128, 127);
  memcpy(out, h, (size_t)n);
}

/* The walk over the sequence, for either dtype: time-major steps all batches at once; batch-major runs
 * each batch's steps in turn on its own rows of the state. */
#define MC_LSTM_SEQUENCE(STEP)                                                                        \
  do {                                                                                                \
    int32_t b_, t_;                                                                                   \
    if (p->time_major) {                                                                              \
      for (t_ = 0; t_ < p->time_steps; t_++)                                                          \
        STEP(p, p->batches, in + t_ * p->batches * p->inputs, hidden, cell,                          \
             out + t_ * p->batches * p->state, scratch);                                              \
      break;                                                                                          \
    }                                                                                                 \
    for (b_ = 0; b_ < p->batches; b_++)                                                               \
      for (t_ = 0; t_ < p->time_steps; t_++)                                                          \
        STEP(p, 1, in + (b_ * p->time_steps + t_) * p->inputs, hidden + b_ * p->state,               \
             cell + b_ * p->state, out + (b_ * p->time_steps + t_) * p->state, scratch);             \
  } while (0)

void mc_lstm_s8(const mc_lstm_s8_t *p, const int8_t *in, int8_t *hidden, int16_t *cell, int8_t *out,
                int16_t *scratch) {
  MC_LSTM_SEQUENCE(step_s8);
}

/* ---- float32: reference_ops FullyConnected, Logistic, Tanh, Mul in the same order ---- */

static void fc_f32(int32_t rows, int32_t n, int32_t m, const float *x, const float *w, const float *bias,
                   float *y) {
  int32_t r, o, d;
  for (r = 0; r < rows; r++) {
    for (o = 0; o < m; o++) {
      float total = 0.0f;
      for (d = 0; d < n; d++) total += x[r * n + d] * w[o * n + d];
      y[r * m + o] = total + (bias ? bias[o] : 0.0f);
    }
  }
}

static float sigmoid_f32(float v) {
  if (v > 16.619047164916992188f) return 1.0f;
  if (v < -9.0f) return expf(v);
  return 1.0f / (1.0f + expf(-v));
}

static void gate_f32(const mc_lstm_f32_t *p, int g, int32_t rows, const float *x, const float *h,
                     float *out, float *tmp) {
  const int32_t n = rows * p->state;
  int32_t i;
  fc_f32(rows, p->inputs, p->state, x, p->w_in + g * p->state * p->inputs, p->bias + g * p->state, out);
  fc_f32(rows, p->state, p->state, h, p->w_rec + g * p->state * p->state, 0, tmp);
  for (i = 0; i < n; i++) out[i] = out[i] + tmp[i];
  for (i = 0; i < n; i++) out[i] = g == CELL ? tanhf(out[i]) : sigmoid_f32(out[i]);
}

static void step_f32(const mc_lstm_f32_t *p, int32_t rows, const float *x, float *h, float *c, float *out,
                     float *scratch) {
  const int32_t n = rows * p->state;
  float *b0 = scratch, *b1 = scratch + n, *b2 = scratch + 2 * n, *b3 = scratch + 3 * n;
  int32_t i;
  gate_f32(p, FORGET, rows, x, h, b0, b3);
  gate_f32(p, INPUT, rows, x, h, b1, b3);
  gate_f32(p, CELL, rows, x, h, b2, b3);
  for (i = 0; i < n; i++) c[i] = b0[i] * c[i];
  for (i = 0; i < n; i++) b1[i] = b1[i] * b2[i];
  for (i = 0; i < n; i++) c[i] = c[i] + b1[i];
  if (p->cell_clip > 0.0f)
    for (i = 0; i < n; i++) c[i] = MC_MAX(MC_MIN(p->cell_clip, c[i]), -p->cell_clip);
  gate_f32(p, OUTPUT, rows, x, h, b1, b3);
  for (i = 0; i < n; i++) h[i] = tanhf(c[i]) * b1[i];
  memcpy(out, h, (size_t)n * sizeof(float));
}

void mc_lstm_f32(const mc_lstm_f32_t *p, const float *in, float *hidden, float *cell, float *out,
                 float *scratch) {
  MC_LSTM_SEQUENCE(step_f32);
}
