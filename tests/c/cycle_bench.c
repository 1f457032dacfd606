/* Microbenchmarks for the cycle estimate (tests/test_cycles.py): each runs between the instruction-count
 * marks (mc_mark.h), so microc's QEMU plugin records its instruction classes. The code is assembly, so
 * the instructions are known exactly; each benchmark's figure is its record less the empty one's.
 * Replaces main.c of a rendered Cortex-M project. */
#include <stdint.h>
#include "mc_mark.h"
#include "mc_platform.h"

#define BENCH(name, body)                                                             \
  __asm__(".section .text." #name ",\"ax\",%progbits\n.global " #name "\n.type " #name \
          ",%function\n.thumb_func\n" #name ":\n" body "bx lr\n.size " #name ", .-" #name "\n")

__asm__(".syntax unified\n.thumb\n");
/* Nothing: the calls and marks every benchmark shares. */
BENCH(bench_empty, "");
/* Eight independent word loads in a row: the first 2 cycles, each next one pipelined, 1. */
BENCH(bench_loads, "ldr r1, [r0]\nldr r2, [r0, #4]\nldr r3, [r0, #8]\nldr r1, [r0, #12]\n"
                   "ldr r2, [r0, #16]\nldr r3, [r0, #20]\nldr r1, [r0, #24]\nldr r2, [r0, #28]\n");
/* A count-down loop of 10: the conditional branch is taken 9 times and falls through once. */
BENCH(bench_branch_loop, "movs r1, #10\n1: subs r1, #1\nbne 1b\n");
/* 8 iterations of four SMLADs (dual 16-bit multiply-accumulate) and the loop's subs and bne. */
BENCH(bench_smlad_loop, "movs r1, #8\n2: smlad r2, r3, r3, r2\nsmlad r2, r3, r3, r2\nsmlad r2, r3, r3, r2\n"
                        "smlad r2, r3, r3, r2\nsubs r1, #1\nbne 2b\n");
/* PUSH and POP of four registers. */
BENCH(bench_push_pop, "push {r4, r5, r6, r7}\npop {r4, r5, r6, r7}\n");

#if defined(__ARM_FEATURE_MVE)
/* Cortex-M55: a low-overhead loop of 4 iterations, each a vector load, add and store (Helium). */
BENCH(bench_mve_loop, "movs r1, #4\npush {lr}\ndls lr, r1\n3: vldrw.u32 q0, [r0]\nvadd.i32 q1, q0, q0\n"
                      "vstrw.32 q1, [r0]\nle lr, 3b\npop {lr}\n");
#define MVE_BENCH bench_mve_loop,
void bench_mve_loop(const uint32_t *p);
#else
#define MVE_BENCH
#endif

void bench_empty(const uint32_t *p);
void bench_loads(const uint32_t *p);
void bench_branch_loop(const uint32_t *p);
void bench_smlad_loop(const uint32_t *p);
void bench_push_pop(const uint32_t *p);

static uint32_t words[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static void (*const benches[])(const uint32_t *) = {bench_empty, bench_loads, bench_branch_loop,
                                                     bench_smlad_loop, bench_push_pop, MVE_BENCH};

int main(void) {
  unsigned i;
  mc_platform_init();
  for (i = 0; i < sizeof benches / sizeof *benches; i++) {
    mc_mark_invoke_begin();
    benches[i](words);
    mc_mark_invoke_end();
  }
  mc_exit(0);
  return 0;
}
