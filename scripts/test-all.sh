#!/usr/bin/env bash
# Builds everything and runs every test: the release build and its test suite
# (including the install test that builds examples/ against an installed
# fairseq2), every parser's libFuzzer target for 20 seconds, and the plugin,
# registry, checkpoint and asset tests under AddressSanitizer with UBSan and
# under ThreadSanitizer. Stops at the first failure. `.ci/run` runs this after
# scripts/install-deps.sh.
#
#   bash scripts/test-all.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }

step "release build and tests"
cmake --preset release
cmake --build --preset release
ctest --preset release -j2

step "fuzzers of the parsers of outside input, 20 s each"
FAIRSEQ2_FUZZ_SEED=1 bash scripts/fuzz.sh 20

# The asan preset builds with UBSan too (-fsanitize=address,undefined, as
# LLVM and Chromium pair them), so these two builds run the suites under all
# three sanitizers; the ubsan preset (UBSan alone) would cost CI another five
# minutes.
for sanitizer in asan tsan; do
  step "plugin, registry, checkpoint and asset tests under $sanitizer"
  cmake --preset "$sanitizer"
  cmake --build --preset "$sanitizer"
  ctest --preset "$sanitizer"
done

step "all tests passed"
