/* The stack's high-water mark: paint the free stack before an inference, find the deepest byte it
 * touched after. The stack lies between the link script's __stack_limit and __stack_top; a build
 * without them (the host, Zephyr, Arduino) measures nothing and reports 0. */
#ifndef MC_STACK_H
#define MC_STACK_H
#include <stdint.h>

/* Fill the stack below the caller's frame (less a 256-byte margin) with a pattern. */
void mc_stack_paint(void);
/* Bytes from __stack_top down to the deepest byte no longer holding the pattern: what the firmware
 * used since the last paint (at least the caller's depth plus the margin), or 0 when unknown. */
uint32_t mc_stack_used(void);
#endif
