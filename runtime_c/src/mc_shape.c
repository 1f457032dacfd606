/* CONCATENATION, PAD and TRANSPOSE: byte movement, identical to TFLite Micro's reference kernels. */
#include <string.h>
#include "mc_kernels.h"

void mc_concatenation(const mc_concat_t *p, void *out) {
  uint8_t *dst = (uint8_t *)out;
  int32_t o, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->n_inputs; ++i) {
      const int32_t n = p->bytes[i];
      memcpy(dst, (const uint8_t *)p->inputs[i] + (size_t)o * n, (size_t)n);
      dst += n;
    }
  }
}

static void fill(uint8_t *dst, int32_t count, int32_t elem_bytes, uint32_t bits) {
  int32_t i;
  if (elem_bytes == 1) {
    memset(dst, (int)(bits & 0xff), (size_t)count);
    return;
  }
  if (elem_bytes == 2) {
    const uint16_t half = (uint16_t)bits;
    for (i = 0; i < count; ++i) memcpy(dst + 2 * i, &half, 2);
    return;
  }
  for (i = 0; i < count; ++i) memcpy(dst + 4 * i, &bits, 4);
}

/* Whether output row `idx` (over dims 0..rank-2) lies in the input; *src_row gets its input row. */
static int row_in_input(const mc_pad_t *p, const int32_t *idx, int32_t *src_row) {
  int32_t d, row = 0;
  for (d = 0; d < p->rank - 1; ++d) {
    const int32_t i = idx[d] - p->before[d];
    if (i < 0 || i >= p->in_dims[d]) return 0;
    row = row * p->in_dims[d] + i;
  }
  *src_row = row;
  return 1;
}

void mc_pad(const mc_pad_t *p, const void *in, void *out) {
  const int32_t last = p->rank - 1, eb = p->elem_bytes;
  const int32_t out_row = p->out_dims[last], in_row = p->in_dims[last];
  const int32_t left = p->before[last], right = out_row - in_row - left;
  int32_t idx[MC_PAD_MAX_DIMS] = {0}, rows = 1, r, d, src_row;
  uint8_t *dst = (uint8_t *)out;
  for (d = 0; d < last; ++d) rows *= p->out_dims[d];
  for (r = 0; r < rows; ++r, dst += out_row * eb) {
    if (!row_in_input(p, idx, &src_row)) {
      fill(dst, out_row, eb, p->pad_bits);
    } else {
      fill(dst, left, eb, p->pad_bits);
      memcpy(dst + left * eb, (const uint8_t *)in + (size_t)src_row * in_row * eb, (size_t)in_row * eb);
      fill(dst + (left + in_row) * eb, right, eb, p->pad_bits);
    }
    for (d = last - 1; d >= 0 && ++idx[d] == p->out_dims[d]; --d) idx[d] = 0;
  }
}

/* Walk the output in order: rows along the last output dimension, the input offset by odometer. */
#define MC_TRANSPOSE_LOOP(T)                                                                  \
  do {                                                                                        \
    const T *src = (const T *)in;                                                             \
    T *dst = (T *)out;                                                                        \
    for (r = 0; r < rows; ++r) {                                                              \
      const T *s = src + off;                                                                 \
      for (i = 0; i < n; ++i, s += step) *dst++ = *s;                                         \
      for (d = last - 1; d >= 0; --d) {                                                       \
        off += p->in_strides[d];                                                              \
        if (++idx[d] < p->out_dims[d]) break;                                                 \
        off -= p->in_strides[d] * p->out_dims[d];                                             \
        idx[d] = 0;                                                                           \
      }                                                                                       \
    }                                                                                         \
  } while (0)

void mc_transpose(const mc_transpose_t *p, const void *in, void *out) {
  const int32_t last = p->rank - 1, n = p->out_dims[last], step = p->in_strides[last];
  int32_t idx[MC_TRANSPOSE_MAX_DIMS] = {0}, rows = 1, r, i, d, off = 0;
  for (d = 0; d < last; ++d) rows *= p->out_dims[d];
  if (p->elem_bytes == 1) {
    MC_TRANSPOSE_LOOP(uint8_t);
  } else if (p->elem_bytes == 2) {
    MC_TRANSPOSE_LOOP(uint16_t);
  } else {
    MC_TRANSPOSE_LOOP(uint32_t);
  }
}
