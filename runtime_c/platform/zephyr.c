/* Zephyr: the runner protocol on the devicetree's console UART (zephyr,console) through the polling
 * UART API, ticks from the kernel's hardware cycle counter. prj.conf turns the console, printk's
 * output and the boot banner off so that only the protocol's bytes cross that UART. */
#include <zephyr/kernel.h>
#include <zephyr/device.h>
#include <zephyr/devicetree.h>
#include <zephyr/drivers/uart.h>
#include <zephyr/sys/reboot.h>

#include "mc_platform.h"

static const struct device *const link_uart = DEVICE_DT_GET(DT_CHOSEN(zephyr_console));

void mc_platform_init(void) {
  if (!device_is_ready(link_uart)) {
    k_panic(); /* no UART driver for the console node: nothing could be reported */
  }
}

uint8_t mc_uart_getc(void) {
  unsigned char c;
  while (uart_poll_in(link_uart, &c) != 0) {
    k_yield(); /* polled: lets any other ready thread run between looks */
  }
  return (uint8_t)c;
}

void mc_uart_putc(uint8_t c) {
  uart_poll_out(link_uart, c); /* returns once the byte is in the transmitter */
}

void mc_uart_flush(void) {
  /* uart_poll_out does not buffer. */
}

/* k_cycle_get_32() wraps (in 33 s at 128 MHz); counting wraps between reads extends it to 64 bits, right
 * as long as reads come more often than once a wrap: the runner reads before and after each INVOKE. */
uint64_t mc_ticks(void) {
#if defined(CONFIG_TIMER_HAS_64BIT_CYCLE_COUNTER)
  return k_cycle_get_64();
#else
  static uint32_t last;
  static uint64_t wraps;
  uint32_t now = k_cycle_get_32();
  if (now < last) {
    wraps += 1ull << 32;
  }
  last = now;
  return wraps + now;
#endif
}

/* After EXIT: a real board reboots, ready for the next session (prj.conf sets CONFIG_REBOOT on real
 * boards, except for a self-test, which would repeat for ever); an emulated one (QEMU_TARGET) halts. */
void mc_exit(int code) {
  (void)code;
#if defined(CONFIG_REBOOT) && !defined(CONFIG_QEMU_TARGET)
  sys_reboot(SYS_REBOOT_COLD);
#endif
  k_sched_lock();
  for (;;) {
    k_cpu_idle();
  }
}

/* No host files here: the runner's inputs and outputs go over the UART (WRITE and READ). */
MC_DEFINE_NO_HOST_FILES
