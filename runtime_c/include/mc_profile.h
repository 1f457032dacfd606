/* Per-layer profiling of MC_PROFILE builds: the generated invoke() calls mc_profile_invoke() first, then
 * brackets each layer with mc_profile_layer_begin() and mc_profile_layer_end(), which record the layer's
 * timer ticks and mark the layer for an instruction-counting emulator (mc_mark.h). */
#ifndef MC_PROFILE_H
#define MC_PROFILE_H
#include <stdint.h>

void mc_profile_invoke(uint64_t *layer_ticks);
void mc_profile_layer_begin(void);
void mc_profile_layer_end(void);

#endif
