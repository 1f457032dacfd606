/* In-place variants of the convolutions (--optimize memory): the output overwrites the input's buffer,
 * which the planner sized for the larger of the two. Each wraps the ordinary kernel (the same
 * arithmetic, bit for bit) and saves, in a small scratch buffer, the input values it is about to
 * overwrite before they are read. */
#ifndef MC_INPLACE_H
#define MC_INPLACE_H
#include "mc_conv.h"

/* DEPTHWISE_CONV_2D, depth multiplier 1, one batch, output no larger than the input, in place over
 * `io`. Channels go `group` at a time: a group's input plane is gathered into scratch, the kernel runs
 * on it with `grouped` weights ([in_c / group][k_h][k_w][group]; p->weights itself when group = in_c)
 * into scratch, and the output plane is scattered to io. Output channel c only lands on input
 * positions of channel c (same channel count, fewer or as many pixels), which are saved already.
 * scratch: (in_h * in_w + out_h * out_w) * group bytes. */
void mc_depthwise_conv2d_s8_inplace(const mc_dwconv_s8_t *p, const MC_FLASH int8_t *grouped, int32_t group,
                                    int8_t *io, int8_t *scratch);

/* CONV_2D 1x1, stride 1, no padding, in place over `io`, rows_per_pass input rows (dividing batches *
 * in_h) at a time, copied to `rows` (rows_per_pass * in_w * in_c bytes) first. Pass r's output covers
 * input passes up to r when out_c <= in_c (so passes go first to last) and input passes from r on when
 * out_c > in_c (last to first); both are saved or done. kernel_scratch: the ordinary kernel's scratch
 * (NULL when it needs none). kernel: the layer's kernel (mc_conv2d_s8, or the one its schedule names),
 * run on each pass. */
typedef void (*mc_conv2d_s8_fn)(const mc_conv2d_s8_t *p, const int8_t *in, int8_t *out, void *scratch);
void mc_conv2d_s8_1x1_inplace(const mc_conv2d_s8_t *p, mc_conv2d_s8_fn kernel, int32_t rows_per_pass,
                              int8_t *io, int8_t *rows, void *kernel_scratch);

/* CONV_2D with stride and dilation 1 down the image, one batch, output rows no longer than input rows,
 * in place over `io`, one output row at a time from a window of the k_h input rows it reads (`window`:
 * k_h * in_w * in_c bytes). Output row y lands on input rows up to y only: the window keeps the rows
 * above y that later output rows still read, and takes the others from io, where they are intact. */
void mc_conv2d_s8_rows_inplace(const mc_conv2d_s8_t *p, mc_conv2d_s8_fn kernel, int8_t *io, int8_t *window,
                               void *kernel_scratch);
#endif
