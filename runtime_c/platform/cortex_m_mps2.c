/* Arm MPS2/MPS3 boards (and QEMU's models of them): CMSDK UART for the link, SysTick for ticks,
 * semihosting (semihost.c) for exit and host files. Bare metal, C99. The board's data arrives as macros from the Makefile:
 *   MC_UART_BASE     the CMSDK UART's base address
 *   MC_UART_BAUDDIV  its baud divider (the peripheral clock over the baud rate; QEMU ignores it) */
#include "mc_platform.h"
#include "mc_semihost.h"

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
#define SCB_ICSR REG32(0xE000ED04u)
#define ICSR_PENDSTCLR (1u << 25)

static volatile uint32_t systick_wraps;
static uint8_t tick_phase_lost = 1u; /* the link was read since the last restart_tick_period */

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

uint8_t mc_uart_getc(void) {
  while ((UART_STATE & UART_RX_FULL) == 0u) {
  }
  /* Any byte received, waited for or not: whether the link made us wait depends on the host, so the
   * next measurement restarts the tick period either way (see restart_tick_period). */
  tick_phase_lost = 1u;
  return (uint8_t)UART_DATA;
}

void mc_uart_putc(uint8_t c) {
  while ((UART_STATE & UART_TX_FULL) != 0u) {
  }
  UART_DATA = c;
}

void mc_uart_flush(void) {
  /* The UART sends each byte as it is written; nothing is buffered here. */
}

/* Ticks since reset: wraps and the counter read as a consistent pair (re-read if the wrap interrupt
 * came in between). The interrupt comes as the counter reaches 0 (before it reloads), so 0 starts a
 * period and the reload value is its second tick. */
static uint64_t tick_base;

static uint64_t read_ticks(void) {
  uint32_t hi, val;
  do {
    hi = systick_wraps;
    val = SYST_CVR;
  } while (hi != systick_wraps);
  return tick_base + (uint64_t)hi * SYST_PERIOD + (uint64_t)((SYST_RELOAD - val + 1u) & SYST_RELOAD);
}

/* Under QEMU -icount the wait for a byte lasts a number of instructions that depends on the host, so
 * an INVOKE would start at a random phase of SysTick's period (a tick is 31 to 50 instructions), and
 * the same computation would read one tick more or less from run to run; a wrap interrupt could also
 * land inside it. Writing the counter restarts the period at that instruction (QEMU re-anchors its
 * timer there), so after the restart tick readings depend only on the instructions executed, and the
 * next wrap is 2^24 ticks away. mc_ticks() restarts once after the link was read: before an
 * INVOKE's first reading, outside the measured span. On a real board SysTick counts processor cycles
 * and this changes nothing. */

static void restart_tick_period(void) {
  uint64_t now = read_ticks();
  __asm__ volatile("cpsid i" ::: "memory");
  SYST_CVR = 0u;                  /* any write clears the counter; it reloads on the next tick */
  SCB_ICSR = ICSR_PENDSTCLR;      /* a wrap that came just before belongs to the old period */
  systick_wraps = 0u;
  tick_base = now;
  __asm__ volatile("cpsie i" ::: "memory");
}

uint64_t mc_ticks(void) {
  if (tick_phase_lost) {
    restart_tick_period();
    tick_phase_lost = 0u;
  }
  return read_ticks();
}

/* Semihosting SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit (0x20026): QEMU run with
 * -semihosting-config enable=on,target=native exits with `code`. */
void mc_exit(int code) {
  static uint32_t block[2];
  block[0] = 0x20026u;
  block[1] = (uint32_t)code;
  for (;;) {
    mc_semihost(0x20u, block);
  }
}
