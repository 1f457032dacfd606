/* The markers of mc_mark.h. noinline and an asm statement keep each one a distinct function that every
 * call reaches: an empty function without them would be inlined or its calls dropped as side-effect
 * free, and the plugin would see nothing. The asm texts differ so that identical code folding
 * (-fipa-icf, on at -O2) cannot merge the four into one address. */
#include "mc_mark.h"

__attribute__((noinline)) void mc_mark_invoke_begin(void) {
  __asm__ volatile("/* mc_mark_invoke_begin */" ::: "memory");
}

__attribute__((noinline)) void mc_mark_invoke_end(void) {
  __asm__ volatile("/* mc_mark_invoke_end */" ::: "memory");
}

__attribute__((noinline)) void mc_mark_layer_begin(void) {
  __asm__ volatile("/* mc_mark_layer_begin */" ::: "memory");
}

__attribute__((noinline)) void mc_mark_layer_end(void) {
  __asm__ volatile("/* mc_mark_layer_end */" ::: "memory");
}
