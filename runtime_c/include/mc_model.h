/* The descriptor that generated model code exports as `<name>_model`, so the runner and the
 * self-test serve any model without knowing its shapes at compile time. */
#ifndef MC_MODEL_H
#define MC_MODEL_H
#include <stdint.h>

typedef struct {
  const char *name;
  const char *info_json;        /* compile-time JSON: name, hash, inputs, outputs, arena bytes */
  uint8_t n_inputs;
  uint8_t n_outputs;
  const uint32_t *input_bytes;  /* n_inputs entries */
  const uint32_t *output_bytes; /* n_outputs entries */
  void *(*input_ptr)(int i);    /* where input i lives (inside the arena) */
  void *(*output_ptr)(int i);   /* where output i lives (inside the arena) */
  int (*invoke)(void);          /* run on the inputs already in place; 0 on success */
  uint16_t n_layers;
  uint64_t *layer_ticks;        /* filled by invoke when built with MC_PROFILE, else NULL */
  int (*run_layer)(int i);      /* run layer i alone on the arena as it stands (0, or -1: no such layer) */
  uint8_t *arena;               /* the activation arena, which the runner's LAYER request reads */
  uint32_t arena_bytes;
  void (*reset)(void);          /* set the state (variable tensors) to its initial value */
} mc_model_t;

#endif
