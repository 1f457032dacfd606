/* Convolution-like kernels: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (int8 and float32). */
#ifndef MC_CONV_H
#define MC_CONV_H
#include <stdint.h>

/* FULLY_CONNECTED int8: out[b][o] = requant(bias[o] + sum_i w[o][i] * in[b][i]) + out_zp, clamped.
 * The input zero point is folded into bias at compile time (bias - in_zp * sum_i w[o][i]). */
typedef struct {
  int32_t batches, in_features, out_features;
  const int8_t *weights;     /* [out_features][in_features] */
  const int32_t *bias;       /* [out_features], zero point folded in */
  const int32_t *multiplier; /* [out_features] */
  const int32_t *shift;      /* [out_features] */
  int32_t out_zp, act_min, act_max;
} mc_fc_s8_t;
void mc_fully_connected_s8(const mc_fc_s8_t *p, const int8_t *in, int8_t *out);

typedef struct {
  int32_t batches, in_features, out_features;
  const float *weights; /* [out_features][in_features] */
  const float *bias;    /* [out_features] or NULL */
  float act_min, act_max;
} mc_fc_f32_t;
void mc_fully_connected_f32(const mc_fc_f32_t *p, const float *in, float *out);

#endif
