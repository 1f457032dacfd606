#ifndef MC_ACTIVATION_H
#define MC_ACTIVATION_H
#include <stdint.h>
#endif
