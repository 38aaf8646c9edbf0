#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer, AddressSanitizer and
# UBSan, SECONDS seconds each (default 60): the torch archive reader (zip
# directory, records, pickle), the asset card loader (YAML and JSON), the
# config.json / params.json config derivation of every bundled family, the
# tokenizer files (tokenizer.json, tiktoken, character vocabularies) and the
# safetensors header. Builds tests/fuzz with clang in build/fuzz, seeds each
# corpus with real files (tests/fuzz/make_seeds.py), runs two targets at a
# time (one per core), and prints each target's runs and peak RSS.
#
# Exits non-zero when a target finds a crash, a leak, a sanitizer report, a
# broken promise of the parser (a trap), an input that takes more than 10 s,
# a single allocation over 512 MiB or an RSS over 2 GiB; the input is left in
# build/fuzz/crashes/ and the target's log in build/fuzz/logs/. Each finding
# becomes a regression test (tests/sdk/checkpoint/hostile_archive_test.cpp and
# the suites of the other parsers).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# FAIRSEQ2_FUZZ_SEED=N fixes libFuzzer's random seed (CI uses 1, so that a
# run there tries the same inputs each time); unset, every run differs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
shift || true
all_targets=(torch_archive_fuzzer card_fuzzer config_fuzzer tokenizer_fuzzer safetensors_header_fuzzer)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all_targets[@]}")
fi
build=build/fuzz
python="${FAIRSEQ2_TEST_PYTHON:-/usr/bin/python3}"

mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DFAIRSEQ2_BUILD_FUZZERS=ON >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target "${targets[@]}"

rm -rf "$build/seeds"
"$python" tests/fuzz/make_seeds.py "$build/seeds"
mkdir -p "$build/crashes" "$build/logs"

# run TARGET: fuzzes it; its log is build/fuzz/logs/TARGET.log.
run() {
  local target="$1" max_len=16384 extra=()
  case "$target" in
    torch_archive_fuzzer) max_len=65536 ;;
    safetensors_header_fuzzer) max_len=4096; extra=(-dict=tests/fuzz/safetensors_header.dict) ;;
  esac
  mkdir -p "$build/corpus/$target"
  if [ -n "${FAIRSEQ2_FUZZ_SEED:-}" ]; then
    extra+=(-seed="$FAIRSEQ2_FUZZ_SEED")
  fi
  "$build/bin/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$build/crashes/$target-" "${extra[@]}" \
    "$build/corpus/$target" "$build/seeds/$target" >"$build/logs/$target.log" 2>&1
}

declare -A status
pending=("${targets[@]}")
while [ ${#pending[@]} -gt 0 ]; do
  batch=("${pending[@]:0:2}")
  pending=("${pending[@]:2}")
  pids=()
  for target in "${batch[@]}"; do
    run "$target" &
    pids+=($!)
  done
  for i in "${!batch[@]}"; do
    if wait "${pids[$i]}"; then status[${batch[$i]}]=ok; else status[${batch[$i]}]=FAILED; fi
  done
done

# stat NAME LOG: a final statistic libFuzzer printed.
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

printf '\n%-27s %10s %8s %14s %s\n' target runs "runs/s" "peak RSS (MB)" result
failed=0
for target in "${targets[@]}"; do
  log="$build/logs/$target.log"
  runs=$(stat number_of_executed_units "$log")
  rate=$(stat average_exec_per_sec "$log")
  rss=$(stat peak_rss_mb "$log")
  printf '%-27s %10s %8s %14s %s\n' "$target" "${runs:-?}" "${rate:-?}" "${rss:-?}" "${status[$target]}"
  if [ "${status[$target]}" != ok ]; then
    failed=1
    echo "---- $log (last 40 lines)"
    tail -40 "$log"
  fi
done
exit "$failed"
