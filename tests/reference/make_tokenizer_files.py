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
  spm_legacy/           that model as a Hugging Face tokenizer.json the way
                        transformers' Llama converter writes it (Prepend and
                        Replace normalisers, byte fallback, Replace/ByteFallback/
                        Fuse/Strip decoders), with tokenizer_config.json
  spm_metaspace/        the same with the newer Metaspace pre-tokenizer and decoder
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


def spm_merges(vocab):
    """The merges of a SentencePiece BPE model as Hugging Face's converter
    derives them: every split of a piece into two pieces, ordered by the id
    of the merged piece (its score rank), then by the ids of the two halves."""
    merges = []
    for piece, pid in vocab.items():
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                merges.append((pid, vocab[left], vocab[right], left, right))
    merges.sort()
    return [[m[3], m[4]] for m in merges]


def write_hf_from_spm(out: Path):
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]
    model = {"type": "BPE", "dropout": None, "unk_token": sp.id_to_piece(sp.unk_id()), "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": spm_merges(vocab)}
    bos, eos = sp.id_to_piece(sp.bos_id()), sp.id_to_piece(sp.eos_id())
    post = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [], "special_tokens": {bos: {"id": bos, "ids": [sp.bos_id()], "tokens": [bos]}}}
    legacy = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
              "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                 {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
              "pre_tokenizer": None, "post_processor": post,
              "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                           {"type": "ByteFallback"}, {"type": "Fuse"},
                                                           {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": model}
    metaspace = dict(legacy)
    metaspace["normalizer"] = None
    metaspace["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    metaspace["decoder"] = {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
                                                             {"type": "ByteFallback"}, {"type": "Fuse"}]}
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": bos, "eos_token": eos,
              "unk_token": sp.id_to_piece(sp.unk_id()), "clean_up_tokenization_spaces": False, "legacy": True}
    for name, tok in (("spm_legacy", legacy), ("spm_metaspace", metaspace)):
        (out / name).mkdir(exist_ok=True)
        (out / name / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), "utf-8")
        (out / name / "tokenizer_config.json").write_text(json.dumps(config), "utf-8")


def main():
    out, tokenizer_json, corpus_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    corpus = json.loads(corpus_file.read_text("utf-8"))
    write_tiktoken(out, tokenizer_json)
    write_sentencepiece(out, corpus)
    write_hf_from_spm(out)


if __name__ == "__main__":
    main()
