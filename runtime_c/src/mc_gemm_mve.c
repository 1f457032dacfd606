/* The GEMM of the Helium kernels (mc_mve.h): one or two patches by every output channel, 4 channels
 * at a time. Per 16 patch values: one load per patch, four weight loads, 4 (8 with two patches)
 * VMLAVA. A row's last chunk reads up to 15 values past the row, against zero weights (mc_mve.h). */
#define MC_MVE_IMPL
#include "mc_kernels.h"

#ifdef __ARM_FEATURE_MVE

/* The loop state of sums_s8, in memory: the registers are all taken. Offsets fixed (asm below). */
typedef struct {
  const int8_t *x0, *x1; /* @0, @4: the patches */
  const int32_t *q;      /* @8: the next block's qparams (its bias starts the sums) */
  int32_t *acc;          /* @12: where the next block's sums go: [4] (patch 0) then [4] (patch 1) */
  int32_t rows, chunks;  /* @16, @20: rows, 16-value chunks per row */
  int32_t adv, blocks;   /* @24, @28: from a row's end to the next row; blocks left */
} job_t;

/* The sums (bias included) of j->blocks blocks of 4 channels, for patch 0 and, when `pair`, patch 1,
 * with *k advancing over the blocks' weights. In assembly: VMLAVA accumulates only into even
 * registers, which the 8 sums take whole (r0-r12 and lr); GCC's allocation of the C form moves every
 * sum through a spare register and spills inside the loop (twice the instructions). */
static inline __attribute__((always_inline)) void sums_s8(job_t *j, const int8_t **k, int pair) {
  register int32_t a0 __asm__("r0");
  register int32_t a1 __asm__("r2");
  register int32_t a2 __asm__("r4");
  register int32_t a3 __asm__("r6");
  const int8_t *w = *k, *x0, *x1;
  int32_t n, rows;
  if (pair) {
    register int32_t b0 __asm__("r8");
    register int32_t b1 __asm__("r10");
    register int32_t b2 __asm__("r12");
    register int32_t b3 __asm__("lr");
    __asm__ volatile(
        "3:\n"
        "ldr %[n], [%[j], #8]\n"
        "ldm %[n], {r0, r2, r4, r6}\n"
        "ldm %[n], {r8, r10, r12, lr}\n"
        "adds %[n], %[n], #64\n"
        "str %[n], [%[j], #8]\n"
        "ldrd %[x0], %[x1], [%[j]]\n"
        "ldr %[rows], [%[j], #16]\n"
        "2:\n"
        "ldr %[n], [%[j], #20]\n"
        "1:\n"
        "vldrb.u8 q0, [%[x0]], #16\n"
        "vldrb.u8 q1, [%[x1]], #16\n"
        "vldrb.u8 q2, [%[w]], #16\n"
        "vmlava.s8 %[a0], q0, q2\n"
        "vmlava.s8 %[b0], q1, q2\n"
        "vldrb.u8 q3, [%[w]], #16\n"
        "vmlava.s8 %[a1], q0, q3\n"
        "vmlava.s8 %[b1], q1, q3\n"
        "vldrb.u8 q2, [%[w]], #16\n"
        "vmlava.s8 %[a2], q0, q2\n"
        "vmlava.s8 %[b2], q1, q2\n"
        "vldrb.u8 q3, [%[w]], #16\n"
        "vmlava.s8 %[a3], q0, q3\n"
        "vmlava.s8 %[b3], q1, q3\n"
        "subs %[n], %[n], #1\n"
        "bne 1b\n"
        "ldr %[n], [%[j], #24]\n"
        "add %[x0], %[x0], %[n]\n"
        "add %[x1], %[x1], %[n]\n"
        "subs %[rows], %[rows], #1\n"
        "bne 2b\n"
        "ldr %[n], [%[j], #12]\n"
        "stm %[n]!, {r0, r2, r4, r6, r8, r10, r12, lr}\n"
        "str %[n], [%[j], #12]\n"
        "ldr %[n], [%[j], #28]\n"
        "subs %[n], %[n], #1\n"
        "str %[n], [%[j], #28]\n"
        "bne 3b\n"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [b0] "=&r"(b0),
          [b1] "=&r"(b1), [b2] "=&r"(b2), [b3] "=&r"(b3), [x0] "=&r"(x0), [x1] "=&r"(x1),
          [rows] "=&r"(rows), [n] "=&r"(n), [w] "+r"(w)
        : [j] "r"(j)
        : "q0", "q1", "q2", "q3", "cc", "memory");
  } else {
    __asm__ volatile(
        "3:\n"
        "ldr %[n], [%[j], #8]\n"
        "ldm %[n], {r0, r2, r4, r6}\n"
        "adds %[n], %[n], #64\n"
        "str %[n], [%[j], #8]\n"
        "ldr %[x0], [%[j]]\n"
        "ldr %[rows], [%[j], #16]\n"
        "2:\n"
        "ldr %[n], [%[j], #20]\n"
        "1:\n"
        "vldrb.u8 q0, [%[x0]], #16\n"
        "vldrb.u8 q2, [%[w]], #16\n"
        "vmlava.s8 %[a0], q0, q2\n"
        "vldrb.u8 q3, [%[w]], #16\n"
        "vmlava.s8 %[a1], q0, q3\n"
        "vldrb.u8 q2, [%[w]], #16\n"
        "vmlava.s8 %[a2], q0, q2\n"
        "vldrb.u8 q3, [%[w]], #16\n"
        "vmlava.s8 %[a3], q0, q3\n"
        "subs %[n], %[n], #1\n"
        "bne 1b\n"
        "ldr %[n], [%[j], #24]\n"
        "add %[x0], %[x0], %[n]\n"
        "subs %[rows], %[rows], #1\n"
        "bne 2b\n"
        "ldr %[n], [%[j], #12]\n"
        "stm %[n], {r0, r2, r4, r6}\n"
        "adds %[n], %[n], #32\n"
        "str %[n], [%[j], #12]\n"
        "ldr %[n], [%[j], #28]\n"
        "subs %[n], %[n], #1\n"
        "str %[n], [%[j], #28]\n"
        "bne 3b\n"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x0] "=&r"(x0),
          [rows] "=&r"(rows), [n] "=&r"(n), [w] "+r"(w)
        : [j] "r"(j)
        : "q0", "q2", "q3", "cc", "memory");
  }
  (void)x1;
  *k = w;
}

#define GROUP 32 /* blocks of 4 channels summed before they are requantized (1 KB of sums) */

static inline __attribute__((always_inline)) void gemm_s8(const mc_mve_gemm_t *p, mc_mve_layout_t l,
                                                          const int8_t *x0, const int8_t *x1,
                                                          int8_t *o0, int8_t *o1, int pair) {
  const int8_t *w = p->weights;
  const int32_t zp = p->out_zp, out_c = p->out_c;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  int32_t acc[GROUP][8] __attribute__((aligned(8)));
  job_t j;
  int32_t c = 0;
  j.x0 = x0;
  j.x1 = x1;
  j.q = p->qparams;
  j.rows = l.rows;
  j.chunks = (l.run + 15) >> 4;
  j.adv = l.row_step - j.chunks * 16;
  while (c < out_c) {
    const int32_t *q = j.q;
    const int32_t blocks = MC_MIN(GROUP, (out_c - c + 3) >> 2);
    int32_t b;
    j.acc = acc[0];
    j.blocks = blocks;
    sums_s8(&j, &w, pair);
    for (b = 0; b < blocks; ++b, c += 4, q += 16) {
      const mc_mve_q_t qv = mc_mve_load_q(q);
      mc_mve_store4(o0 + c, mc_mve_requant(vldrwq_s32(acc[b]), qv, zp, lo, hi), out_c - c);
      if (pair) mc_mve_store4(o1 + c, mc_mve_requant(vldrwq_s32(acc[b] + 4), qv, zp, lo, hi), out_c - c);
    }
  }
}

void mc_mve_gemm_s8(const mc_mve_gemm_t *p, mc_mve_layout_t l, const int8_t *x0, const int8_t *x1,
                    int8_t *o0, int8_t *o1) {
  if (x1)
    gemm_s8(p, l, x0, x1, o0, o1, 1);
  else
    gemm_s8(p, l, x0, x0, o0, o0, 0);
}

#endif
