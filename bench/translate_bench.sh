#!/usr/bin/env bash
# Translation sentences/s of fairseq2's "base" transformer (post-norm, 512,
# 6 + 6 layers, shared embedding, vocab 32768), random float32 weights:
# `fairseq2 translate` against the eager PyTorch implementation of
# bench/translate_bench.py (incremental decoding, fairseq2's beam search),
# same weights, same sentences, 2 threads each, greedy and beam 5, in
# batches of 4 sentences and of all 32 at once. The two
# sides alternate ROUNDS times per beam; each side's figure is its best round
# (the time of encoding and search, not of loading). The best hypotheses of
# both sides are compared line by line.
#
#   bash bench/translate_bench.sh [ROUNDS]     (default 3)
#
# Needs the release build (build/release/bin/fairseq2 and its plugins). The
# data (model.pt, dict.txt, source.txt: 32 sentences of 12 to 28 symbols)
# is written once to build/bench/translate and reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
bin=build/release/bin/fairseq2
plugins=build/release/lib/fairseq2/plugins
if [[ ! -x "$bin" || ! -d "$plugins" ]]; then
  echo "missing $bin or $plugins; build them first:" >&2
  echo "  cmake --preset release && cmake --build --preset release" >&2
  exit 1
fi
data=build/bench/translate
if [[ ! -f "$data/model.pt" || ! -f "$data/dict.txt" || ! -f "$data/source.txt" ]]; then
  echo "writing the model and sentences to $data" >&2
  /usr/bin/python3 bench/translate_bench.py --make "$data"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for batch in 4 32; do
for beam in 1 5; do
  if [[ $beam == 1 ]]; then search=(--greedy); else search=(--beam "$beam"); fi
  for round in $(seq 1 "$rounds"); do
    case_="$batch.$beam.$round"
    FAIRSEQ2_PLUGIN_PATH= "$bin" --plugin-dir "$plugins" --log-level warn translate \
      --checkpoint "$data/model.pt" --family transformer --arch base \
      --set vocab_info.unk_idx=3 --set vocab_info.bos_idx=0 --set vocab_info.eos_idx=2 --set vocab_info.pad_idx=1 \
      --source-dict "$data/dict.txt" --target-dict "$data/dict.txt" "${search[@]}" --max-len-a 0 --max-len-b 32 --threads 2 \
      --batch-size "$batch" < "$data/source.txt" > "$work/ours.$case_.txt" 2> "$work/ours.$case_.err" || {
        echo "fairseq2 translate failed (batch $batch, beam $beam, round $round):" >&2
        cat "$work/ours.$case_.err" >&2
        exit 1
      }
    /usr/bin/python3 bench/translate_bench.py --run "$data" --beam "$beam" --batch "$batch" --threads 2 --max-len-a 0 --max-len-b 32 \
      --repeat 1 > "$work/eager.$case_.json"
    echo "batch $batch beam $beam round $round: $(tail -n 1 "$work/ours.$case_.err")" >&2
  done
done
done

/usr/bin/python3 - "$work" "$rounds" "$data/dict.txt" <<'PY'
import json, re, sys
work, rounds, dict_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
symbols = ["<s>", "<pad>", "</s>", "<unk>"]
with open(dict_path, encoding="utf-8") as f:
    symbols += [line.rsplit(" ", 1)[0] for line in f.read().split("\n") if line]
status = 0
print("| batch | beam | ours sentences/s | eager PyTorch sentences/s | ratio | mismatches |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
notes = []
for batch, beam in ((4, 1), (4, 5), (32, 1), (32, 5)):
    ours_best, eager_best, mismatches = 0.0, 0.0, 0
    for r in range(1, rounds + 1):
        err = open(f"{work}/ours.{batch}.{beam}.{r}.err", encoding="utf-8").read()
        found = re.search(r"\(([0-9.eE+-]+) sentences/s", err)
        if not found:
            sys.exit(f"no 'sentences/s' in the stderr of fairseq2 translate (beam {beam}, round {r}):\n{err}")
        ours_best = max(ours_best, float(found.group(1)))
        eager = json.load(open(f"{work}/eager.{batch}.{beam}.{r}.json"))
        eager_best = max(eager_best, eager["sentences_per_s"])
        ours = open(f"{work}/ours.{batch}.{beam}.{r}.txt", encoding="utf-8").read().split("\n")[:-1]
        # The CLI decodes without the specials <s>, <pad> and </s> (ids 0 to 2).
        theirs = [" ".join(symbols[i] for i in ids if i > 2) for ids in eager["best"]]
        if len(ours) != len(theirs):
            notes.append(f"batch {batch} beam {beam} round {r}: {len(ours)} lines from fairseq2, {len(theirs)} from eager")
            status = 1
        bad = [i for i in range(max(len(ours), len(theirs)))
               if i >= len(ours) or i >= len(theirs) or ours[i] != theirs[i]]
        if r == rounds:
            mismatches = len(bad)
            for i in bad:
                notes.append(f"batch {batch} beam {beam} sentence {i}:\n  ours:  {ours[i] if i < len(ours) else '(none)'}\n"
                             f"  eager: {theirs[i] if i < len(theirs) else '(none)'}")
    print(f"| {batch} | {beam} | {ours_best:.2f} | {eager_best:.2f} | {ours_best / eager_best:.2f}x | {mismatches} of {len(theirs)} |")
if notes:
    print("\nmismatched best hypotheses (last round):")
    print("\n".join(notes))
sys.exit(status)
PY
