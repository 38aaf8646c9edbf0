#!/usr/bin/env bash
# Host start with 20 plugins in the folder: `fairseq2 plugins list` with an
# empty plugin folder, then with 20 plugins and a cold scan cache (each
# plugin tried in a child process), then warm (no child), and with the scan
# off. The 20 plugins are copies of the tests' good fixture under other
# names (all but one then fail politely, as their family is taken: the
# host still reads, vets and loads each one). Cold: median of 7; the
# others: 21 interleaved rounds (see below).
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

cold=$(for _ in 1 2 3 4 5 6 7; do run "$work/plugins" cold; done | median)
run "$work/plugins" cold >/dev/null

# The warm starts differ from the empty one by tens of milliseconds, about
# as much as one start varies (LibTorch's loading dominates it): so the three
# are interleaved round by round, and the figure is the median of the
# per-round differences, which cancels drift over the run.
rounds=21
: >"$work/rounds"
for _ in $(seq "$rounds"); do
  e=$(run "$work/empty" warm)
  w=$(run "$work/plugins" warm)
  o=$(run "$work/plugins" warm FAIRSEQ2_PLUGIN_SCAN=0)
  echo "$e $w $o" >>"$work/rounds"
done
empty=$(awk '{print $1}' "$work/rounds" | median)
warm=$(awk '{print $2}' "$work/rounds" | median)
off=$(awk '{print $3}' "$work/rounds" | median)
warm_diff=$(awk '{print ($2 - $1) * 1000}' "$work/rounds" | median)
off_diff=$(awk '{print ($3 - $1) * 1000}' "$work/rounds" | median)

printf '| start | seconds (median) | above the empty folder (median of %d rounds) |\n| --- | ---: | ---: |\n' "$rounds"
printf '| no plugins | %.3f | |\n' "$empty"
printf '| 20 plugins, cold scan cache | %.3f | %+.0f ms |\n' "$cold" "$(awk -v v="$cold" -v e="$empty" 'BEGIN { print (v - e) * 1000 }')"
printf '| 20 plugins, warm scan cache | %.3f | %+.0f ms |\n' "$warm" "$warm_diff"
printf '| 20 plugins, scan off | %.3f | %+.0f ms |\n' "$off" "$off_diff"
