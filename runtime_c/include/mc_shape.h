#ifndef MC_SHAPE_H
#define MC_SHAPE_H
#include <stdint.h>
#endif
