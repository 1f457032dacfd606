/* Classical machine learning kernels (float32): tree ensembles, the classifier head (label and
 * probabilities, with onnxruntime's post transforms), NORMALIZE (GATHER: mc_index.h). Constants are const
 * arrays (flash); the kernels keep nothing between calls and allocate nothing. */
#ifndef MC_TREES_H
#define MC_TREES_H
#include <stdint.h>
#include "mc_common.h" /* MC_FLASH */

/* TREE_ENSEMBLE over flattened node arrays: a node n sends x to left[n] if x[feature[n]] <= threshold[n],
 * else to right[n]; a child >= 0 is a node, < 0 is the leaf ~child, whose n_targets weights are added.
 * out = sum / divisor + base (onnxruntime's order). Two widths: uint8 features and int16 children where they fit (_s16), else
 * uint16 features and int32 children (_s32). roots[t] is tree t's first node (or ~leaf). Features x and
 * thresholds are float (_f32), or integers (_i8, _i16, _i32: integer features, integer thresholds). */
typedef struct {
  int32_t n_trees, n_targets;
  const int32_t *roots;
  const void *threshold; /* [nodes] of x's type */
  const float *leaves; /* [leaves][n_targets] */
  const float *base;   /* [n_targets] */
  float divisor;       /* 1, or n_trees (AVERAGE) */
} mc_trees_t;
void mc_trees_f32_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left,
                      const int16_t *right, const float *x, float *out);
void mc_trees_f32_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left,
                      const int32_t *right, const float *x, float *out);
void mc_trees_i8_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left,
                     const int16_t *right, const int8_t *x, float *out);
void mc_trees_i8_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left,
                     const int32_t *right, const int8_t *x, float *out);
void mc_trees_i16_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left,
                      const int16_t *right, const int16_t *x, float *out);
void mc_trees_i16_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left,
                      const int32_t *right, const int16_t *x, float *out);
void mc_trees_i32_s16(const mc_trees_t *p, const uint8_t *feature, const int16_t *left,
                      const int16_t *right, const int32_t *x, float *out);
void mc_trees_i32_s32(const mc_trees_t *p, const uint16_t *feature, const int32_t *left,
                      const int32_t *right, const int32_t *x, float *out);

/* TREE_ENSEMBLE as Hummingbird's perfect-tree traversal: tree t padded to a perfect tree of depth[t]
 * levels, its 2^depth - 1 nodes from nodes[t] (level by level: node n's children are 2n + 1, 2n + 2),
 * its 2^depth bottom slots from slots[t], each naming its leaf (a row of leaves). Padding nodes send
 * both ways to the same leaf. */
typedef struct {
  int32_t n_trees, n_targets;
  const int32_t *nodes, *slots; /* [n_trees] */
  const uint8_t *depth;         /* [n_trees] */
  const uint16_t *feature;
  const void *threshold; /* of x's type */
  const int32_t *leaf;   /* [slots] */
  const float *leaves, *base;
  float divisor;
} mc_trees_perfect_t;
void mc_trees_perfect_f32(const mc_trees_perfect_t *p, const float *x, float *out);
void mc_trees_perfect_i8(const mc_trees_perfect_t *p, const int8_t *x, float *out);
void mc_trees_perfect_i16(const mc_trees_perfect_t *p, const int16_t *x, float *out);
void mc_trees_perfect_i32(const mc_trees_perfect_t *p, const int32_t *x, float *out);

/* TREE_ENSEMBLE as Hummingbird's GEMM form: tree t's nodes nodes[t] .. nodes[t + 1] - 1 and leaves
 * leafs[t] .. leafs[t + 1] - 1; paths + paths_at[t]: [leaves][nodes] of +1 (the leaf is in the node's
 * left subtree), -1 (right), 0; lefts[leaf]: its +1 count. bits: scratch, one byte per node of the
 * largest tree. */
typedef struct {
  int32_t n_trees, n_targets;
  const int32_t *nodes, *leafs, *paths_at; /* [n_trees + 1], [n_trees + 1], [n_trees] */
  const uint16_t *feature;
  const void *threshold; /* of x's type */
  const int8_t *paths;
  const uint8_t *lefts;
  const float *leaves, *base;
  float divisor;
} mc_trees_gemm_t;
void mc_trees_gemm_f32(const mc_trees_gemm_t *p, const float *x, uint8_t *bits, float *out);
void mc_trees_gemm_i8(const mc_trees_gemm_t *p, const int8_t *x, uint8_t *bits, float *out);
void mc_trees_gemm_i16(const mc_trees_gemm_t *p, const int16_t *x, uint8_t *bits, float *out);
void mc_trees_gemm_i32(const mc_trees_gemm_t *p, const int32_t *x, uint8_t *bits, float *out);

/* Attributes of the generated if/else trees (TREE_ENSEMBLE strategies "code" and "compact"). GCC's -O2
 * block reordering ("stc") moves subtrees apart, so most branches become 32-bit long branches; in source
 * order they stay short: on mps2-an386 the 50-tree forest's function is 18% smaller with the same
 * instructions (docs/classical.md), on Arm. "compact" is the same code compiled for size (GCC). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__arm__) /* avr-gcc 7 has no such option */
#define MC_TREES_CODE __attribute__((optimize("reorder-blocks-algorithm=simple")))
#else
#define MC_TREES_CODE
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define MC_TREES_COMPACT __attribute__((optimize("Os")))
#else
#define MC_TREES_COMPACT
#endif

/* ML_CLASSIFY: the label and the class scores from raw scores. binary: MC_ARGMAX (one raw score per
 * class: label of the first maximum, scores = transform(raw)); for two classes and one raw score s,
 * MC_BINARY_SIGN (label 1 if s > 0; scores [-s, s], or [logistic(-s), logistic(s)]), MC_BINARY_HALF
 * (label 1 if s > 0.5; scores [1 - s, s]) and MC_BINARY_LINEAR (label 1 if s > 0; scores [-s, s], or
 * [1 - logistic(s), logistic(s)]). */
enum { MC_ARGMAX = 0, MC_BINARY_SIGN = 1, MC_BINARY_HALF = 2, MC_BINARY_LINEAR = 3 };
enum { MC_POST_NONE = 0, MC_POST_LOGISTIC = 1, MC_POST_SOFTMAX = 2, MC_POST_SOFTMAX_ZERO = 3 };
typedef struct {
  int32_t n_classes, binary, transform;
  const int64_t *labels; /* [n_classes] */
} mc_classify_t;
void mc_ml_classify_f32(const mc_classify_t *p, const float *raw, int64_t *label, float *scores);
/* The same without a post transform (MC_POST_NONE, or MC_BINARY_HALF): links no expf. */
void mc_ml_classify_plain_f32(const mc_classify_t *p, const float *raw, int64_t *label, float *scores);

/* NORMALIZE: x divided by max(x) (MC_NORM_MAX), sum |x| (L1) or sqrt(sum x^2) (L2). */
enum { MC_NORM_MAX = 0, MC_NORM_L1 = 1, MC_NORM_L2 = 2 };
void mc_normalize_f32(int32_t norm, const float *x, float *out, int32_t n);

/* SVM_REGRESSOR (onnxruntime's SVMRegressor): out = sum_i coef[i] * K(x, sv_i) + rho, K one of
 * MC_SVM_LINEAR (x.sv), MC_SVM_POLY ((gamma x.sv + coef0)^degree), MC_SVM_RBF (exp(-gamma |x - sv|^2)),
 * MC_SVM_SIGMOID (tanh(gamma x.sv + coef0)); with no support vectors, out = x.coef + rho. one_class:
 * out becomes 1 if out > 0, else -1. */
enum { MC_SVM_LINEAR = 0, MC_SVM_POLY = 1, MC_SVM_RBF = 2, MC_SVM_SIGMOID = 3 };
typedef struct {
  int32_t n_vectors, n_features, kernel, one_class;
  float gamma, coef0, degree, rho;
  /* in flash on AVR too (MC_FLASH: the support vectors are most of an SVM's bytes, more than the RAM) */
  const MC_FLASH float *vectors; /* [n_vectors][n_features], or NULL (linear: coef holds the weights) */
  const MC_FLASH float *coef;    /* [n_vectors] (or [n_features]) */
} mc_svm_t;
void mc_svm_regressor_f32(const mc_svm_t *p, const float *x, float *out);

/* SVM_CLASSIFIER (onnxruntime's SVMClassifier with support vectors, no probabilities): one-vs-one.
 * kernels[v] = K(x, sv_v) (svm's kernel; class c owns vectors starts[c] .. starts[c + 1] - 1); for each
 * pair of classes i < j in order, s = sum over i's vectors of coef[j - 1][v] K_v + sum over j's of
 * coef[i][v] K_v + rho[pair], a vote for i if s > 0, else for j. Label: the first class with the most
 * votes. Scores: the pairs' s, or for two classes [-s, s]. kernels and votes are scratch. */
typedef struct {
  mc_svm_t svm; /* n_vectors, n_features, kernel and its parameters, vectors, coef [classes - 1][vectors] */
  int32_t n_classes;
  const float *rho;      /* [pairs] */
  const int32_t *starts; /* [n_classes + 1] */
  const int64_t *labels; /* [n_classes] */
} mc_svc_t;
void mc_svm_classifier_f32(const mc_svc_t *p, const float *x, float *kernels, int32_t *votes, int64_t *label,
                           float *scores);

/* IMPUTE: out[i] = value[i] where x[i] is NaN (replace_nan) or equals `replaced`, else x[i]. */
void mc_impute_f32(const float *x, float *out, const float *value, int32_t n, int32_t replace_nan, float replaced);


#endif
