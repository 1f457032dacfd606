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

#endif
