"""Writes the seed corpora of the libFuzzer targets (scripts/fuzz.sh).

    /usr/bin/python3 tests/fuzz/make_seeds.py OUT_DIR

OUT_DIR/<target>/ gets real files of the kind each target parses:
  torch_archive_fuzzer  torch.save archives (make_torch_archives.py's, and a
                        few small ones of other shapes)
  card_fuzzer           the bundled families' card files, and JSON cards
  config_fuzzer         config.json files of llama, qwen, mistral and M2M100, fairseq args, and a
                        Meta params.json
  tokenizer_fuzzer      tokenizer.json files (byte-level BPE, SentencePiece
                        style), a tiktoken rank file, a character vocabulary
  safetensors_header_fuzzer  valid and broken safetensors headers
"""

import base64
import collections
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def write(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def torch_archives(out: Path):
    import torch

    archives = out / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "tests/reference/make_torch_archives.py"), str(archives)], check=True)
    # The fuzzer's input limit keeps large seeds out; keep the small ones.
    for path in sorted(archives.glob("*.pt")):
        if path.stat().st_size <= 64 * 1024:
            os.replace(path, out / path.name)
    for path in archives.iterdir():
        path.unlink()
    archives.rmdir()
    sd = collections.OrderedDict(
        (("a.weight", torch.ones(2, 3)), ("a.bias", torch.zeros(3, dtype=torch.bfloat16)), ("b", torch.arange(4)))
    )
    torch.save(sd, out / "plain_state_dict.pt")
    torch.save({"model": sd, "model_key": "model", "fs2": True, "model_family": "llama",
                "model_config": {"model_dim": 8}}, out / "fs2_layout.pt")
    torch.save({"args": None, "cfg": {"model": {"arch": "x"}}, "model": {"v": torch.ones(1)},
                "last_optimizer_state": {"state": {0: {"step": 3}}, "param_groups": [{"lr": 0.1}]}},
               out / "fairseq_like.pt")
    t = torch.arange(12.0).reshape(3, 4)
    torch.save({"view": t[:, 1:3], "t": t}, out / "shared_view.pt")


def cards(out: Path):
    for path in sorted((ROOT / "plugins").glob("*/cards/*.yaml")):
        write(out / path.name, path.read_bytes())
    write(out / "single.json", json.dumps({"name": "m", "model_family": "llama", "model_arch": "llama3_2_1b",
                                           "checkpoint": "ckpt/model.safetensors"}))
    write(out / "list.json", json.dumps([{"name": "a", "base": "b"}, {"name": "b", "model_family": "qwen"}]))
    write(out / "overlay.yaml", "name: a@user\ncheckpoint: /tmp/x\n---\nname: b\nbase: a\nnum_shards: 2\n")


def configs(out: Path):
    llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
             "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 128, "rms_norm_eps": 1e-5,
             "max_position_embeddings": 256, "rope_theta": 500000.0, "tie_word_embeddings": True,
             "bos_token_id": 1, "eos_token_id": [2, 3], "hidden_act": "silu",
             "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
    write(out / "llama.json", json.dumps(llama))
    qwen = dict(llama, model_type="qwen3", rope_scaling=None, sliding_window=None, use_sliding_window=False)
    write(out / "qwen3.json", json.dumps(qwen))
    write(out / "qwen2.json", json.dumps(dict(qwen, model_type="qwen2", attention_bias=True)))
    mistral = dict(llama, model_type="mistral", rope_scaling=None, sliding_window=4096, tie_word_embeddings=False)
    write(out / "mistral.json", json.dumps(mistral))
    params = {"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256,
              "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-5, "rope_theta": 500000.0,
              "use_scaled_rope": True}
    write(out / "params.json", json.dumps(params))
    m2m100 = {"model_type": "m2m_100", "architectures": ["M2M100ForConditionalGeneration"], "d_model": 64,
              "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
              "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "vocab_size": 256206, "max_position_embeddings": 1024,
              "scale_embedding": True, "activation_function": "relu", "pad_token_id": 1, "bos_token_id": 0,
              "eos_token_id": 2, "decoder_start_token_id": 2, "tie_word_embeddings": True, "dropout": 0.1}
    write(out / "m2m100.json", json.dumps(m2m100))
    args = {"arch": "transformer_wmt_en_de", "task": "translation", "source_lang": "de", "target_lang": "en",
            "encoder_embed_dim": 512, "decoder_embed_dim": 512, "encoder_ffn_embed_dim": 2048,
            "decoder_ffn_embed_dim": 2048, "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 8,
            "decoder_attention_heads": 8, "encoder_normalize_before": False, "decoder_normalize_before": False,
            "dropout": 0.1, "activation_fn": "relu", "share_all_embeddings": False,
            "share_decoder_input_output_embed": True, "max_source_positions": 1024, "max_target_positions": 1024}
    write(out / "fairseq_args.json", json.dumps(args))


def byte_level_vocab():
    # GPT-2's byte-to-unicode table.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tokenizers(out: Path):
    chars = byte_level_vocab()
    vocab = {c: i for i, c in enumerate(chars)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("ll", "o")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    specials = [{"id": len(vocab) + i, "content": t, "special": True, "single_word": False, "lstrip": False,
                 "rstrip": False, "normalized": False} for i, t in enumerate(["<|begin|>", "<|end|>"])]
    byte_level = {
        "version": "1.0",
        "added_tokens": specials,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<|begin|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<|begin|>": {"id": "<|begin|>", "ids": [specials[0]["id"]], "tokens": ["<|begin|>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    write(out / "byte_level.json", json.dumps(byte_level, ensure_ascii=False))

    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp_vocab["<0x%02X>" % b] = len(sp_vocab)
    for piece in ["▁", "▁t", "h", "e", "▁th", "▁the", "l", "o", "lo"]:
        sp_vocab.setdefault(piece, len(sp_vocab))
    sp_merges = ["▁ t", "▁t h", "▁th e", "l o"]
    sp_style = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": sp_vocab, "merges": sp_merges},
    }
    write(out / "sentencepiece_style.json", json.dumps(sp_style, ensure_ascii=False))

    lines = [base64.b64encode(bytes([b])).decode() + " " + str(b) for b in range(256)]
    for i, piece in enumerate([b"he", b"ll", b"llo", b" t", b" the"]):
        lines.append(base64.b64encode(piece).decode() + " " + str(256 + i))
    write(out / "ranks.tiktoken", "\n".join(lines) + "\n")
    write(out / "chars.txt", "\n".join(["<pad>", "<s>", "</s>", "<unk>"] + list("abcdefghij .,")) + "\n")


def safetensors(out: Path):
    def seed(name, header, data=b""):
        h = json.dumps(header, separators=(",", ":")).encode()
        write(out / name, struct.pack("<Q", len(h)) + h + data)

    seed("valid", {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "b": {"dtype": "BOOL", "shape": [1, 3], "data_offsets": [8, 11]}}, b"abcdefghijk")
    seed("empty", {})
    seed("scalar", {"s": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]}}, b"xy")
    seed("overlap", {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                     "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}, b"abcd")
    seed("mismatch", {"a": {"dtype": "I64", "shape": [2, 2], "data_offsets": [0, 8]}}, b"abcdefgh")
    seed("dtype", {"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"abcdefgh")


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    out = Path(argv[1])
    makers = {"torch_archive_fuzzer": torch_archives, "card_fuzzer": cards, "config_fuzzer": configs,
              "tokenizer_fuzzer": tokenizers, "safetensors_header_fuzzer": safetensors}
    for target, make in makers.items():
        (out / target).mkdir(parents=True, exist_ok=True)
        make(out / target)


if __name__ == "__main__":
    main(sys.argv)
