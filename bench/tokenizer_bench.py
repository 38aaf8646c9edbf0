"""The Python reference of tokenizer_bench.sh: encodes every line of a text
file with Python's sentencepiece and prints one JSON line with MB/s, the
best of ROUNDS passes.

    python3 tokenizer_bench.py NAME MODEL TEXT_FILE ROUNDS
"""

import json
import sys
import time

import sentencepiece as spm

name, model, text_file, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(text_file, encoding="utf-8", newline="\n") as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
size = sum(len(l.encode("utf-8")) for l in lines)
sp = spm.SentencePieceProcessor(model_file=model)
best, ids = float("inf"), 0
for _ in range(rounds):
    start = time.perf_counter()
    count = sum(len(sp.encode(l)) for l in lines)
    best = min(best, time.perf_counter() - start)
    ids = count
print(json.dumps({"impl": "sentencepiece (Python)", "name": name, "mb_per_s": size / 1e6 / best, "ids": ids, "bytes": size}))
