/* The device side of the runner protocol (docs/protocol.md): serves one model over the board's link. */
#ifndef MC_RUNNER_H
#define MC_RUNNER_H
#include "mc_model.h"

/* Largest request payload the device accepts; the host chunks writes and reads to fit. */
#define MC_RX_MAX 1024u
#define MC_PROTOCOL_VERSION 2u

/* Answer INFO/WRITE/INVOKE/READ/EXIT requests forever; returns only through mc_exit() on EXIT.
 * Call mc_platform_init() first. */
void mc_serve(const mc_model_t *model);

#endif
