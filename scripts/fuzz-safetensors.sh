#!/usr/bin/env bash
# Fuzzes the safetensors header parser with libFuzzer (plus AddressSanitizer
# and UBSan) for SECONDS seconds (default 60): builds tests/fuzz with clang in
# build/fuzz, seeds a corpus with valid and broken headers, and runs. Exits
# non-zero, leaving the crashing input in build/fuzz/, when it finds a crash,
# a leak or a broken promise of the parser.
#
#   bash scripts/fuzz-safetensors.sh [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
build=build/fuzz

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DFAIRSEQ2_BUILD_FUZZERS=ON >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" --target safetensors_header_fuzzer

corpus="$build/safetensors_header_corpus"
mkdir -p "$corpus"

# seed NAME JSON DATA: an 8-byte little-endian length, JSON, then DATA.
seed() {
  local n=${#2}
  printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((n & 255)) $(((n >> 8) & 255)) $(((n >> 16) & 255)) \
    $(((n >> 24) & 255)))" >"$corpus/$1"
  printf '%s%s' "$2" "$3" >>"$corpus/$1"
}
seed valid '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BOOL","shape":[1,3],"data_offsets":[8,11]}}' 'abcdefghijk'
seed empty '{}' ''
seed scalar '{"s":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}' 'xy'
seed overlap '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}' 'abcd'
seed mismatch '{"a":{"dtype":"I64","shape":[2,2],"data_offsets":[0,8]}}' 'abcdefgh'
seed dtype '{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}' 'abcdefgh'

fuzzer="$build/bin/safetensors_header_fuzzer"
exec "$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict=tests/fuzz/safetensors_header.dict -artifact_prefix="$build/" "$corpus"
