/* Every kernel microc's generated code may call. Kernels are portable C99: no allocation, no I/O. */
#ifndef MC_KERNELS_H
#define MC_KERNELS_H
#include <math.h>
#include <stdint.h>
#include "mc_common.h"
#include "mc_conv.h"
#include "mc_elementwise.h"
#include "mc_activation.h"
#endif
