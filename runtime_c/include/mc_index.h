/* Kernels that select by index: GATHER (TFLite's, which also runs ONNX-ML's ArrayFeatureExtractor),
 * ARG_MAX and ARG_MIN, and CAST, with the semantics of TFLite Micro's reference kernels. */
#ifndef MC_INDEX_H
#define MC_INDEX_H
#include <stdint.h>

/* GATHER: the input is [batches, outer, axis_size, inner] (inner in bytes), the coordinates
 * [batches, n_coords]; out[b, o, c, :] = in[b, o, coords[b, c], :]. Returns -1 if a coordinate is
 * outside [0, axis_size) (TFLM does not check and reads outside its input), else 0. */
typedef struct {
  int32_t batches, outer, axis_size, n_coords, inner_bytes;
} mc_gather_t;
int mc_gather(const mc_gather_t *p, const uint8_t *in, const int32_t *coords, uint8_t *out);

/* ARG_MAX, ARG_MIN over the middle dimension of [outer, axis_size, inner]: the index of the first
 * largest (smallest) value, as int32. A NaN is never chosen after the first element (TFLM compares with
 * > and <). */
typedef struct {
  int32_t outer, axis_size, inner, is_max;
} mc_arg_minmax_t;
void mc_arg_minmax_s8(const mc_arg_minmax_t *p, const int8_t *in, int32_t *out);
void mc_arg_minmax_f32(const mc_arg_minmax_t *p, const float *in, int32_t *out);

/* CAST between int8, int16, int32, float32 and bool (1 byte, 0 or 1; input only, as TFLM): C++'s
 * static_cast of each value, raw (quantization is ignored). Integers narrow by wrapping; a float becomes
 * an integer by truncation toward zero through int32 (TFLM's static_cast is undefined outside the target's
 * range; microc saturates at the int32 range, NaN gives 0, then wraps). uint32 (the signal operators'
 * energies) to and from the integer types, with the same wrapping. */
enum { MC_T_INT8, MC_T_INT16, MC_T_INT32, MC_T_FLOAT32, MC_T_BOOL, MC_T_UINT32 };
typedef struct {
  int32_t size, in_type, out_type;
} mc_cast_t;
void mc_cast(const mc_cast_t *p, const void *in, void *out);

#endif
