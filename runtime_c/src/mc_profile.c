/* mc_profile.h. Out of line and argument-free on purpose: what an INVOKE executes outside its layers is
 * then the same code for every layer of every model (the timer readings, the tick store, the calls), so
 * the layers' exact counts add up to the whole INVOKE less a fixed overhead (docs/cycles.md). */
#include "mc_profile.h"
#include "mc_mark.h"
#include "mc_platform.h"

static uint64_t *ticks_out;
static uint64_t layer_start;
static uint32_t layer;

void mc_profile_invoke(uint64_t *layer_ticks) {
  ticks_out = layer_ticks;
  layer = 0;
}

__attribute__((noinline)) void mc_profile_layer_begin(void) {
  layer_start = mc_ticks();
  mc_mark_layer_begin();
}

__attribute__((noinline)) void mc_profile_layer_end(void) {
  mc_mark_layer_end();
  ticks_out[layer++] = mc_ticks() - layer_start;
}
