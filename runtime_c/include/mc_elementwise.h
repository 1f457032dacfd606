#ifndef MC_ELEMENTWISE_H
#define MC_ELEMENTWISE_H
#include <stdint.h>
#endif
