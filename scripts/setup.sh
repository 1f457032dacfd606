#!/usr/bin/env bash
# Installs everything microc needs on a fresh Debian machine: the toolchains and emulators from
# Debian, and a virtualenv at .venv with microc and its Python dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gcc make
  gcc-arm-none-eabi libnewlib-arm-none-eabi
  qemu-system-arm qemu-system-misc
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
  arduino-builder arduino-core-avr gcc-avr avr-libc simavr libsimavr-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# microc's libsimavr harness (the runner protocol on a simulated Arduino), built once into ~/.cache/microc
.venv/bin/python -c "from microc.runner.simavr import build_harness; exe, why = build_harness(); print(f'setup: simavr harness {exe or why}')"
# microc's QEMU plugin (exact instruction counts, cycle estimates), built once into ~/.cache/microc
.venv/bin/python -c "from microc.runner.counter import build_plugin; lib, why = build_plugin(); print(f'setup: QEMU plugin {lib or why}')"
