/* Stateful and recurrent operators: SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM. Their state lives in the
 * model's persistent region (not the arena) and carries over from one invoke to the next. The
 * arithmetic is TensorFlow Lite Micro's reference kernels' (kernels/svdf_common.cc, lstm_eval.*),
 * step for step, so results are bit-exact. */
#ifndef MC_RECURRENT_H
#define MC_RECURRENT_H
#include <stdint.h>
#include "mc_common.h"

/* SVDF. state: [batches][filters][memory], oldest first; each invoke shifts it left by one and writes
 * the feature projection of the new input in every filter's last slot. */
typedef struct {
  int32_t batches, inputs, filters, units, rank, memory;
  int32_t in_zp, state_zp, out_zp;
  int32_t mult_feature, shift_feature; /* input * feature weights -> state */
  int32_t mult_out, shift_out;         /* state * time weights (+ bias) -> output */
  const MC_FLASH int8_t *weights_feature; /* [filters][inputs] in FULLY_CONNECTED's row blocks */
  const MC_FLASH int32_t *feature_bias;   /* [filters]: - in_zp * row sums of weights_feature */
  const void *weights_time;            /* [filters][memory], int8 or int16 as the state */
  const int32_t *bias;                 /* [units], minus state_zp * the unit's time weights' sum */
} mc_svdf_s8_t;
/* int8 input and output; the state and the time weights are int8 (s8) or int16 (s16).
 * scratch: filters int32. */
void mc_svdf_s8(const mc_svdf_s8_t *p, const int8_t *in, int8_t *state, int8_t *out, int32_t *scratch);
void mc_svdf_s8_s16(const mc_svdf_s8_t *p, const int8_t *in, int16_t *state, int8_t *out, int32_t *scratch);

typedef struct {
  int32_t batches, inputs, filters, units, rank, memory;
  const float *weights_feature, *weights_time, *bias; /* bias [units] */
  float act_min, act_max;
} mc_svdf_f32_t;
void mc_svdf_f32(const mc_svdf_f32_t *p, const float *in, float *state, float *out);

/* UNIDIRECTIONAL_SEQUENCE_LSTM without peepholes, projection or layer norm (TFLM's kernel takes none).
 * Gates in TFLM's order of computation: 0 forget, 1 input, 2 cell, 3 output; each is
 * act(FC(x, w_in[g]) + FC(h, w_rec[g])) with act sigmoid, or tanh for the cell gate. The hidden state
 * h [batches][state] and the cell state c [batches][state] are variable tensors. Time-major input
 * [time][batches][inputs] runs every batch row at each step; batch-major [batches][time][inputs] runs
 * one row at a time. scratch: 4 * rows * state cells (rows: batches when time-major, else 1), then,
 * for the int8 kernel, state int32 accumulators. */
typedef struct {
  int32_t batches, time_steps, inputs, state, time_major;
  int32_t in_zp, hidden_zp;
  /* Weights in FULLY_CONNECTED's row blocks (mc_conv.h), one matrix per gate. */
  const MC_FLASH int8_t *w_in;      /* [4][state][inputs] */
  const MC_FLASH int8_t *w_rec;     /* [4][state][state] */
  const MC_FLASH int32_t *bias_in;  /* [4][state]: the gate bias - in_zp * row sums of w_in */
  const MC_FLASH int32_t *bias_rec; /* [4][state]: - hidden_zp * row sums of w_rec */
  const int32_t *fc_mult;   /* [4][2] (input FC, recurrent FC): to the gates' Q3.12 int16 */
  const int32_t *fc_shift;  /* [4][2] */
  int32_t forget_mult, forget_shift; /* forget gate (Q0.15) * cell -> cell */
  int32_t input_mult, input_shift;   /* input gate * cell gate (Q0.15 each) -> cell */
  int32_t hidden_mult, hidden_shift; /* tanh(cell) * output gate -> hidden (int8, hidden_zp) */
  int32_t tanh_mult, tanh_shift;     /* the cell state's scale 2^p brought to tanh's Q3.12 input */
  int32_t cell_clip;                 /* quantized; -1: no clipping */
} mc_lstm_s8_t;
void mc_lstm_s8(const mc_lstm_s8_t *p, const int8_t *in, int8_t *hidden, int16_t *cell, int8_t *out,
                int16_t *scratch);

typedef struct {
  int32_t batches, time_steps, inputs, state, time_major;
  const float *w_in, *w_rec, *bias; /* [4][state][inputs], [4][state][state], [4][state] */
  float cell_clip;                  /* 0: no clipping */
} mc_lstm_f32_t;
void mc_lstm_f32(const mc_lstm_f32_t *p, const float *in, float *hidden, float *cell, float *out,
                 float *scratch);

#endif
