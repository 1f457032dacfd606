/* QEMU's RISC-V `virt` machine as a microc board (boards/riscv32-virt.toml): the runner's link is the
 * NS16550A UART, polled; ticks are the instret CSR (under `-icount shift=0` QEMU reads it exactly, so one
 * tick is one instruction); exit goes through the SiFive test finisher, which stops QEMU with the code as
 * its exit status; host files go through semihosting (semihost.c). Bare metal, C99, no libc. The board's data arrives as macros from the Makefile:
 *   MC_UART_BASE      the 16550's base address (registers one byte apart)
 *   MC_FINISHER_BASE  the SiFive test finisher's address */
#include "mc_platform.h"

#ifndef MC_UART_BASE
#error "MC_UART_BASE (the 16550 UART's base address) must be defined by the board's Makefile"
#endif
#ifndef MC_FINISHER_BASE
#error "MC_FINISHER_BASE (the SiFive test finisher's address) must be defined by the board's Makefile"
#endif

#define UART_RBR 0u /* receive buffer (read) */
#define UART_THR 0u /* transmit holding (write) */
#define UART_IER 1u
#define UART_FCR 2u
#define UART_LCR 3u
#define UART_LSR 5u
#define LSR_DATA_READY 0x01u
#define LSR_THR_EMPTY 0x20u
/* FIFOs on, both cleared, 14-byte receive trigger: QEMU's 16550 then takes up to 14 host bytes at a time
 * instead of one, which is what makes host -> firmware transfers fast. */
#define FCR_FIFO_14 0xC7u
#define FCR_NO_FIFO 0x00u
#define LCR_8N1 0x03u

#define FINISHER ((volatile uint32_t *)MC_FINISHER_BASE)
#define FINISHER_PASS 0x5555u
#define FINISHER_FAIL 0x3333u

static volatile uint8_t *const uart = (volatile uint8_t *)MC_UART_BASE;
static int fifo_on;

/* Turning the FIFOs on flushes whatever was received, and the host may have sent its first request
 * before this code ran (QEMU holds it from the moment the host connects). So the FIFOs go on at the
 * first byte we send: the host then waits for our answer and has nothing in flight. */
static void enable_fifo_once(void) {
  if (!fifo_on) {
    uart[UART_FCR] = FCR_FIFO_14;
    fifo_on = 1;
  }
}

void mc_platform_init(void) {
  uart[UART_IER] = 0; /* polled: no interrupts */
  uart[UART_LCR] = LCR_8N1; /* QEMU ignores the baud rate; a real 16550 would need the divisor latch */
  uart[UART_FCR] = FCR_NO_FIFO; /* as at reset: keeps a byte that already arrived */
}

uint8_t mc_uart_getc(void) {
  while ((uart[UART_LSR] & LSR_DATA_READY) == 0) {
  }
  return uart[UART_RBR];
}

void mc_uart_putc(uint8_t c) {
  enable_fifo_once();
  while ((uart[UART_LSR] & LSR_THR_EMPTY) == 0) {
  }
  uart[UART_THR] = c;
}

void mc_uart_flush(void) {}

/* 64-bit instret on RV32: re-read when the high half changed between the two reads of the low half. */
uint64_t mc_ticks(void) {
  uint32_t hi, lo, hi2;
  do {
    __asm__ volatile("csrr %0, instreth" : "=r"(hi));
    __asm__ volatile("csrr %0, instret" : "=r"(lo));
    __asm__ volatile("csrr %0, instreth" : "=r"(hi2));
  } while (hi != hi2);
  return ((uint64_t)hi << 32) | lo;
}

void mc_exit(int code) {
  /* The finisher's fail form carries a 16-bit status; 0 has to go through the pass form. */
  *FINISHER = code == 0 ? FINISHER_PASS : (((uint32_t)code & 0xFFFFu) << 16) | FINISHER_FAIL;
  for (;;) {
  }
}
