/* Every kernel microc's generated code may call. Kernels are portable C99: no allocation, no I/O. */
#ifndef MC_KERNELS_H
#define MC_KERNELS_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "mc_common.h"
#include "mc_conv.h"        /* CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED */
#include "mc_pool.h"        /* AVERAGE_POOL_2D, MAX_POOL_2D, MEAN */
#include "mc_elementwise.h" /* ADD, SUB, MUL */
#include "mc_shape.h"       /* CONCATENATION, PAD */
#include "mc_activation.h"  /* SOFTMAX, LOGISTIC, TANH, HARD_SWISH */
#include "mc_inplace.h"     /* in-place CONV_2D 1x1 and DEPTHWISE_CONV_2D (--optimize memory) */
#include "mc_pointwise.h"   /* RELU, RELU6, LEAKY_RELU, QUANTIZE, DEQUANTIZE (RESHAPE, SQUEEZE: none) */
#include "mc_trees.h"       /* TREE_ENSEMBLE, ML_CLASSIFY, NORMALIZE (classical models) */
#include "mc_index.h"       /* GATHER, ARG_MAX, ARG_MIN, CAST */
#include "mc_signal.h"      /* TFLM's signal library: Signal* custom operators (audio front ends) */
#include "mc_resize.h"      /* RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR */
#include "mc_matmul.h"      /* BATCH_MATMUL */
#include "mc_mve.h"         /* Helium kernels of the Cortex-M55 (MVE ISA path) */
#include "mc_recurrent.h"   /* SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM (state kept between invokes) */
#endif
