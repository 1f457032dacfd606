/* Markers for an instruction-counting emulator (microc's QEMU plugin, microc/runner/plugin/): empty
 * functions whose addresses the host reads from the ELF symbols and hands to the plugin, which takes a
 * snapshot of its counters whenever one is entered. On a real board they cost a call and a return.
 * The runner marks each INVOKE; the generated model marks each layer (MC_PROFILE builds). */
#ifndef MC_MARK_H
#define MC_MARK_H

void mc_mark_invoke_begin(void);
void mc_mark_invoke_end(void);
void mc_mark_layer_begin(void);
void mc_mark_layer_end(void);

#endif
