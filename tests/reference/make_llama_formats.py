#!/usr/bin/env python3
"""A small random llama in the checkpoint layouts users have, for the C++
checkpoint format tests (tests/plugins/llama/llama_formats_test.cpp).

Written from the maths of the llama architecture and the published file
formats; it imports nothing of this project (the safetensors files are
written by the small writer below, not by the C++ code under test).

Usage:
  make_llama_formats.py --out DIR [--seed N]

Writes to DIR:
  hf/             config.json + model.safetensors (Hugging Face names,
                  q/k in rotate-half order, with lm_head.weight)
  hf_sharded/     the same weights in two safetensors shards with
                  model.safetensors.index.json
  hf_bin/         config.json + pytorch_model.bin (torch.save state dict)
  hf_bin_sharded/ two pytorch_model-0000N-of-00002.bin + pytorch_model.bin.index.json
  hf_tied/        tie_word_embeddings: true and no lm_head.weight
  hf_bf16/        the weights rounded to bfloat16, stored as BF16
  meta/           params.json + consolidated.00.pth (Meta names, q/k in
                  consecutive-pair order)
  meta_sharded/   params.json + consolidated.00.pth + consolidated.01.pth
  logits.pt       torch.save({"tokens": int64 (N, S), "logits": float32,
                  "logits_tied": float32, "logits_bf16": float32})

Every model has dim 64, 2 layers, 4 heads / 2 kv heads (head dim 16), GLU
width 192 (Meta's formula: int(2 * 4 * 64 / 3) = 170 rounded up to 32),
vocabulary 128 (bos 1, eos 2), RoPE theta 500000 with Llama 3.1 scaling
(factor 8, low 1, high 4, original context 8192), so the three branches of
the scaling all occur.

The logits come from two independent float64 forward passes that must agree:
one in the Hugging Face formulation (rotate_half over the HF weights), one
in Meta's (complex rotation of consecutive pairs over the Meta weights).

Needs torch (run with /usr/bin/python3, Debian's torch 1.13).
"""

import argparse
import collections
import json
import math
import os
import struct
import sys

import torch

DIM = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
HEAD_DIM = DIM // HEADS
MULTIPLE_OF = 32
FFN = MULTIPLE_OF * ((int(2 * 4 * DIM / 3) + MULTIPLE_OF - 1) // MULTIPLE_OF)  # 192
VOCAB = 128
THETA = 500000.0
SCALING = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
EPS = 1e-5
TOKENS = [[1, 17, 99, 3, 45, 45, 127, 8, 64, 2], [1, 5, 120, 88, 14, 9, 101, 56, 0, 76]]

# ------------------------------------------------------------------ weights


def meta_weights(seed):
    """Random weights with Meta names (q/k in consecutive-pair order)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=None):
        scale = scale if scale is not None else 1.0 / math.sqrt(shape[-1])
        return torch.randn(*shape, generator=g) * scale

    w = collections.OrderedDict()
    w["tok_embeddings.weight"] = rand(VOCAB, DIM, scale=1.0)
    for i in range(LAYERS):
        p = f"layers.{i}."
        w[p + "attention.wq.weight"] = rand(HEADS * HEAD_DIM, DIM)
        w[p + "attention.wk.weight"] = rand(KV_HEADS * HEAD_DIM, DIM)
        w[p + "attention.wv.weight"] = rand(KV_HEADS * HEAD_DIM, DIM)
        w[p + "attention.wo.weight"] = rand(DIM, HEADS * HEAD_DIM)
        w[p + "feed_forward.w1.weight"] = rand(FFN, DIM)
        w[p + "feed_forward.w2.weight"] = rand(DIM, FFN)
        w[p + "feed_forward.w3.weight"] = rand(FFN, DIM)
        w[p + "attention_norm.weight"] = 1.0 + 0.1 * torch.randn(DIM, generator=g)
        w[p + "ffn_norm.weight"] = 1.0 + 0.1 * torch.randn(DIM, generator=g)
    w["norm.weight"] = 1.0 + 0.1 * torch.randn(DIM, generator=g)
    w["output.weight"] = rand(VOCAB, DIM)
    return w


def to_rotate_half(w, heads):
    """Meta pair order to HF rotate-half order (the transformers conversion script's permute)."""
    rows, cols = w.shape
    return w.view(heads, rows // heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_weights(meta):
    hf = collections.OrderedDict()
    hf["model.embed_tokens.weight"] = meta["tok_embeddings.weight"]
    for i in range(LAYERS):
        m, h = f"layers.{i}.", f"model.layers.{i}."
        hf[h + "self_attn.q_proj.weight"] = to_rotate_half(meta[m + "attention.wq.weight"], HEADS)
        hf[h + "self_attn.k_proj.weight"] = to_rotate_half(meta[m + "attention.wk.weight"], KV_HEADS)
        hf[h + "self_attn.v_proj.weight"] = meta[m + "attention.wv.weight"]
        hf[h + "self_attn.o_proj.weight"] = meta[m + "attention.wo.weight"]
        hf[h + "mlp.gate_proj.weight"] = meta[m + "feed_forward.w1.weight"]
        hf[h + "mlp.down_proj.weight"] = meta[m + "feed_forward.w2.weight"]
        hf[h + "mlp.up_proj.weight"] = meta[m + "feed_forward.w3.weight"]
        hf[h + "input_layernorm.weight"] = meta[m + "attention_norm.weight"]
        hf[h + "post_attention_layernorm.weight"] = meta[m + "ffn_norm.weight"]
    hf["model.norm.weight"] = meta["norm.weight"]
    hf["lm_head.weight"] = meta["output.weight"]
    return hf


# ------------------------------------------------------------------ RoPE


def inv_freq():
    """theta^(-2i/d) with Llama 3.1 scaling, float64."""
    i = torch.arange(0, HEAD_DIM, 2, dtype=torch.float64)
    freqs = 1.0 / (THETA ** (i / HEAD_DIM))
    low_wavelen = SCALING["original_max_position_embeddings"] / SCALING["low_freq_factor"]
    high_wavelen = SCALING["original_max_position_embeddings"] / SCALING["high_freq_factor"]
    out = []
    for f in freqs.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / SCALING["factor"])
        else:
            smooth = (SCALING["original_max_position_embeddings"] / wavelen - SCALING["low_freq_factor"]) / (
                SCALING["high_freq_factor"] - SCALING["low_freq_factor"]
            )
            out.append((1 - smooth) * f / SCALING["factor"] + smooth * f)
    return torch.tensor(out, dtype=torch.float64)


# ------------------------------------------------------------------ forward passes


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def attention(q, k, v):
    """q (B, H, S, d), k/v (B, KV, S, d); causal, grouped-query."""
    rep = HEADS // KV_HEADS
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(HEAD_DIM)
    s = q.shape[2]
    mask = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def hf_forward(w, tokens, tied=False):
    """The Hugging Face formulation: rotate_half with cos/sin over halves."""
    w = {k: v.double() for k, v in w.items()}
    x = w["model.embed_tokens.weight"][tokens]
    b, s, _ = x.shape
    angles = torch.outer(torch.arange(s, dtype=torch.float64), inv_freq())
    emb = torch.cat((angles, angles), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = attention(q, k, v).transpose(1, 2).reshape(b, s, DIM)
        x = x + a @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    return x @ head.T


def meta_forward(w, tokens):
    """Meta's formulation: consecutive pairs rotated as complex numbers."""
    w = {k: v.double() for k, v in w.items()}
    x = w["tok_embeddings.weight"][tokens]
    b, s, _ = x.shape
    angles = torch.outer(torch.arange(s, dtype=torch.float64), inv_freq())
    freqs_cis = torch.polar(torch.ones_like(angles), angles)  # (S, d/2)

    def rotate(t):  # (B, S, H, d)
        c = torch.view_as_complex(t.reshape(*t.shape[:-1], -1, 2).contiguous())
        return torch.view_as_real(c * freqs_cis.view(1, s, 1, -1)).flatten(3)

    for i in range(LAYERS):
        p = f"layers.{i}."
        h = rms_norm(x, w[p + "attention_norm.weight"])
        q = rotate((h @ w[p + "attention.wq.weight"].T).view(b, s, HEADS, HEAD_DIM)).transpose(1, 2)
        k = rotate((h @ w[p + "attention.wk.weight"].T).view(b, s, KV_HEADS, HEAD_DIM)).transpose(1, 2)
        v = (h @ w[p + "attention.wv.weight"].T).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        a = attention(q, k, v).transpose(1, 2).reshape(b, s, DIM)
        x = x + a @ w[p + "attention.wo.weight"].T
        h = rms_norm(x, w[p + "ffn_norm.weight"])
        gate = torch.nn.functional.silu(h @ w[p + "feed_forward.w1.weight"].T)
        x = x + (gate * (h @ w[p + "feed_forward.w3.weight"].T)) @ w[p + "feed_forward.w2.weight"].T
    x = rms_norm(x, w["norm.weight"])
    return x @ w["output.weight"].T


# ------------------------------------------------------------------ writers

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """The safetensors format: u64 little-endian header length, JSON header, data."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def hf_config(tied=False, dtype="float32"):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": DIM,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "max_position_embeddings": 256,
        "rms_norm_eps": EPS,
        "rope_theta": THETA,
        "rope_scaling": dict(SCALING, rope_type="llama3"),
        "tie_word_embeddings": tied,
        "attention_bias": False,
        "torch_dtype": dtype,
    }


def meta_params():
    return {
        "dim": DIM,
        "n_layers": LAYERS,
        "n_heads": HEADS,
        "n_kv_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "multiple_of": MULTIPLE_OF,
        "norm_eps": EPS,
        "rope_theta": THETA,
        "use_scaled_rope": True,
        "rope_scaling_factor": SCALING["factor"],
        "max_seq_len": 256,
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)


def split_in_two(weights):
    keys = list(weights)
    half = len(keys) // 2
    return (
        collections.OrderedDict((k, weights[k]) for k in keys[:half]),
        collections.OrderedDict((k, weights[k]) for k in keys[half:]),
    )


def write_sharded(dir, weights, names, write):
    """Two shards and their index, as transformers' save_pretrained writes them."""
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in weights.values())}, "weight_map": {}}
    for shard, name in zip(split_in_two(weights), names[:2]):
        write(os.path.join(dir, name), shard)
        for key in shard:
            index["weight_map"][key] = name
    write_json(os.path.join(dir, names[2]), index)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)

    out = args.out
    dirs = ["hf", "hf_sharded", "hf_bin", "hf_bin_sharded", "hf_tied", "hf_bf16", "meta", "meta_sharded"]
    for d in dirs:
        os.makedirs(os.path.join(out, d), exist_ok=True)
    p = lambda *parts: os.path.join(out, *parts)  # noqa: E731

    meta = meta_weights(args.seed)
    hf = hf_weights(meta)
    tokens = torch.tensor(TOKENS, dtype=torch.int64)

    # The two formulations must agree, or the script itself is wrong.
    logits = hf_forward(hf, tokens)
    meta_logits = meta_forward(meta, tokens)
    assert torch.allclose(logits, meta_logits, atol=1e-9), (logits - meta_logits).abs().max()

    write_json(p("hf", "config.json"), hf_config())
    write_safetensors(p("hf", "model.safetensors"), hf, {"format": "pt"})

    write_json(p("hf_sharded", "config.json"), hf_config())
    write_sharded(
        p("hf_sharded"),
        hf,
        ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"],
        lambda path, shard: write_safetensors(path, shard, {"format": "pt"}),
    )

    write_json(p("hf_bin", "config.json"), hf_config())
    torch.save(hf, p("hf_bin", "pytorch_model.bin"))

    write_json(p("hf_bin_sharded", "config.json"), hf_config())
    write_sharded(
        p("hf_bin_sharded"),
        hf,
        ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"],
        lambda path, shard: torch.save(shard, path),
    )

    tied = collections.OrderedDict((k, v) for k, v in hf.items() if k != "lm_head.weight")
    write_json(p("hf_tied", "config.json"), hf_config(tied=True))
    write_safetensors(p("hf_tied", "model.safetensors"), tied, {"format": "pt"})
    tied_logits = hf_forward(tied, tokens, tied=True)

    bf16 = collections.OrderedDict((k, v.to(torch.bfloat16)) for k, v in hf.items())
    write_json(p("hf_bf16", "config.json"), hf_config(dtype="bfloat16"))
    write_safetensors(p("hf_bf16", "model.safetensors"), bf16, {"format": "pt"})
    bf16_logits = hf_forward(bf16, tokens)

    write_json(p("meta", "params.json"), meta_params())
    torch.save(meta, p("meta", "consolidated.00.pth"))

    write_json(p("meta_sharded", "params.json"), meta_params())
    for n, shard in enumerate(split_in_two(meta)):
        torch.save(shard, p("meta_sharded", f"consolidated.{n:02d}.pth"))

    torch.save(
        {
            "tokens": tokens,
            "logits": logits.float(),
            "logits_tied": tied_logits.float(),
            "logits_bf16": bf16_logits.float(),
        },
        p("logits.pt"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
