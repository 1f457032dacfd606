/* The device side of the runner protocol (docs/protocol.md): serves the firmware's models over the
 * board's link, one at a time (SELECT chooses; the first until then). */
#ifndef MC_RUNNER_H
#define MC_RUNNER_H
#include "mc_model.h"

/* Largest request payload the device accepts; the host chunks writes and reads to fit. */
#define MC_RX_MAX 1024u
#define MC_PROTOCOL_VERSION 2u

/* Answer INFO/WRITE/INVOKE/READ/EXIT requests forever; returns only through mc_exit() on EXIT.
 * Call mc_platform_init() first. */
void mc_serve(const mc_model_t *model);

/* The same for a firmware holding `n` (1..255) models: SELECT addresses one by its index. */
void mc_serve_models(const mc_model_t *const *models, uint8_t n);

#endif
