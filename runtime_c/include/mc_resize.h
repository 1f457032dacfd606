/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR over NHWC, with TFLite Micro's reference arithmetic. The
 * source rows and columns of every output row and column (and the bilinear weights) depend on the shapes
 * and options alone: they are computed at compile time, with TFLM's float32 or 10-bit fixed-point steps. */
#ifndef MC_RESIZE_H
#define MC_RESIZE_H
#include <stdint.h>

/* out[b, y, x, :] = in[b, rows[y], cols[x], :], pixels of pixel_bytes bytes. */
typedef struct {
  int32_t batches, in_h, in_w, out_h, out_w, pixel_bytes;
  const int32_t *rows, *cols; /* [out_h], [out_w] */
} mc_resize_nearest_t;
void mc_resize_nearest(const mc_resize_nearest_t *p, const uint8_t *in, uint8_t *out);

/* Output (y, x) mixes input rows y0[y], y1[y] and columns x0[x], x1[x]. float32: by the source position
 * pos_y[y] (pos_x[x]) as TFLM's ResizeBilinear writes the sum; int8: by the weights w_y[y] = input_y -
 * 1024 * y0 (TFLM's ResizeBilinearInteger, rounded half away from zero by 2^20). */
typedef struct {
  int32_t batches, in_h, in_w, out_h, out_w, channels;
  const int32_t *y0, *y1, *x0, *x1;
  const float *pos_y, *pos_x;   /* float32 */
  const int32_t *w_y, *w_x;     /* int8 */
} mc_resize_bilinear_t;
void mc_resize_bilinear_f32(const mc_resize_bilinear_t *p, const float *in, float *out);
void mc_resize_bilinear_s8(const mc_resize_bilinear_t *p, const int8_t *in, int8_t *out);

#endif
