/* The platform of Arduino boards, through the Arduino core (Serial, micros): the UART is Serial at
 * the board's baud rate, ticks are microseconds. The sketch's setup() calls mc_main()
 * (templates/arduino), so the core's own main() has already run init(). */
#include <Arduino.h>
#ifdef __AVR__
#include <avr/interrupt.h>
#include <avr/sleep.h>
#endif
#include "mc_board.h" /* MC_BAUDRATE, rendered from the board file (templates/arduino) */
extern "C" {
#include "mc_platform.h"
}

extern "C" void mc_platform_init(void) {
  Serial.begin(MC_BAUDRATE);
  while (!Serial) {
  } /* boards with native USB wait for the host to open the port */
}

extern "C" uint8_t mc_uart_getc(void) {
  int c;
  while ((c = Serial.read()) < 0) {
  }
  return (uint8_t)c;
}

extern "C" void mc_uart_putc(uint8_t c) { Serial.write(c); }

extern "C" void mc_uart_flush(void) { Serial.flush(); }

/* micros() wraps every ~71 minutes; extended to 64 bits on each call. */
extern "C" uint64_t mc_ticks(void) {
  static uint32_t last;
  static uint64_t high;
  const uint32_t now = micros();
  if (now < last) high += (uint64_t)1 << 32;
  last = now;
  return high | now;
}

/* Stop for good: with interrupts off, sleep never wakes; simavr ends the simulation there. The status
 * is in what the firmware printed (PASS/FAIL), since a board has nowhere else to return it. */
extern "C" void mc_exit(int code) {
  (void)code;
  Serial.flush();
#ifdef __AVR__
  cli();
  sleep_enable();
  sleep_cpu();
#endif
  for (;;) {
  }
}

// No host files here: the runner's inputs and outputs go over Serial (WRITE and READ).
extern "C" MC_DEFINE_NO_HOST_FILES
