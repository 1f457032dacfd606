/* Reset code for a bare-metal RV32 hart in machine mode (QEMU virt with -bios none jumps here).
 * Sets gp, sp, tp and a trap vector, copies .data from its load image in flash, zeroes .bss, calls main().
 * A trap (illegal instruction, access fault, ...) stops the machine with exit status 100 + mcause,
 * so a crash is reported at once instead of hanging until the host's timeout. */
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, __stack_top
  la tp, __tls_base /* picolibc keeps errno in thread-local storage */
  la t0, trap_entry
  csrw mtvec, t0
  csrw mie, zero

  la t0, __data_load
  la t1, __data_start
  la t2, __data_end
1:
  bgeu t1, t2, 2f
  lw t3, 0(t0)
  sw t3, 0(t1)
  addi t0, t0, 4
  addi t1, t1, 4
  j 1b
2:
  la t1, __bss_start
  la t2, __bss_end
3:
  bgeu t1, t2, 4f
  sw zero, 0(t1)
  addi t1, t1, 4
  j 3b
4:
  call main
  call mc_exit /* main's return value is already in a0 */
5:
  j 5b

  .align 2
trap_entry:
  csrr a0, mcause
  andi a0, a0, 0xff
  addi a0, a0, 100
  call mc_exit
6:
  j 6b
