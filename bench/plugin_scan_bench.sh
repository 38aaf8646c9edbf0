#!/usr/bin/env bash
# Host start with 20 plugins in the folder: `fairseq2 plugins list` with an
# empty plugin folder, then with 20 plugins and a cold scan cache (each
# plugin tried in a child process), then warm (no child), and with the scan
# off. The 20 plugins are copies of the tests' good fixture under other
# names (all but one then fail politely, as their family is taken: the
# host still reads, vets and loads each one). Median of 7 runs each.
#
#   bash bench/plugin_scan_bench.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build="${1:-build/release}"
cmake --build "$build" --target fairseq2_cli fairseq2_plugin_fixtures >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/empty" "$work/plugins"
for i in $(seq -w 1 20); do
  cp "$build/tests/plugin_fixtures/libfairseq2_fixture_basic.so" "$work/plugins/libplugin_$i.so"
done

run() {  # run DIR CACHE_MODE EXTRA_ENV -> seconds of one start
  local dir="$1" mode="$2"
  [[ "$mode" == cold ]] && rm -rf "$work/cache"
  local start end
  start=$(date +%s.%N)
  env FAIRSEQ2_CACHE_DIR="$work/cache" FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL=off ${3:-} \
    "$build/bin/fairseq2" --no-default-plugins --plugin-dir "$dir" plugins list >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f\n", b - a }' 
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

empty=$(for _ in 1 2 3 4 5 6 7; do run "$work/empty" warm; done | median)
cold=$(for _ in 1 2 3 4 5 6 7; do run "$work/plugins" cold; done | median)
run "$work/plugins" cold >/dev/null
warm=$(for _ in 1 2 3 4 5 6 7; do run "$work/plugins" warm; done | median)
off=$(for _ in 1 2 3 4 5 6 7; do run "$work/plugins" warm FAIRSEQ2_PLUGIN_SCAN=0; done | median)

printf '| start | seconds | above the empty folder |\n| --- | ---: | ---: |\n'
printf '| no plugins | %.3f | |\n' "$empty"
for row in "20 plugins, cold scan cache:$cold" "20 plugins, warm scan cache:$warm" "20 plugins, scan off:$off"; do
  name="${row%%:*}" value="${row##*:}"
  printf '| %s | %.3f | %+.0f ms |\n' "$name" "$value" "$(awk -v v="$value" -v e="$empty" 'BEGIN { print (v - e) * 1000 }')"
done
