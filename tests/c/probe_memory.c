/* Writes a pattern to each address of PROBE_ADDRS, reads it back and restores the old word; prints
 * "ok" or "BAD" per address. Checks that a board file's memory regions exist on the machine.
 * Replaces main.c of a rendered project (tests/test_boards.py). */
#include <stdint.h>
#include "mc_platform.h"

static const uint32_t addrs[] = {PROBE_ADDRS};

static void put_str(const char *s) {
  while (*s) mc_uart_putc((uint8_t)*s++);
}

int main(void) {
  unsigned i;
  mc_platform_init();
  for (i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
    volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)addrs[i];
    uint32_t old = *p, pattern = 0xA5C3F00Du ^ i;
    *p = pattern;
    put_str(*p == pattern ? "ok " : "BAD ");
    *p = old;
  }
  put_str("\n");
  mc_uart_flush();
  mc_exit(0);
  return 0;
}
