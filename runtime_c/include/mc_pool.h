#ifndef MC_POOL_H
#define MC_POOL_H
#include <stdint.h>
#endif
