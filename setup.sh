#!/usr/bin/env bash
# Installs vitsim's Debian build dependencies (only those missing) and builds it.
#   bash setup.sh            -> Release build in build/release
#   bash setup.sh ci         -> Release build with warnings as errors in build/ci (also installs slurm-wlm
#                               and munge: its ctest runs the Slurm sweep test for real, docs/slurm.md;
#                               and verilator and yosys: the RTL co-simulation and synthesis, docs/rtl.md)
#   bash setup.sh debug|asan|fuzz -> the other CMake presets (asan, fuzz: clang-14, docs/building.md)
set -euo pipefail
cd "$(dirname "$0")"
preset="${1:-release}"

packages=(build-essential cmake ninja-build pkg-config libsystemc-dev libeigen3-dev
          nlohmann-json3-dev catch2 libcli11-dev zlib1g-dev dataset-fashion-mnist
          libonnx-dev libprotobuf-dev clang-format)
# CI runs the slurm_sweep test on a real local Slurm (the ci preset sets VITSIM_REQUIRE_SLURM): install the
# daemons there only; elsewhere that test skips without them.
if [ "$preset" = ci ]; then packages+=(slurm-wlm munge); fi
# CI co-simulates the RTL (arch/rtl/) with Verilator and synthesizes a unit with Yosys (the ci preset sets
# VITSIM_REQUIRE_VERILATOR); elsewhere those tests are not built without them.
if [ "$preset" = ci ]; then packages+=(verilator yosys); fi
# CI runs the tests that need Python packages instead of skipping them (the ci preset sets
# VITSIM_REQUIRE_PYTHON_TOOLS): the JSON Schema checks (python3-jsonschema) and the ONNX import tests that
# export zoo models with PyTorch (python3-torch, python3-onnx) and torchvision's MobileNetV2 and ResNet-18
# (python3-torchvision).
if [ "$preset" = ci ]; then packages+=(python3-jsonschema python3-torch python3-onnx python3-torchvision); fi
# The asan and fuzz presets build with clang-14 and link libFuzzer (tests/fuzz/, docs/building.md "Fuzzing").
case "$preset" in asan | fuzz) packages+=(clang-14 libclang-rt-14-dev) ;; esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
