#!/usr/bin/env bash
# Builds everything and runs every test: the release build and its test suite
# (including the install test that builds examples/ against an installed
# fairseq2), the safetensors header fuzzer for 60 seconds, and the plugin and
# registry tests under AddressSanitizer and ThreadSanitizer. Stops at the
# first failure. `.ci/run` runs this after scripts/install-deps.sh.
#
#   bash scripts/test-all.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }

step "release build and tests"
cmake --preset release
cmake --build --preset release
ctest --preset release -j2

step "safetensors header fuzzer, 60 s"
bash scripts/fuzz-safetensors.sh 60

for sanitizer in asan tsan; do
  step "plugin and registry tests under $sanitizer"
  cmake --preset "$sanitizer"
  cmake --build --preset "$sanitizer"
  ctest --preset "$sanitizer"
done

step "all tests passed"
