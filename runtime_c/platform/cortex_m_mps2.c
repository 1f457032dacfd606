/* Arm MPS2/MPS3 boards (and QEMU's models of them): CMSDK UART for the link, SysTick for ticks,
 * semihosting for exit. Bare metal, C99. The board's data arrives as macros from the Makefile:
 *   MC_UART_BASE     the CMSDK UART's base address
 *   MC_UART_BAUDDIV  its baud divider (the peripheral clock over the baud rate; QEMU ignores it)
 *   MC_TICK_ALIGN_INSNS  ceil(instructions per tick) - 1, to align each received byte to the tick grid
 *                    (see align_to_tick); 0 or absent: no alignment */
#include "mc_platform.h"

#ifndef MC_UART_BASE
#error "MC_UART_BASE (the CMSDK UART's base address) must be defined by the board's Makefile"
#endif
#ifndef MC_UART_BAUDDIV
#define MC_UART_BAUDDIV 16u
#endif

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART: DATA +0, STATE +4 (bit 0 TX full, bit 1 RX full), CTRL +8 (bit 0 TX en, bit 1 RX
 * en), BAUDDIV +0x10. */
#define UART_DATA REG32(MC_UART_BASE + 0x00u)
#define UART_STATE REG32(MC_UART_BASE + 0x04u)
#define UART_CTRL REG32(MC_UART_BASE + 0x08u)
#define UART_BAUDDIV REG32(MC_UART_BASE + 0x10u)
#define UART_TX_FULL 1u
#define UART_RX_FULL 2u

/* SysTick (Armv7-M/Armv8-M system control space): a 24-bit down-counter on the processor clock. */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#ifndef MC_SYSTICK_BITS /* period 2^bits ticks; fewer only to test wrap counting */
#define MC_SYSTICK_BITS 24
#endif
#define SYST_PERIOD (1ull << MC_SYSTICK_BITS)
#define SYST_RELOAD ((uint32_t)(SYST_PERIOD - 1u))
#define SYST_ENABLE_TICKINT_CPUCLK 7u

static volatile uint32_t systick_wraps;

/* The vector table (startup.c) points SysTick's exception here: one wrap is 2^24 ticks. */
void SysTick_Handler(void) {
  systick_wraps++;
}

void mc_platform_init(void) {
  UART_BAUDDIV = MC_UART_BAUDDIV;
  UART_CTRL = 3u;
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0u;
  SYST_CSR = SYST_ENABLE_TICKINT_CPUCLK;
}

#define XSTR(x) STR(x)
#define STR(x) #x

/* Under QEMU -icount the wait for a byte lasts a number of instructions that depends on the host, so
 * whatever follows (an INVOKE) would start at a random phase of the SysTick period, and the same
 * computation would measure one tick more or less from run to run. This loop reads the counter every
 * P = MC_TICK_ALIGN_INSNS instructions (P < instructions per tick, so consecutive reads differ by 0 or
 * 1) and stops at the first pair that does not differ, which happens only at one fixed phase of the
 * tick grid: after it, tick readings are a deterministic function of the instructions executed. It
 * costs at most a few thousand instructions per byte and nothing on real boards but that time. */
static void align_to_tick(void) {
#if defined(MC_TICK_ALIGN_INSNS) && MC_TICK_ALIGN_INSNS >= 6
  uint32_t prev, cur, diff;
  __asm__ volatile(
      "cpsid i\n\t"
      "ldr %[prev], [%[cvr]]\n"
      "1:\n\t"
      ".rept " XSTR(MC_TICK_ALIGN_INSNS) " - 5\n\t"
      "nop\n\t"
      ".endr\n\t"
      "ldr %[cur], [%[cvr]]\n\t"
      "sub %[diff], %[prev], %[cur]\n\t"
      "ands %[diff], %[diff], %[mask]\n\t"
      "mov %[prev], %[cur]\n\t"
      "bne 1b\n\t"
      "cpsie i"
      : [prev] "=&r"(prev), [cur] "=&r"(cur), [diff] "=&r"(diff)
      : [cvr] "r"(&SYST_CVR), [mask] "r"(SYST_RELOAD)
      : "cc", "memory");
#endif
}

uint8_t mc_uart_getc(void) {
  uint8_t c;
  while ((UART_STATE & UART_RX_FULL) == 0u) {
  }
  c = (uint8_t)UART_DATA;
  align_to_tick();
  return c;
}

void mc_uart_putc(uint8_t c) {
  while ((UART_STATE & UART_TX_FULL) != 0u) {
  }
  UART_DATA = c;
}

void mc_uart_flush(void) {
  /* The UART sends each byte as it is written; nothing is buffered here. */
}

/* Wraps and the counter read as a consistent pair: re-read if the wrap interrupt came in between.
 * The interrupt comes as the counter reaches 0 (before it reloads), so 0 starts a period and the
 * reload value is its second tick. */
uint64_t mc_ticks(void) {
  uint32_t hi, val;
  do {
    hi = systick_wraps;
    val = SYST_CVR;
  } while (hi != systick_wraps);
  return (uint64_t)hi * SYST_PERIOD + (uint64_t)((SYST_RELOAD - val + 1u) & SYST_RELOAD);
}

/* Semihosting SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit (0x20026): QEMU run with
 * -semihosting-config enable=on,target=native exits with `code`. */
void mc_exit(int code) {
  static uint32_t block[2];
  block[0] = 0x20026u;
  block[1] = (uint32_t)code;
  for (;;) {
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t r1 __asm__("r1") = (uint32_t)block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  }
}
