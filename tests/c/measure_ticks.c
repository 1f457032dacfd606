/* Measures how many mc_ticks() a loop of a known instruction count takes, and prints both numbers:
 * "instructions <n> ticks <t>". Under QEMU -icount shift=0 their ratio is the board's
 * instructions_per_tick. Replaces main.c of a rendered project (tests/test_boards.py). */
#include <stdint.h>
#include "mc_platform.h"

#ifndef LOOPS
#define LOOPS 1000000u
#endif

static void put_u64(uint64_t v) {
  char d[20];
  int n = 0;
  do {
    d[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v);
  while (n) mc_uart_putc((uint8_t)d[--n]);
}

static void put_str(const char *s) {
  while (*s) mc_uart_putc((uint8_t)*s++);
}

int main(void) {
  uint64_t t0, t1;
  mc_platform_init();
  t0 = mc_ticks();
#if defined(__arm__)
  { /* 2 instructions per iteration */
    uint32_t n = LOOPS;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
  }
#elif defined(__riscv)
  {
    uint32_t n = LOOPS;
    __asm__ volatile("1: addi %0, %0, -1\n\tbnez %0, 1b" : "+r"(n));
  }
#else
#error "no known instruction loop for this architecture"
#endif
  t1 = mc_ticks();
  put_str("instructions ");
  put_u64(2ull * LOOPS);
  put_str(" ticks ");
  put_u64(t1 - t0);
  put_str("\n");
  mc_uart_flush();
  mc_exit(0);
  return 0;
}
