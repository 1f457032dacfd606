#ifndef MC_POINTWISE_H
#define MC_POINTWISE_H
#include <stdint.h>
#endif
