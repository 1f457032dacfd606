/* A stand-in for generated model code, for tests/test_protocol.py: two inputs (3000 and 5 bytes), one
 * output out[i] = in0[i] + in1[i % 5] (mod 256), two "layers" with known tick values so the test can
 * check the u64 encoding exactly. Setting in1[0] to 0xEE makes invoke fail with status -2. Run alone
 * (LAYER), layer 0 is invoke's sum and layer 1 inverts the output's bytes. */
#include "mc_model.h"

#define IN0_BYTES 3000u
#define IN1_BYTES 5u

static uint8_t arena[IN0_BYTES + IN1_BYTES + IN0_BYTES];
static const uint32_t input_bytes[2] = {IN0_BYTES, IN1_BYTES};
static const uint32_t output_bytes[1] = {IN0_BYTES};
static uint64_t layer_ticks[2];
static uint64_t invocations;

static void *input_ptr(int i) { return i == 0 ? arena : arena + IN0_BYTES; }
static void *output_ptr(int i) { (void)i; return arena + IN0_BYTES + IN1_BYTES; }

static int invoke(void) {
  const uint8_t *in0 = input_ptr(0), *in1 = input_ptr(1);
  uint8_t *out = output_ptr(0);
  uint32_t i;
  if (in1[0] == 0xEE) return -2;
  for (i = 0; i < IN0_BYTES; i++) out[i] = (uint8_t)(in0[i] + in1[i % IN1_BYTES]);
  invocations++;
  layer_ticks[0] = 0x0102030405060708u; /* every byte distinct: catches byte-order slips */
  layer_ticks[1] = invocations;
  return 0;
}

static int run_layer(int i) {
  uint8_t *out = output_ptr(0);
  uint32_t k;
  if (i == 0) return invoke();
  if (i != 1) return -1;
  for (k = 0; k < IN0_BYTES; k++) out[k] = (uint8_t)~out[k];
  return 0;
}

/* RESET: the output reads as zeros afterwards, which the protocol tests observe. */
static void reset(void) {
  uint8_t *out = output_ptr(0);
  uint32_t k;
  for (k = 0; k < IN0_BYTES; k++) out[k] = 0;
}

const mc_model_t fake_model = {
  "fake",
  "{\"name\": \"fake\", \"hash\": \"0123abcd\", \"inputs\": [{\"bytes\": 3000}, {\"bytes\": 5}], "
  "\"outputs\": [{\"bytes\": 3000}], \"arena_bytes\": 6005}",
  2, 1, input_bytes, output_bytes, input_ptr, output_ptr, invoke, 2, layer_ticks,
  run_layer, arena, sizeof arena, reset,
};
