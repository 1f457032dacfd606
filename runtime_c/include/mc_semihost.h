/* Semihosting calls (runtime_c/platform/semihost.c), for the platforms of boards that run under QEMU. */
#ifndef MC_SEMIHOST_H
#define MC_SEMIHOST_H
#include <stdint.h>

/* Semihosting operation `op` with its parameter block; returns the host's answer (r0 / a0). */
uintptr_t mc_semihost(uint32_t op, const void *arg);

#endif
