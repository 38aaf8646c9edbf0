#!/usr/bin/env bash
# The checkpoint load benchmark of the checkpoint issue: a synthetic llama of
# about 1 GB in safetensors, loaded to a ready model, against
# `cat FILE > /dev/null` on the same warm file in the same run, and peak RSS
# against the file size; with memory mapping (the default) and with --no-mmap.
#
#   bash bench/checkpoint_load_bench.sh [BUILD_DIR] [FILE]
#
# BUILD_DIR defaults to build/release; FILE (written once, then reused) to
# $TMPDIR/fairseq2-bench-llama-1gb.safetensors. Prints one JSON object per
# run; targets: load_over_cat <= 1.5 and peak_rss_over_file <= 1.2 (mmap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build="${1:-build/release}"
file="${2:-${TMPDIR:-/tmp}/fairseq2-bench-llama-1gb.safetensors}"

cmake --build "$build" --target checkpoint_load_bench >/dev/null
bench="$build/bin/checkpoint_load_bench"
[ -f "$file" ] || "$bench" write "$file"

FAIRSEQ2_LOG_LEVEL=warn "$bench" load "$file"
FAIRSEQ2_LOG_LEVEL=warn "$bench" load "$file" --no-mmap
