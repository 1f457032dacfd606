/* Stack high-water mark (mc_stack.h). Portable C99 with GCC's weak symbols: no libc. */
#include "mc_stack.h"

#define PAINT 0xC5u /* a byte rarely stored on the stack: a pointer's or a small int's */
#define MARGIN 256  /* left unpainted below the painter's own frame */

extern uint8_t __stack_limit[] __attribute__((weak));
extern uint8_t __stack_top[] __attribute__((weak));

__attribute__((noinline)) void mc_stack_paint(void) {
  volatile uint8_t here = 0;
  volatile uint8_t *p = __stack_limit;
  const uintptr_t end = (uintptr_t)&here - MARGIN;
  if (__stack_limit == 0 || __stack_top == 0) return;
  while ((uintptr_t)p < end) *p++ = PAINT;
}

uint32_t mc_stack_used(void) {
  const volatile uint8_t *p = __stack_limit;
  if (__stack_limit == 0 || __stack_top == 0) return 0;
  while ((uintptr_t)p < (uintptr_t)__stack_top && *p == PAINT) p++;
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}
