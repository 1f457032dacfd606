/* Semihosting (Arm's interface, which QEMU also implements for RISC-V): host files for the runner's
 * LOAD and STORE under QEMU run with -semihosting-config enable=on,target=native. Without a debugger or
 * an emulator behind it the trap faults, so only a host that started QEMU that way sends LOAD or STORE.
 * Bare metal, C99, no libc. */
#include "mc_platform.h"
#include "mc_semihost.h"

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_FLEN = 0x0C };
enum { MODE_READ_BINARY = 1, MODE_WRITE_BINARY = 5 }; /* fopen's "rb" and "wb" */

uintptr_t mc_semihost(uint32_t op, const void *arg) {
#if defined(__arm__)
  register uintptr_t r0 __asm__("r0") = op;
  register uintptr_t r1 __asm__("r1") = (uintptr_t)arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
#elif defined(__riscv)
  /* RISC-V's semihosting trap is ebreak between these two no-ops, uncompressed and inside one page
   * (QEMU reads the neighbours to tell it from a debugger's ebreak): the 16-byte alignment ensures it. */
  register uintptr_t a0 __asm__("a0") = op;
  register uintptr_t a1 __asm__("a1") = (uintptr_t)arg;
  __asm__ volatile(".option push\n\t.option norvc\n\t.balign 16\n\t"
                   "slli zero, zero, 0x1f\n\tebreak\n\tsrai zero, zero, 7\n\t.option pop"
                   : "+r"(a0) : "r"(a1) : "memory");
  return a0;
#else
#error "semihost.c supports Arm and RISC-V"
#endif
}

static uint32_t str_len(const char *s) {
  uint32_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

int mc_host_file(int write, const char *path, uint8_t *buf, uint32_t n) {
  uintptr_t block[3], fd, left = 1;
  block[0] = (uintptr_t)path;
  block[1] = write ? MODE_WRITE_BINARY : MODE_READ_BINARY;
  block[2] = str_len(path);
  fd = mc_semihost(SYS_OPEN, block);
  if (fd == (uintptr_t)-1) return -1;
  block[0] = fd;
  /* A file of another size is not this input: reject it rather than read part of it. */
  if (write || mc_semihost(SYS_FLEN, block) == n) {
    block[1] = (uintptr_t)buf;
    block[2] = n;
    left = mc_semihost(write ? SYS_WRITE : SYS_READ, block); /* the bytes NOT transferred */
  }
  block[0] = fd;
  if (mc_semihost(SYS_CLOSE, block) != 0) return -1;
  return left == 0 ? 0 : -1;
}
