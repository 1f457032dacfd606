/* microc's QEMU TCG plugin: counts the guest's executed instructions exactly, by class, per INVOKE and
 * per layer, for microc's cycle estimate (microc/cycles.py turns the class counts into cycles).
 *
 * The firmware marks the spans with empty functions (runtime_c/include/mc_mark.h); the host reads
 * their addresses from the ELF and passes them as arguments:
 *   out=PATH  records are appended here
 *   arch=arm|riscv
 *   invoke_begin=ADDR invoke_end=ADDR layer_begin=ADDR layer_end=ADDR   (hex, 0x...)
 * PATH starts with a line "classes NAME..."; then each INVOKE (from entering mc_mark_invoke_begin to
 * entering mc_mark_invoke_end) appends, in one write(), "invoke N" with the class counts of the whole
 * span, N lines "layer I" with the counts between each layer's begin and end marks, and "end".
 *
 * Counting: every instruction adds 1 to its class with an inline TCG add at its start (exact: an
 * instruction that QEMU re-executes alone for an I/O access is translated "memory only" and not counted
 * twice). Whether a PC-writing instruction that ends a translation block jumped is seen at the next
 * block's start: a start at its fall-through address means not taken.
 *
 * The QEMU plugin API is a C ABI, stable within a version; Debian's QEMU 7.2 exports version 1 but
 * ships no qemu-plugin.h, so the few declarations used are written here from its documentation. */
#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- QEMU plugin API, version 1 ---- */
#define EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct {
  const char *target_name;
  struct { int min, cur; } version;
  bool system_emulation;
  union { struct { int smp_vcpus, max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);

EXPORT int qemu_plugin_version = 1;

/* ---- instruction classes (microc/cycles.py prices them per CPU) ---- */
/* X(name): every executed instruction falls in exactly one class before ldm_regs; the classes from
 * ldm_regs on are events added on top (registers moved, jumps taken). */
#define CLASSES(X)                                                                                  \
  X(alu) X(load) X(load_pipelined) X(store) X(store_pipelined) X(ldm) X(stm) X(mul) X(mla) X(mull)  \
  X(mlal) X(dsp) X(dsp_long) X(div) X(branch) X(table_branch) X(it) X(fp) X(fp_mac) X(fp_div)        \
  X(mve) X(mve_mem) X(mve_overlapped) X(ldm_regs) X(stm_regs) X(taken) X(taken_indirect)
#define ENUM(n) C_##n,
enum { CLASSES(ENUM) N_CLASSES };
#define NAME(n) #n,
static const char *const class_names[] = {CLASSES(NAME)};

enum marker { M_NONE, M_INVOKE_BEGIN, M_INVOKE_END, M_LAYER_BEGIN, M_LAYER_END, N_MARKERS };
static const char *const marker_args[N_MARKERS] = {"", "invoke_begin", "invoke_end", "layer_begin",
                                                   "layer_end"};

static uint64_t counts[N_CLASSES]; /* since QEMU started; spans are differences of snapshots */
static uint64_t marker_addr[N_MARKERS];
static bool riscv;
static int out_fd = -1;

/* ---- ARM (Thumb) classification from QEMU's capstone disassembly ---- */

static const char *const conds[] = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs",
                                    "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"};

/* The mnemonic is `base`, optionally with the flag-setting s and a condition code (IT blocks). */
static bool is(const char *m, const char *base) {
  size_t n = strlen(base);
  if (strncmp(m, base, n) != 0) return false;
  m += n;
  if (*m == 's') m++;
  if (*m == '\0') return true;
  for (size_t i = 0; i < sizeof conds / sizeof *conds; i++)
    if (strcmp(m, conds[i]) == 0) return true;
  return false;
}

static bool is_any(const char *m, const char *const *bases) {
  for (; *bases; bases++)
    if (is(m, *bases)) return true;
  return false;
}

static const char *const LOADS[] = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht",
                                    "ldrsbt", "ldrsht", "ldrex", "ldrexb", "ldrexh", "lda", "ldab",
                                    "ldah", "ldaex", "ldaexb", "ldaexh", "vldr", NULL};
static const char *const STORES[] = {"str", "strb", "strh", "strt", "strbt", "strht", "strex", "strexb",
                                     "strexh", "stl", "stlb", "stlh", "stlex", "stlexb", "stlexh", "vstr",
                                     NULL};
static const char *const LOAD_MULTIPLE[] = {"ldm", "ldmia", "ldmdb", "ldmfd", "pop", "vldmia", "vldmdb",
                                            "vpop", "ldrd", "vldm", NULL};
static const char *const STORE_MULTIPLE[] = {"stm", "stmia", "stmdb", "stmea", "push", "vstmia", "vstmdb",
                                             "vpush", "strd", "vstm", NULL};
static const char *const MUL[] = {"mul", NULL};
static const char *const MLA[] = {"mla", "mls", NULL};
static const char *const MULL[] = {"smull", "umull", NULL};
static const char *const MLAL[] = {"smlal", "umlal", "umaal", NULL};
/* The DSP extension: 16-bit and dual multiplies, SIMD within a register, saturation, packing. */
static const char *const DSP_LONG[] = {"smlald", "smlaldx", "smlsld", "smlsldx", "smlalbb", "smlalbt",
                                       "smlaltb", "smlaltt", NULL};
static const char *const DSP[] = {
    "smlad", "smladx", "smlsd", "smlsdx", "smuad", "smuadx", "smusd", "smusdx", "smlabb", "smlabt",
    "smlatb", "smlatt", "smlawb", "smlawt", "smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt",
    "smmul", "smmulr", "smmla", "smmlar", "smmls", "smmlsr", "sxtb16", "sxtab16", "uxtb16", "uxtab16",
    "sxtab", "sxtah", "uxtab", "uxtah", "sadd16", "sadd8", "ssub16", "ssub8", "uadd16", "uadd8", "usub16",
    "usub8", "qadd", "qsub", "qdadd", "qdsub", "qadd16", "qadd8", "qsub16", "qsub8", "uqadd16", "uqadd8",
    "uqsub16", "uqsub8", "shadd16", "shadd8", "shsub16", "shsub8", "uhadd16", "uhadd8", "uhsub16",
    "uhsub8", "sasx", "ssax", "uasx", "usax", "qasx", "qsax", "shasx", "shsax", "uqasx", "uqsax",
    "uhasx", "uhsax", "ssat16", "usat16", "sel", "usad8", "usada8", "pkhbt", "pkhtb", NULL};
static const char *const DIV[] = {"sdiv", "udiv", NULL};
static const char *const BRANCH[] = {"b", "bl", "cbz", "cbnz", NULL};
static const char *const BRANCH_INDIRECT[] = {"bx", "blx", "bxns", "blxns", NULL};
static const char *const FP_MAC[] = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms",
                                     NULL};
static const char *const FP_DIV[] = {"vdiv", "vsqrt", NULL};

/* Registers in a list such as "{r4, r5, lr}" or "{d8-d11}". */
static int register_count(const char *ops) {
  const char *p = strchr(ops, '{');
  int n = 0;
  if (!p) return 1;
  for (p++; *p && *p != '}'; p++) {
    if (isalpha((unsigned char)*p) && (p[-1] == '{' || p[-1] == ' ')) {
      int first = atoi(p + 1), last;
      const char *dash = strchr(p, '-');
      const char *end = strpbrk(p, ",}");
      n++;
      if (dash && end && dash < end && (last = atoi(dash + 2)) > first) n += last - first;
    }
  }
  return n;
}

static bool writes_pc(const char *ops) {
  return strncmp(ops, "pc,", 3) == 0 || strncmp(ops, "pc ", 3) == 0 || strstr(ops, "pc}") != NULL;
}

static bool is_load_store_single(int c) {
  return c == C_load || c == C_store;
}

/* Armv8.1-M instructions capstone 4 cannot decode. The low-overhead loop instructions: LE / LETP (loop
 * end, a branch back that the loop hardware takes without a refill, so no PC event), WLS / WLSTP (may
 * branch past the loop), DLS / DLSTP (set up the count). In the coprocessor space: MVE (Helium). */
static int classify_undecoded(const uint8_t *b, size_t size, int *pc) {
  uint16_t hw = (uint16_t)(b[0] | b[1] << 8), hw2 = size == 4 ? (uint16_t)(b[2] | b[3] << 8) : 0;
  if (size != 4) return C_alu;
  if ((hw & 0xFFCFu) == 0xF00Fu && (hw2 & 0xF001u) == 0xC001u) return C_branch; /* LE, LETP */
  if ((hw & 0xFFC0u) == 0xF040u && (hw2 & 0xF001u) == 0xC001u) { /* WLS, WLSTP */
    *pc = 1;
    return C_branch;
  }
  if ((hw & 0xEC00u) == 0xEC00u) return (hw & 0xEE00u) == 0xEC00u ? C_mve_mem : C_mve;
  return C_alu; /* DLS, DLSTP and anything else */
}

/* Class of one Thumb instruction, the registers it moves (*regs) and whether it may write the PC
 * (*pc: 1 to an immediate target, 2 to a register or loaded one). */
static int classify_arm(const char *dis, const uint8_t *bytes, size_t size, int *regs, int *pc) {
  char m[32];
  const char *ops = dis;
  size_t n = 0;
  bool vector;
  while (*ops && !isspace((unsigned char)*ops) && n < sizeof m - 1) m[n++] = *ops++;
  m[n] = '\0';
  while (isspace((unsigned char)*ops)) ops++;
  vector = m[0] == 'v' && (strstr(ops, "q0") || strstr(ops, "q1") || strstr(ops, "q2") || strstr(ops, "q3") ||
                           strstr(ops, "q4") || strstr(ops, "q5") || strstr(ops, "q6") || strstr(ops, "q7"));
  char *dot = strchr(m, '.');
  if (dot) *dot = '\0'; /* .w/.n widths, .f32/.i8 data types */
  *regs = 0;
  *pc = 0;
  if (m[0] == '\0' || m[0] == '.' || strstr(dis, "unknown") || strstr(dis, "illegal"))
    return classify_undecoded(bytes, size, pc);
  if (vector) return (is(m, "vldr") || is(m, "vstr") || strncmp(m, "vld", 3) == 0 || strncmp(m, "vst", 3) == 0)
                         ? C_mve_mem : C_mve;
  /* MVE's VLDRx/VSTRx and some vector operations sit in the coprocessor space, which capstone 4 shows as
   * accesses to coprocessors 14 and 15; M-profile code has no other use for them (the FPU is 10 and 11). */
  if (strstr(ops, "p14,") || strstr(ops, "p15,") || strncmp(ops, "14,", 3) == 0 || strncmp(ops, "15,", 3) == 0)
    return (m[0] == 'l' || m[0] == 's') ? C_mve_mem : C_mve;
  if (is_any(m, LOAD_MULTIPLE) || is_any(m, STORE_MULTIPLE)) {
    bool load = is_any(m, LOAD_MULTIPLE);
    *regs = (is(m, "ldrd") || is(m, "strd")) ? 2 : register_count(ops);
    if (load && strstr(ops, "pc}")) *pc = 2;
    return load ? C_ldm : C_stm;
  }
  if (is_any(m, LOADS)) {
    if (writes_pc(ops)) *pc = 2;
    return C_load;
  }
  if (is_any(m, STORES)) return C_store;
  if (is(m, "tbb") || is(m, "tbh")) {
    *pc = 2;
    return C_table_branch;
  }
  if (is_any(m, BRANCH)) {
    *pc = 1;
    return C_branch;
  }
  if (is_any(m, BRANCH_INDIRECT)) {
    *pc = 2;
    return C_branch;
  }
  if (m[0] == 'i' && m[1] == 't' && strspn(m + 2, "te") == strlen(m + 2)) return C_it;
  if (is_any(m, MUL)) return C_mul;
  if (is_any(m, MLA)) return C_mla;
  if (is_any(m, MULL)) return C_mull;
  if (is_any(m, MLAL)) return C_mlal;
  if (is_any(m, DSP_LONG)) return C_dsp_long;
  if (is_any(m, DSP)) return C_dsp;
  if (is_any(m, DIV)) return C_div;
  if (m[0] == 'v' && dot) { /* floating point data processing carries a data type: vadd.f32 */
    if (is_any(m, FP_MAC)) return C_fp_mac;
    if (is_any(m, FP_DIV)) return C_fp_div;
    return C_fp;
  }
  if (writes_pc(ops)) *pc = 2; /* mov pc, rm; add pc, rm */
  return C_alu;
}

/* ---- RV32 classification from the encoding (base, M and C extensions) ---- */
static int classify_riscv(const uint8_t *b, size_t size, int *regs, int *pc) {
  uint32_t w = (uint32_t)b[0] | (uint32_t)b[1] << 8;
  *regs = 0;
  *pc = 0;
  if (size == 4) {
    w |= (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    switch (w & 0x7Fu) {
      case 0x03: case 0x07: return C_load;
      case 0x23: case 0x27: return C_store;
      case 0x63: *pc = 1; return C_branch;
      case 0x6F: *pc = 1; return C_branch;
      case 0x67: *pc = 2; return C_branch;
      case 0x33:
        if ((w >> 25) == 1u) return ((w >> 12) & 7u) < 4u ? C_mul : C_div;
        return C_alu;
      default: return C_alu;
    }
  }
  unsigned quadrant = w & 3u, funct3 = (w >> 13) & 7u;
  if (quadrant == 0) return funct3 == 2 || funct3 == 3 ? C_load : funct3 >= 6 ? C_store : C_alu;
  if (quadrant == 1) {
    if (funct3 == 1 || funct3 == 5 || funct3 >= 6) *pc = 1; /* c.jal, c.j, c.beqz, c.bnez */
    return *pc ? C_branch : C_alu;
  }
  if (funct3 == 2 || funct3 == 3) return C_load;   /* c.lwsp, c.flwsp */
  if (funct3 == 6 || funct3 == 7) return C_store;  /* c.swsp, c.fswsp */
  if (funct3 == 4 && ((w >> 2) & 0x1Fu) == 0 && ((w >> 7) & 0x1Fu) != 0) { /* c.jr, c.jalr */
    *pc = 2;
    return C_branch;
  }
  return C_alu;
}

/* A load or store single right after another one overlaps its address phase with the previous data
 * phase (Cortex-M3/M4 TRM); an MVE instruction after one of the other group (memory vs arithmetic)
 * overlaps its beats with it (Cortex-M55). Whether a CPU gains from either is its table's business.
 * `prev` is the previous instruction's own class, before this context rule. */
static int in_context(int c, int prev) {
  if (c == C_load && is_load_store_single(prev)) return C_load_pipelined;
  if (c == C_store && is_load_store_single(prev)) return C_store_pipelined;
  if ((c == C_mve && prev == C_mve_mem) || (c == C_mve_mem && prev == C_mve)) return C_mve_overlapped;
  return c;
}

/* ---- spans ---- */
static uint64_t invoke_start[N_CLASSES], layer_start[N_CLASSES];
static uint64_t *layers; /* n_layers rows of N_CLASSES */
static size_t n_layers, cap_layers;
static bool in_invoke;

static void diff(uint64_t *dst, const uint64_t *start) {
  for (int i = 0; i < N_CLASSES; i++) dst[i] = counts[i] - start[i];
}

static size_t put_row(char *buf, size_t at, const char *head, const uint64_t *row) {
  at += (size_t)sprintf(buf + at, "%s", head);
  for (int i = 0; i < N_CLASSES; i++) at += (size_t)sprintf(buf + at, " %llu", (unsigned long long)row[i]);
  buf[at++] = '\n';
  return at;
}

static void write_all(const char *buf, size_t n) {
  while (n > 0) {
    ssize_t k = write(out_fd, buf, n);
    if (k <= 0) return;
    buf += k;
    n -= (size_t)k;
  }
}

static void end_invoke(void) {
  uint64_t total[N_CLASSES];
  size_t line = 32 + 21 * N_CLASSES;
  char *buf = malloc(line * (n_layers + 2));
  size_t at = 0;
  char head[40];
  if (!buf) return;
  diff(total, invoke_start);
  snprintf(head, sizeof head, "invoke %zu", n_layers);
  at = put_row(buf, at, head, total);
  for (size_t i = 0; i < n_layers; i++) {
    snprintf(head, sizeof head, "layer %zu", i);
    at = put_row(buf, at, head, layers + i * N_CLASSES);
  }
  at += (size_t)sprintf(buf + at, "end\n");
  write_all(buf, at); /* one write, done before the firmware answers the INVOKE */
  free(buf);
}

static void on_marker(enum marker m) {
  switch (m) {
    case M_INVOKE_BEGIN:
      memcpy(invoke_start, counts, sizeof counts);
      n_layers = 0;
      in_invoke = true;
      break;
    case M_LAYER_BEGIN:
      memcpy(layer_start, counts, sizeof counts);
      break;
    case M_LAYER_END:
      if (!in_invoke) break;
      if (n_layers == cap_layers) {
        size_t cap = cap_layers ? 2 * cap_layers : 64;
        uint64_t *grown = realloc(layers, cap * sizeof counts);
        if (!grown) break;
        layers = grown;
        cap_layers = cap;
      }
      diff(layers + n_layers++ * N_CLASSES, layer_start);
      break;
    case M_INVOKE_END:
      if (in_invoke) end_invoke();
      in_invoke = false;
      break;
    default: break;
  }
}

/* The jump that ended the previous block: its fall-through address and the event a jump adds. */
static uint64_t pending_fallthrough;
static int pending_event = -1;

static void on_jump(unsigned int vcpu, void *udata) {
  (void)vcpu;
  pending_fallthrough = (uintptr_t)udata >> 1;
  pending_event = ((uintptr_t)udata & 1u) ? C_taken_indirect : C_taken;
}

static void on_block(unsigned int vcpu, void *udata) {
  uint64_t pc = (uintptr_t)udata >> 3;
  (void)vcpu;
  if (pending_event >= 0) {
    if (pc != pending_fallthrough) counts[pending_event]++;
    pending_event = -1;
  }
  if (((uintptr_t)udata & 7u) != M_NONE) on_marker((enum marker)((uintptr_t)udata & 7u));
}

static enum marker marker_at(uint64_t pc) {
  for (int m = M_INVOKE_BEGIN; m < N_MARKERS; m++)
    if (marker_addr[m] && marker_addr[m] == pc) return (enum marker)m;
  return M_NONE;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  uint64_t start = qemu_plugin_tb_vaddr(tb);
  int prev = C_branch; /* a block starts after a jump, or where one may land */
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS,
                                       (void *)(uintptr_t)(start << 3 | marker_at(start)));
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    const uint8_t *bytes = qemu_plugin_insn_data(insn);
    size_t size = qemu_plugin_insn_size(insn);
    int regs, pc, c, own;
    if (riscv) {
      c = classify_riscv(bytes, size, &regs, &pc);
    } else {
      char *dis = qemu_plugin_insn_disas(insn);
      c = classify_arm(dis ? dis : "", bytes, size, &regs, &pc);
      free(dis);
    }
    own = c;
    c = in_context(c, prev);
    prev = own;
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counts[c], 1);
    if (regs)
      qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                 &counts[c == C_ldm ? C_ldm_regs : C_stm_regs], (uint64_t)regs);
    if (pc && i == n - 1) {
      uint64_t fallthrough = qemu_plugin_insn_vaddr(insn) + size;
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_jump, QEMU_PLUGIN_CB_NO_REGS,
                                             (void *)(uintptr_t)(fallthrough << 1 | (pc == 2)));
    }
  }
}

static bool parse_args(int argc, char **argv) {
  const char *out = NULL;
  for (int i = 0; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) return false;
    *eq = '\0';
    if (strcmp(argv[i], "out") == 0) out = eq + 1;
    else if (strcmp(argv[i], "arch") == 0) riscv = strcmp(eq + 1, "riscv") == 0;
    else {
      int m;
      for (m = M_INVOKE_BEGIN; m < N_MARKERS && strcmp(argv[i], marker_args[m]) != 0; m++) {
      }
      if (m == N_MARKERS) return false;
      marker_addr[m] = strtoull(eq + 1, NULL, 0);
    }
    *eq = '=';
  }
  if (!out) return false;
  if (!riscv)
    for (int m = M_INVOKE_BEGIN; m < N_MARKERS; m++) marker_addr[m] &= ~1ull; /* the Thumb bit */
  out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return out_fd >= 0;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  char header[1024];
  size_t at;
  if (!info->system_emulation || !parse_args(argc, argv)) {
    fprintf(stderr, "mc_count: usage: out=PATH arch=arm|riscv invoke_begin=A invoke_end=A layer_begin=A "
                    "layer_end=A\n");
    return -1;
  }
  at = (size_t)snprintf(header, sizeof header, "classes");
  for (int i = 0; i < N_CLASSES; i++) at += (size_t)snprintf(header + at, sizeof header - at, " %s", class_names[i]);
  header[at++] = '\n';
  write_all(header, at);
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  return 0;
}
