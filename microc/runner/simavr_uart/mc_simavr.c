/* microc's AVR simulator harness on libsimavr (Debian libsimavr-dev): runs an AVR ELF and joins the
 * simulated USART0 to this process's stdin and stdout, both ways, so the runner protocol reaches the
 * firmware as it does the host board's executable (microc/runner/simavr.py).
 *
 *   mc_simavr MCU FREQUENCY_HZ FIRMWARE.elf
 *
 * Bytes from stdin are raised on the USART's input IRQ only while the USART signals XON (its receive
 * FIFO has room); bytes the firmware transmits go to stdout, flushed whenever the harness looks for
 * input, so an answer is out before the host needs it. Exit status: 0 when the firmware stops (sleep
 * with interrupts off, microc's mc_exit), 1 when the simulated core crashes, 2 on a usage or load
 * error, 3 when stdin ends while the firmware still runs (the host went away). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_irq.h>

/* How many simulated instructions between looks at stdin: often enough that input is not the
 * bottleneck at 115200 baud (~1,400 cycles a byte at 16 MHz), rarely enough to keep syscalls cheap. */
#define POLL_EVERY 256

static int xon;
static int out_pending;

static void on_output(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  putchar((int)(value & 0xFFu));
  out_pending = 1;
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  xon = 1;
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  xon = 0;
}

/* One byte from stdin into the USART if it has room and a byte is waiting: 1 fed, 0 none, -1 EOF. */
static int feed_input(avr_irq_t *input) {
  struct pollfd p = {0, POLLIN, 0};
  unsigned char c;
  ssize_t n;
  if (out_pending) {
    fflush(stdout);
    out_pending = 0;
  }
  if (!xon || poll(&p, 1, 0) <= 0) return 0;
  n = read(0, &c, 1);
  if (n == 0) return -1;
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
  avr_raise_irq(input, c);
  return 1;
}

static avr_t *load(const char *mcu, unsigned long hz, const char *path) {
  elf_firmware_t fw;
  avr_t *avr;
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(path, &fw) != 0) {
    fprintf(stderr, "mc_simavr: cannot read firmware %s\n", path);
    return NULL;
  }
  snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
  fw.frequency = (uint32_t)hz;
  avr = avr_make_mcu_by_name(mcu);
  if (!avr) {
    fprintf(stderr, "mc_simavr: simavr does not know the MCU %s\n", mcu);
    return NULL;
  }
  avr_init(avr);
  avr_load_firmware(avr, &fw);
  return avr;
}

static void connect_uart(avr_t *avr, avr_irq_t **input) {
  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(uint32_t)AVR_UART_FLAG_STDIO; /* the bytes are ours, not simavr's console's */
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  *input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_output, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);
}

int main(int argc, char **argv) {
  avr_t *avr;
  avr_irq_t *input;
  unsigned long steps = 0;
  int state = cpu_Running;
  if (argc != 4) {
    fprintf(stderr, "usage: mc_simavr MCU FREQUENCY_HZ FIRMWARE.elf\n");
    return 2;
  }
  avr = load(argv[1], strtoul(argv[2], NULL, 10), argv[3]);
  if (!avr) return 2;
  connect_uart(avr, &input);
  while (state != cpu_Done && state != cpu_Crashed) {
    state = avr_run(avr);
    if (++steps % POLL_EVERY == 0 && feed_input(input) < 0) {
      fflush(stdout);
      return 3;
    }
  }
  fflush(stdout);
  return state == cpu_Done ? 0 : 1;
}
