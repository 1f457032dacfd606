/* Data movement: CONCATENATION, PAD/PADV2, TRANSPOSE (any element size: 1, 2 or 4 bytes). RESHAPE and
 * SQUEEZE have no kernel: the planner places their output on their input. */
#ifndef MC_SHAPE_H
#define MC_SHAPE_H
#include <stdint.h>

/* CONCATENATION: `outer` times, each input's next block of bytes[i] bytes, in input order. */
typedef struct {
  int32_t n_inputs, outer;
  const void *const *inputs;
  const int32_t *bytes;
} mc_concat_t;
void mc_concatenation(const mc_concat_t *p, void *out);

/* PAD: dimensions without padding are merged into their outer neighbour at compile time, so the last
 * dimension is a contiguous row. pad_bits holds the pad value's bytes (elem_bytes 1, 2 or 4). */
#define MC_PAD_MAX_DIMS 5
typedef struct {
  int32_t rank, elem_bytes;
  int32_t in_dims[MC_PAD_MAX_DIMS], out_dims[MC_PAD_MAX_DIMS], before[MC_PAD_MAX_DIMS];
  uint32_t pad_bits;
} mc_pad_t;
void mc_pad(const mc_pad_t *p, const void *in, void *out);

/* TRANSPOSE: out is written in order; in_strides[d] is the input stride (in elements) of output
 * dimension d. Unit dimensions are dropped and contiguous ones merged at compile time. */
#define MC_TRANSPOSE_MAX_DIMS 6
typedef struct {
  int32_t rank, elem_bytes;
  int32_t out_dims[MC_TRANSPOSE_MAX_DIMS], in_strides[MC_TRANSPOSE_MAX_DIMS];
} mc_transpose_t;
void mc_transpose(const mc_transpose_t *p, const void *in, void *out);

#endif
