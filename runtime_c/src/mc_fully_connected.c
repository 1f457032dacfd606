/* FULLY_CONNECTED, with the arithmetic of TFLite Micro's reference kernels. The int8 kernel reads its
 * constants through MC_READ_* (they stay in flash on AVR; plain loads elsewhere). */
#include "mc_kernels.h"

void mc_fully_connected_s8(const mc_fc_s8_t *p, const int8_t *in, int8_t *out) {
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + b * p->in_features;
    for (o = 0; o < p->out_features; ++o) {
      const MC_FLASH int8_t *w = p->weights + o * p->in_features;
      int32_t acc = MC_READ_S32(&p->bias[o]);
      for (i = 0; i < p->in_features; ++i) acc += (int32_t)MC_READ_S8(&w[i]) * x[i];
      acc = mc_requantize(acc, MC_READ_S32(&p->multiplier[o]), MC_READ_S32(&p->shift[o])) + p->out_zp;
      out[b * p->out_features + o] = mc_clamp_s8(acc, p->act_min, p->act_max);
    }
  }
}

void mc_fully_connected_f32(const mc_fc_f32_t *p, const float *in, float *out) {
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const float *x = in + b * p->in_features;
    for (o = 0; o < p->out_features; ++o) {
      const float *w = p->weights + o * p->in_features;
      float acc = 0.0f;
      for (i = 0; i < p->in_features; ++i) acc += x[i] * w[i];
      if (p->bias) acc += p->bias[o];
      out[b * p->out_features + o] = mc_clamp_f32(acc, p->act_min, p->act_max);
    }
  }
}
