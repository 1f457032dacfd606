/* Classical machine learning kernels (mc_trees.h), float32, with onnxruntime's arithmetic: leaf
 * weights added in float in tree order, then the base values; the post transforms as in its ml_common.h. */
#include "mc_kernels.h"

/* What every strategy does around its walks: zero the sums, add each tree's leaf, then average and
 * add the base values. Macros, not functions: GCC did not inline the functions at -O2 (+50 to +100
 * instructions per inference on the benchmark's forest). */
#define MC_TREES_ZERO(out, n) { int32_t j_; for (j_ = 0; j_ < (n); ++j_) (out)[j_] = 0.0f; }
#define MC_TREES_ADD(out, w, n) { int32_t j_; for (j_ = 0; j_ < (n); ++j_) (out)[j_] += (w)[j_]; }
#define MC_TREES_FINISH(out, n, divisor, base)                                              \
  { int32_t j_; for (j_ = 0; j_ < (n); ++j_) (out)[j_] = (out)[j_] / (divisor) + (base)[j_]; }

/* One tree walk per tree; every feature type and width shares the body (threshold: of x's type). The
 * functions are spelled out: microc copies the runtime files whose definitions its model calls
 * (project/render.py's needed_sources finds "name(" on a definition's line). */
#define MC_TREES_BODY(x_t)                                                                   \
  {                                                                                          \
    const x_t *threshold = (const x_t *)p->threshold;                                       \
    int32_t t;                                                                              \
    MC_TREES_ZERO(out, p->n_targets)                                                        \
    for (t = 0; t < p->n_trees; ++t) {                                                       \
      int32_t n = p->roots[t];                                                               \
      const float *w;                                                                        \
      while (n >= 0) n = x[feature[n]] <= threshold[n] ? left[n] : right[n];                 \
      w = p->leaves + (int32_t)(~n) * p->n_targets;                                          \
      MC_TREES_ADD(out, w, p->n_targets)                                                    \
    }                                                                                        \
    MC_TREES_FINISH(out, p->n_targets, p->divisor, p->base)                                 \
  }

void mc_trees_f32_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left, const int16_t *right,
                      const float *x, float *out) MC_TREES_BODY(float)
void mc_trees_f32_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left, const int32_t *right,
                      const float *x, float *out) MC_TREES_BODY(float)
void mc_trees_i8_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left, const int16_t *right,
                     const int8_t *x, float *out) MC_TREES_BODY(int8_t)
void mc_trees_i8_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left, const int32_t *right,
                     const int8_t *x, float *out) MC_TREES_BODY(int8_t)
void mc_trees_i16_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left, const int16_t *right,
                      const int16_t *x, float *out) MC_TREES_BODY(int16_t)
void mc_trees_i16_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left, const int32_t *right,
                      const int16_t *x, float *out) MC_TREES_BODY(int16_t)
void mc_trees_i32_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left, const int16_t *right,
                      const int32_t *x, float *out) MC_TREES_BODY(int32_t)
void mc_trees_i32_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left, const int32_t *right,
                      const int32_t *x, float *out) MC_TREES_BODY(int32_t)

/* Hummingbird's perfect-tree traversal: every tree padded to a perfect tree of its depth, stored level by
 * level; a walk is `depth` steps of index arithmetic, no data-dependent branch (x <= t: left, else
 * right, as above). The bottom slot names the leaf. */
#define MC_TREES_PERFECT(x_t)                                                                 \
  {                                                                                           \
    const x_t *threshold = (const x_t *)p->threshold;                                        \
    int32_t t, k;                                                                           \
    MC_TREES_ZERO(out, p->n_targets)                                                        \
    for (t = 0; t < p->n_trees; ++t) {                                                        \
      const uint16_t *f = p->feature + p->nodes[t];                                           \
      const x_t *th = threshold + p->nodes[t];                                                \
      const int32_t depth = p->depth[t];                                                      \
      int32_t n = 0;                                                                          \
      const float *w;                                                                         \
      for (k = 0; k < depth; ++k) n = 2 * n + 2 - (x[f[n]] <= th[n]);                         \
      w = p->leaves + p->leaf[p->slots[t] + n - ((1 << depth) - 1)] * p->n_targets;           \
      MC_TREES_ADD(out, w, p->n_targets)                                                    \
    }                                                                                         \
    MC_TREES_FINISH(out, p->n_targets, p->divisor, p->base)                                 \
  }

void mc_trees_perfect_f32(const mc_trees_perfect_t *p, const float *x, float *out) MC_TREES_PERFECT(float)
void mc_trees_perfect_i8(const mc_trees_perfect_t *p, const int8_t *x, float *out) MC_TREES_PERFECT(int8_t)
void mc_trees_perfect_i16(const mc_trees_perfect_t *p, const int16_t *x, float *out) MC_TREES_PERFECT(int16_t)
void mc_trees_perfect_i32(const mc_trees_perfect_t *p, const int32_t *x, float *out) MC_TREES_PERFECT(int32_t)

/* Hummingbird's GEMM form, per tree: the node decisions T (x <= t, one byte each in `bits`: X A compared
 * with the thresholds), then for each leaf l the product T B[l] (B: +1 where l is in a node's left
 * subtree, -1 in its right, 0 elsewhere); the leaf reached is the one whose product equals its count of
 * left turns C[l] (every other leaf's is smaller). */
#define MC_TREES_GEMM(x_t)                                                                    \
  {                                                                                           \
    const x_t *threshold = (const x_t *)p->threshold;                                        \
    int32_t t, i, l;                                                                        \
    MC_TREES_ZERO(out, p->n_targets)                                                        \
    for (t = 0; t < p->n_trees; ++t) {                                                        \
      const int32_t first = p->nodes[t], nodes = p->nodes[t + 1] - first;                     \
      const int32_t leaves = p->leafs[t + 1] - p->leafs[t];                                   \
      const int8_t *b = p->paths + p->paths_at[t];                                            \
      const float *w;                                                                         \
      for (i = 0; i < nodes; ++i) bits[i] = x[p->feature[first + i]] <= threshold[first + i]; \
      for (l = 0; l < leaves - 1; ++l, b += nodes) {                                          \
        int32_t s = 0;                                                                        \
        for (i = 0; i < nodes; ++i) s += b[i] * bits[i];                                      \
        if (s == p->lefts[p->leafs[t] + l]) break;                                            \
      }                                                                                       \
      w = p->leaves + (p->leafs[t] + l) * p->n_targets; /* none matched before: the last */   \
      MC_TREES_ADD(out, w, p->n_targets)                                                    \
    }                                                                                         \
    MC_TREES_FINISH(out, p->n_targets, p->divisor, p->base)                                 \
  }

void mc_trees_gemm_f32(const mc_trees_gemm_t *p, const float *x, uint8_t *bits, float *out) MC_TREES_GEMM(float)
void mc_trees_gemm_i8(const mc_trees_gemm_t *p, const int8_t *x, uint8_t *bits, float *out) MC_TREES_GEMM(int8_t)
void mc_trees_gemm_i16(const mc_trees_gemm_t *p, const int16_t *x, uint8_t *bits, float *out) MC_TREES_GEMM(int16_t)
void mc_trees_gemm_i32(const mc_trees_gemm_t *p, const int32_t *x, uint8_t *bits, float *out) MC_TREES_GEMM(int32_t)

static float mc_logistic(float v) {
  const float e = 1.0f / (1.0f + expf(-fabsf(v)));
  return v < 0 ? 1.0f - e : e;
}

static void mc_softmax(float *s, int32_t n, int zero) {
  float m = s[0], sum = 0.0f;
  int32_t i;
  for (i = 1; i < n; ++i) m = s[i] > m ? s[i] : m;
  for (i = 0; i < n; ++i) {
    if (zero && s[i] <= 0.0000001f && s[i] >= -0.0000001f) { /* SOFTMAX_ZERO leaves zeros out */
      s[i] *= expf(-m);
    } else {
      s[i] = expf(s[i] - m);
      sum += s[i];
    }
  }
  for (i = 0; i < n; ++i) s[i] /= sum;
}

static void mc_transform(int32_t transform, float *s, int32_t n) {
  int32_t i;
  if (transform == MC_POST_LOGISTIC)
    for (i = 0; i < n; ++i) s[i] = mc_logistic(s[i]);
  else if (transform == MC_POST_SOFTMAX || transform == MC_POST_SOFTMAX_ZERO)
    mc_softmax(s, n, transform == MC_POST_SOFTMAX_ZERO);
}

void mc_ml_classify_plain_f32(const mc_classify_t *p, const float *raw, int64_t *label, float *scores) {
  const float s = raw[0];
  int32_t i, best = 0;
  if (p->binary == MC_ARGMAX) {
    for (i = 0; i < p->n_classes; ++i) {
      scores[i] = raw[i];
      if (raw[i] > raw[best]) best = i;
    }
    *label = p->labels[best];
    return;
  }
  *label = p->labels[s > (p->binary == MC_BINARY_HALF ? 0.5f : 0.0f) ? 1 : 0];
  scores[0] = p->binary == MC_BINARY_HALF ? 1.0f - s : -s;
  scores[1] = s;
}

void mc_ml_classify_f32(const mc_classify_t *p, const float *raw, int64_t *label, float *scores) {
  const float s = raw[0];
  mc_ml_classify_plain_f32(p, raw, label, scores);
  if (p->binary == MC_ARGMAX) {
    mc_transform(p->transform, scores, p->n_classes);
  } else if (p->binary != MC_BINARY_HALF && p->transform == MC_POST_LOGISTIC) {
    scores[1] = mc_logistic(s);
    scores[0] = p->binary == MC_BINARY_SIGN ? mc_logistic(-s) : 1.0f - scores[1];
  } else if (p->binary != MC_BINARY_HALF) {
    mc_transform(p->transform, scores, 2);
  }
}

void mc_normalize_f32(int32_t norm, const float *x, float *out, int32_t n) {
  float d = norm == MC_NORM_MAX ? x[0] : 0.0f;
  int32_t i;
  for (i = 0; i < n; ++i) {
    if (norm == MC_NORM_MAX) d = x[i] > d ? x[i] : d;
    else if (norm == MC_NORM_L1) d += fabsf(x[i]);
    else d += x[i] * x[i];
  }
  if (norm == MC_NORM_L2) d = sqrtf(d);
  for (i = 0; i < n; ++i) out[i] = x[i] / d;
}

static float mc_dot(const float *a, const MC_FLASH float *b, int32_t n) {
  float s = 0.0f;
  int32_t i;
  for (i = 0; i < n; ++i) s += a[i] * MC_READ_F32(&b[i]);
  return s;
}

static float mc_svm_kernel(const mc_svm_t *p, const float *x, const MC_FLASH float *sv) {
  int32_t i;
  float s = 0.0f, d;
  if (p->kernel == MC_SVM_RBF) {
    for (i = 0; i < p->n_features; ++i) {
      d = x[i] - MC_READ_F32(&sv[i]);
      s += d * d;
    }
    return expf(-p->gamma * s);
  }
  s = mc_dot(x, sv, p->n_features);
  if (p->kernel == MC_SVM_POLY) {
    s = p->gamma * s + p->coef0;
    return p->degree == 2.0f ? s * s : (p->degree == 3.0f ? s * s * s : powf(s, p->degree));
  }
  if (p->kernel == MC_SVM_SIGMOID) return tanhf(p->gamma * s + p->coef0);
  return s;
}

void mc_svm_regressor_f32(const mc_svm_t *p, const float *x, float *out) {
  float y = 0.0f;
  int32_t v;
  if (p->vectors == NULL) {
    y = mc_dot(x, p->coef, p->n_features) + p->rho;
  } else {
    for (v = 0; v < p->n_vectors; ++v) y += MC_READ_F32(&p->coef[v]) * mc_svm_kernel(p, x, p->vectors + v * p->n_features);
    y += p->rho;
  }
  out[0] = p->one_class ? (y > 0.0f ? 1.0f : -1.0f) : y;
}

/* sum over vectors first .. end - 1 of coef[v] * kernels[v] */
static float mc_svc_part(const MC_FLASH float *coef, const float *kernels, int32_t first, int32_t end) {
  float s = 0.0f;
  int32_t v;
  for (v = first; v < end; ++v) s += MC_READ_F32(&coef[v]) * kernels[v];
  return s;
}

void mc_svm_classifier_f32(const mc_svc_t *p, const float *x, float *kernels, int32_t *votes, int64_t *label,
                           float *scores) {
  const mc_svm_t *k = &p->svm;
  const int32_t n = p->n_classes, nv = k->n_vectors;
  int32_t i, j, pair = 0, best = 0;
  float s = 0.0f;
  for (i = 0; i < nv; ++i) kernels[i] = mc_svm_kernel(k, x, k->vectors + i * k->n_features);
  for (i = 0; i < n; ++i) votes[i] = 0;
  for (i = 0; i < n - 1; ++i) {
    for (j = i + 1; j < n; ++j, ++pair) {
      s = mc_svc_part(k->coef + (j - 1) * nv, kernels, p->starts[i], p->starts[i + 1]);
      s += mc_svc_part(k->coef + i * nv, kernels, p->starts[j], p->starts[j + 1]);
      s += p->rho[pair];
      ++votes[s > 0.0f ? i : j];
      if (n > 2) scores[pair] = s;
    }
  }
  for (i = 1; i < n; ++i) best = votes[i] > votes[best] ? i : best;
  *label = p->labels[best];
  if (n == 2) {
    scores[0] = -s;
    scores[1] = s;
  }
}

void mc_impute_f32(const float *x, float *out, const float *value, int32_t n, int32_t replace_nan, float replaced) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (replace_nan ? x[i] != x[i] : x[i] == replaced) ? value[i] : x[i];
}
