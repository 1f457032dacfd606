/* What a board provides to the runner (runtime_c/src/mc_runner.c).
 * Implemented once per platform: runtime_c/platform/host.c for the host board, and by the rendered
 * bare-metal templates for QEMU and real boards. */
#ifndef MC_PLATFORM_H
#define MC_PLATFORM_H
#include <stdint.h>

void mc_platform_init(void);
/* Blocking read of one byte from the host link. */
uint8_t mc_uart_getc(void);
void mc_uart_putc(uint8_t c);
/* Push out any buffered bytes (host stdout; a no-op on most UARTs). */
void mc_uart_flush(void);
/* Free-running 64-bit tick counter; the board file says how ticks convert to instructions. */
uint64_t mc_ticks(void);
/* Stop the program (semihosting exit on QEMU, exit() on the host). Never returns. */
void mc_exit(int code);

/* Move n bytes between buf and a file of the machine the link leads to (QEMU's host, through
 * semihosting): read the whole file, which must be exactly n bytes, into buf, or write buf as the file.
 * The runner's LOAD and STORE requests (docs/protocol.md) carry inputs and outputs this way, much faster
 * than an emulated UART. Returns 0, -1 if the file could not be read or written, or MC_NO_HOST_FILES on
 * a board that has no such files (the host then uses WRITE and READ). */
#define MC_NO_HOST_FILES (-2)
int mc_host_file(int write, const char *path, uint8_t *buf, uint32_t n);

/* The whole mc_host_file of a platform without host files (Arduino, Zephyr, MT3620): write
 * `MC_DEFINE_NO_HOST_FILES` at file scope (after `extern "C"` in C++). */
#define MC_DEFINE_NO_HOST_FILES \
  int mc_host_file(int write, const char *path, uint8_t *buf, uint32_t n) { \
    (void)write; (void)path; (void)buf; (void)n; return MC_NO_HOST_FILES; \
  }

#endif
