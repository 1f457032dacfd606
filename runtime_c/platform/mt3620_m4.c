/* MT3620 real-time core (Cortex-M4F): the runner protocol on the core's dedicated UART, ticks from the
 * DWT cycle counter. Bare metal, C99. Register offsets as Microsoft's HelloWorld_RTApp_MT3620_BareMetal
 * sample uses them: a 16550-style UART whose registers are 4 bytes apart. */
#include "mc_platform.h"

#ifndef MC_UART_BASE
#define MC_UART_BASE 0x21040000u
#endif

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define UART_RBR_THR REG32(MC_UART_BASE + 0x00u) /* receive buffer / transmit holding */
#define UART_DLM REG32(MC_UART_BASE + 0x04u)     /* divisor latch high, when LCR bit 7 is set */
#define UART_LCR REG32(MC_UART_BASE + 0x0Cu)
#define UART_LSR REG32(MC_UART_BASE + 0x14u)
#define UART_HIGHSPEED REG32(MC_UART_BASE + 0x24u)
#define UART_SAMPLE_COUNT REG32(MC_UART_BASE + 0x28u)
#define UART_SAMPLE_POINT REG32(MC_UART_BASE + 0x2Cu)
#define UART_FRACDIV_L REG32(MC_UART_BASE + 0x54u)
#define UART_FRACDIV_M REG32(MC_UART_BASE + 0x58u)
#define LSR_DATA_READY (1u << 0)
#define LSR_THR_EMPTY (1u << 5)

/* Data watchpoint and trace unit: CYCCNT counts core clock cycles once enabled. */
#define DEMCR REG32(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL REG32(0xE0001000u)
#define DWT_CYCCNT REG32(0xE0001004u)

/* 115200 baud, 8 data bits, no parity, 1 stop bit: the sample's settings for the core's UART clock. */
static void uart_init(void) {
  UART_LCR = 0x80u; /* divisor latch access */
  UART_HIGHSPEED = 3u;
  UART_DLM = 0u;
  UART_RBR_THR = 1u; /* divisor latch low */
  UART_SAMPLE_COUNT = 224u;
  UART_SAMPLE_POINT = 110u;
  UART_FRACDIV_M = 0u;
  UART_FRACDIV_L = 223u;
  UART_LCR = 0x03u; /* 8N1, divisor latch closed */
}

void mc_platform_init(void) {
  uart_init();
  DEMCR |= DEMCR_TRCENA;
  DWT_CYCCNT = 0u;
  DWT_CTRL |= 1u; /* CYCCNTENA */
}

uint8_t mc_uart_getc(void) {
  while ((UART_LSR & LSR_DATA_READY) == 0u) {
  }
  return (uint8_t)UART_RBR_THR;
}

void mc_uart_putc(uint8_t c) {
  while ((UART_LSR & LSR_THR_EMPTY) == 0u) {
  }
  UART_RBR_THR = c;
}

void mc_uart_flush(void) {
  /* Each byte goes out as it is written. */
}

/* CYCCNT wraps every 21.7 s at 197.6 MHz; counting wraps between reads makes it 64 bits, right while
 * reads come more often than that (the runner reads before and after each INVOKE). */
uint64_t mc_ticks(void) {
  static uint32_t last;
  static uint64_t wraps;
  uint32_t now = DWT_CYCCNT;
  if (now < last) {
    wraps += 1ull << 32;
  }
  last = now;
  return wraps + now;
}

/* A real-time core has nowhere to return to: it sleeps until the application is restarted. */
void mc_exit(int code) {
  (void)code;
  for (;;) {
    __asm__ volatile("wfi");
  }
}

/* No host files here: the runner's inputs and outputs go over the UART (WRITE and READ). */
MC_DEFINE_NO_HOST_FILES
