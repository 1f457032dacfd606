/* Checks what the startup code must set up before main(): .data copied from flash, .bss zeroed, and
 * libc's thread-local errno usable (picolibc keeps it in TLS, reached through tp on RISC-V). Prints
 * "data ok bss ok errno ok" or names what is wrong. Replaces main.c of a rendered project
 * (tests/test_riscv.py). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "mc_platform.h"

static volatile uint32_t initialised[4] = {0x12345678u, 0x9ABCDEF0u, 0x0F1E2D3Cu, 0x4B5A6978u};
static volatile uint32_t zeroed[64];

static void put_str(const char *s) {
  while (*s) mc_uart_putc((uint8_t)*s++);
}

int main(void) {
  unsigned i;
  int bss_ok = 1;
  long v;
  mc_platform_init();
  put_str(initialised[0] == 0x12345678u && initialised[3] == 0x4B5A6978u ? "data ok " : "data BAD ");
  for (i = 0; i < 64; i++) bss_ok &= zeroed[i] == 0u;
  put_str(bss_ok ? "bss ok " : "bss BAD ");
  errno = 0;
  v = strtol("999999999999999999999", NULL, 10); /* out of range: LONG_MAX and ERANGE */
  put_str(v == 2147483647L && errno == ERANGE ? "errno ok\n" : "errno BAD\n");
  mc_uart_flush();
  return 0;
}
