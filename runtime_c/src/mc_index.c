/* GATHER, ARG_MAX/ARG_MIN and CAST (mc_index.h), as TFLite Micro's reference kernels compute them. */
#include <string.h>
#include "mc_kernels.h"

int mc_gather(const mc_gather_t *p, const uint8_t *in, const int32_t *coords, uint8_t *out) {
  const size_t inner = (size_t)p->inner_bytes;
  int32_t b, o, c;
  for (b = 0; b < p->batches; ++b, coords += p->n_coords) {
    for (o = 0; o < p->outer; ++o, in += (size_t)p->axis_size * inner) {
      for (c = 0; c < p->n_coords; ++c, out += inner) {
        const int32_t k = coords[c];
        if (k < 0 || k >= p->axis_size) return -1;
        memcpy(out, in + (size_t)k * inner, inner);
      }
    }
  }
  return 0;
}

/* Strict comparisons keep the first extreme, as TFLM's GreaterFn/LessFn do. */
#define MC_ARG_MINMAX(T)                                                           \
  do {                                                                             \
    const int32_t n = p->axis_size, inner = p->inner;                              \
    int32_t o, j, i;                                                               \
    for (o = 0; o < p->outer; ++o, in += n * inner, out += inner) {                \
      for (j = 0; j < inner; ++j) {                                                \
        T best = in[j];                                                            \
        int32_t at = 0;                                                            \
        for (i = 1; i < n; ++i) {                                                  \
          const T v = in[i * inner + j];                                           \
          if (p->is_max ? v > best : v < best) {                                   \
            best = v;                                                              \
            at = i;                                                                \
          }                                                                        \
        }                                                                          \
        out[j] = at;                                                               \
      }                                                                            \
    }                                                                              \
  } while (0)

void mc_arg_minmax_s8(const mc_arg_minmax_t *p, const int8_t *in, int32_t *out) { MC_ARG_MINMAX(int8_t); }
void mc_arg_minmax_f32(const mc_arg_minmax_t *p, const float *in, int32_t *out) { MC_ARG_MINMAX(float); }

/* float -> int32 truncating toward zero; saturating, NaN to 0, where C would be undefined. */
static int32_t float_to_int32(float f) {
  if (f != f) return 0;
  if (f >= 2147483648.0f) return INT32_MAX;
  if (f <= -2147483648.0f) return INT32_MIN;
  return (int32_t)f;
}

void mc_cast(const mc_cast_t *p, const void *in, void *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    int64_t v = 0; /* every integer input's value exactly (uint32 too) */
    float f = 0.0f;
    switch (p->in_type) {
      case MC_T_UINT32: v = ((const uint32_t *)in)[i]; break;
      case MC_T_INT8: v = ((const int8_t *)in)[i]; break;
      case MC_T_INT16: v = ((const int16_t *)in)[i]; break;
      case MC_T_INT32: v = ((const int32_t *)in)[i]; break;
      case MC_T_BOOL: v = ((const uint8_t *)in)[i] != 0; break;
      default: f = ((const float *)in)[i]; v = float_to_int32(f); break;
    }
    if (p->in_type != MC_T_FLOAT32) f = (float)v;
    /* Narrowing wraps (two's complement), as static_cast does with every compiler microc targets. */
    switch (p->out_type) {
      case MC_T_INT8: ((int8_t *)out)[i] = (int8_t)v; break;
      case MC_T_INT16: ((int16_t *)out)[i] = (int16_t)v; break;
      case MC_T_INT32: ((int32_t *)out)[i] = (int32_t)v; break;
      case MC_T_UINT32: ((uint32_t *)out)[i] = (uint32_t)v; break;
      default: ((float *)out)[i] = f; break;
    }
  }
}
