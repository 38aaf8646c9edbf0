"""Tokenizer files and reference ids for the tokenizer tests.

    python3 make_tokenizer_files.py OUT_DIR LLAMA3_TOKENIZER_JSON CORPUS_JSON

Writes into OUT_DIR:
  llama3.tiktoken       Llama 3's vocabulary as a tiktoken rank file (what
                        Meta ships as tokenizer.model): base64 bytes, rank = id
  llama3_specials.json  the 256 special tokens after the ranks, name -> id
  spm.model             a SentencePiece BPE model with byte fallback, trained
                        with Debian's spm_train on a generated corpus
  spm_reference.json    {"ids": [...], "decoded": [...]} of every corpus text
                        by Python's sentencepiece (no BOS/EOS)
"""

import base64
import json
import random
import subprocess
import sys
from pathlib import Path

import sentencepiece as spm


def byte_decoder():
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {}
    n = 0
    for b in range(256):
        if b in printable:
            chars[b] = b
        else:
            chars[b] = 256 + n
            n += 1
    return {chr(c): b for b, c in chars.items()}


def llama3_special_names():
    names = ["begin_of_text", "end_of_text", "reserved_special_token_0", "reserved_special_token_1",
             "finetune_right_pad_id", "step_id", "start_header_id", "end_header_id", "eom_id", "eot_id", "python_tag"]
    names += [f"reserved_special_token_{i}" for i in range(2, 247)]
    return [f"<|{n}|>" for n in names]


def write_tiktoken(out: Path, tokenizer_json: Path):
    vocab = json.loads(tokenizer_json.read_text("utf-8"))["model"]["vocab"]
    dec = byte_decoder()
    lines = []
    for name, rank in sorted(vocab.items(), key=lambda kv: kv[1]):
        raw = bytes(dec[c] for c in name)
        lines.append(base64.b64encode(raw).decode("ascii") + " " + str(rank))
    (out / "llama3.tiktoken").write_text("\n".join(lines) + "\n", "ascii")
    first = max(vocab.values()) + 1
    specials = {name: first + i for i, name in enumerate(llama3_special_names())}
    (out / "llama3_specials.json").write_text(json.dumps(specials), "utf-8")


def training_corpus(corpus):
    rng = random.Random(20261206)
    syllables = ["ka", "to", "ri", "mu", "sen", "ta", "lo", "vi", "ne", "qua", "zu", "pe", "dra", "mon", "el", "is"]
    lines = []
    for _ in range(4000):
        words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(3, 12))]
        if rng.random() < 0.3:
            words.append(str(rng.randint(0, 99999)))
        lines.append(" ".join(words) + rng.choice([".", "!", "?", ",", ""]))
    # The hard texts too, so their scripts get pieces (the rest falls back to bytes).
    for _ in range(3):
        lines += [t.replace("\n", " ") for t in corpus if t.strip()]
    return "\n".join(lines) + "\n"


def write_sentencepiece(out: Path, corpus):
    text_file = out / "spm_corpus.txt"
    text_file.write_text(training_corpus(corpus), "utf-8")
    subprocess.run(["spm_train", f"--input={text_file}", f"--model_prefix={out / 'spm'}", "--vocab_size=600",
                    "--model_type=bpe", "--byte_fallback=true", "--character_coverage=0.98",
                    "--bos_id=1", "--eos_id=2", "--unk_id=0", "--pad_id=3", "--num_threads=1",
                    "--minloglevel=2"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    ids = [sp.encode(t) for t in corpus]
    decoded = [sp.decode(i) for i in ids]
    (out / "spm_reference.json").write_text(json.dumps({"ids": ids, "decoded": decoded}), "utf-8")


def main():
    out, tokenizer_json, corpus_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    corpus = json.loads(corpus_file.read_text("utf-8"))
    write_tiktoken(out, tokenizer_json)
    write_sentencepiece(out, corpus)


if __name__ == "__main__":
    main()
