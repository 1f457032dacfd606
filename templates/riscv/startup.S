/* Reset code for a bare-metal RV32 hart in machine mode (QEMU virt with -bios none jumps here).
 * Sets gp, sp, tp and a trap vector, copies .data from its image in flash, clears .bss and the arena,
 * calls main(), and passes its result to mc_exit(). A trap (illegal instruction, access fault, ...)
 * stops the machine with exit status 250 (microc.runner.qemu.FAULT_EXIT_STATUS), so the host reports
 * the crash at once instead of waiting for its timeout. */
  .equ FAULT_EXIT_STATUS, 250
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, __stack_top
  la tp, __tls_base
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
  la a0, __bss_start
  la a1, __bss_end
  call clear_words
  la a0, __arena_start
  la a1, __arena_end
  call clear_words
  call main
  call mc_exit /* main's result is already in a0 */
3:
  j 3b

/* Zero the words in [a0, a1); both 4-byte aligned. */
clear_words:
  bgeu a0, a1, 1f
  sw zero, 0(a0)
  addi a0, a0, 4
  j clear_words
1:
  ret

  .align 2
trap_entry:
  li a0, FAULT_EXIT_STATUS
  call mc_exit
1:
  j 1b
