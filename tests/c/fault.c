/* Takes a fault at once (a read from unmapped memory), before serving anything: the host must report
 * it without waiting for its timeout. Replaces main.c of a rendered project (tests/test_qemu.py). */
#include <stdint.h>
#include "mc_platform.h"

int main(void) {
  mc_platform_init();
  return (int)*(volatile uint32_t *)0xF0000000u;
}
