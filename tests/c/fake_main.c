/* Host firmware for the fake model: serve it on stdin/stdout. */
#include "mc_model.h"
#include "mc_platform.h"
#include "mc_runner.h"

extern const mc_model_t fake_model;

int main(void) {
  mc_platform_init();
  mc_serve(&fake_model);
  return 0;
}
