#!/usr/bin/env python3
"""A small NLLB-style tokenizer and the ids it gives, for the C++ NLLB
tokenizer tests.

Written from fairseq2's NLLB tokenizer as documented in
/work/shared/docs/fairseq2-families.md (section 3): a SentencePiece model
whose pieces are <unk> 0, <s> 1, </s> 2, ...; <pad> is put first, so every
piece id moves up by one (<pad> 0, <unk> 1, <s> 2, </s> 3); then one
__LANG__ control token per language, in the card's order, and
<MINED_DATA>, <MMT_BT_DATA>, <SMT_BT_DATA>. A source is
"__src__ pieces </s>", a target prefix "</s> __tgt__". It imports nothing
of this project.

Usage: nllb_tokenizer_reference.py OUT_DIR

Writes to OUT_DIR:
  spm.model       a BPE SentencePiece model of 44 pieces, trained with
                  Debian's spm_train on a generated corpus
  reference.json  {"spm_size", "vocab_size", "langs", "controls": {token: id},
                   "target_prefix": {lang: ids},
                   "cases": [{"text", "lang", "source_ids", "decoded"}]}

Needs sentencepiece (run with /usr/bin/python3).
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import sentencepiece as spm

LANGS = ["deu_Latn", "eng_Latn", "fra_Latn", "spa_Latn", "ita_Latn", "por_Latn", "nld_Latn", "pol_Latn",
         "ces_Latn", "dan_Latn", "fin_Latn", "swe_Latn", "ron_Latn", "hun_Latn", "tur_Latn", "est_Latn"]
TAGS = ["<MINED_DATA>", "<MMT_BT_DATA>", "<SMT_BT_DATA>"]
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "in", "park", "and", "sun", "was", "hot", "red", "bird"]
TEXTS = ["the cat sat on a mat", "a dog ran in the park", "the sun was hot", "red bird and cat", "cat"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(5)
    corpus = out / "corpus.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for _ in range(400):
            f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "\n")
    subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={out / 'spm'}", "--vocab_size=44", "--model_type=bpe",
                    "--character_coverage=1.0", "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
                    "--minloglevel=2"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    corpus.unlink()
    (out / "spm.vocab").unlink()

    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    size = sp.get_piece_size()
    controls = {}
    for i, token in enumerate([f"__{lang}__" for lang in LANGS] + TAGS):
        controls[token] = size + 1 + i
    eos = 3

    cases = []
    for i, text in enumerate(TEXTS):
        lang = LANGS[i % len(LANGS)]
        pieces = sp.encode(text)
        cases.append({
            "text": text,
            "lang": lang,
            "source_ids": [controls[f"__{lang}__"]] + [p + 1 for p in pieces] + [eos],
            "decoded": sp.decode(pieces),
        })
    reference = {
        "spm_size": size,
        "vocab_size": size + 1 + len(LANGS) + len(TAGS),
        "langs": LANGS,
        "controls": controls,
        "target_prefix": {lang: [eos, controls[f"__{lang}__"]] for lang in LANGS},
        "cases": cases,
    }
    with open(out / "reference.json", "w", encoding="utf-8") as f:
        json.dump(reference, f, indent=1)


if __name__ == "__main__":
    main()
