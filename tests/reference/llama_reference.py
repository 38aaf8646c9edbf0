#!/usr/bin/env python3
"""An independent plain-PyTorch llama, for the C++ llama forward tests.

Written from the maths of the llama architecture (see
/work/shared/docs/fairseq2-reference.md); it imports nothing of this project.
It creates random weights with fairseq2 state-dict names, saves them as a
fairseq2 checkpoint, and saves the logits its own forward pass gives for a
batch of token ids.

Usage:
  llama_reference.py --config CONFIG.json --seed N --tokens '[[1, 2, 3], [4, 5, 6]]' --out DIR
                     [--omit-key KEY]... [--extra-key KEY]... [--wrong-shape KEY]...

CONFIG.json uses the field names of LLaMAConfig's JSON form (model_dim,
num_layers, num_attn_heads, num_key_value_heads, ffn_inner_dim,
ffn_inner_dim_scale, ffn_inner_dim_multiplier, ffn_inner_dim_to_multiple,
rope_theta, use_scaled_rope, rope_scaling {factor, frequency_factors,
original_context_length}, vocab_info {size, ...}, max_seq_len,
tied_embeddings); other fields are ignored.

Writes to DIR:
  model.pt   torch.save({"model": OrderedDict state dict, "model_key": "model", "fs2": True})
  logits.pt  torch.save({"logits": float32 tensor (N, S, vocab_size)})
  info.json  {"ffn_inner_dim": ..., "head_dim": ..., "rope_freqs": [...],
              "rope_branches": {"kept": n, "smoothed": n, "scaled": n}, "logits_shape": [...]}

--omit-key / --extra-key / --wrong-shape damage the saved checkpoint (a key
left out; a key the model does not have, holding a (4, 4) tensor; a key
saved with half its first dimension) so the C++ tests can check the errors
of strict loading. The logits are always those of the undamaged weights.

The forward pass runs in float64 (weights are created in float32 and cast
up), so the saved logits are the float32 rounding of a more accurate
computation than the float32 model under test. RMSNorm uses eps 1e-5.

Needs torch (run with /usr/bin/python3, Debian's torch 1.13).
"""

import argparse
import collections
import json
import math
import os
import sys

import torch

RMS_NORM_EPS = 1e-5
COMPUTE_DTYPE = torch.float64


# ---------------------------------------------------------------- config


def ffn_inner_dim(cfg):
    """int(int(ffn_inner_dim * multiplier) * scale), rounded up to to_multiple."""
    dim = int(cfg["ffn_inner_dim"] * cfg.get("ffn_inner_dim_multiplier", 1.0))
    dim = int(dim * cfg.get("ffn_inner_dim_scale", 2.0 / 3.0))
    multiple = cfg.get("ffn_inner_dim_to_multiple", 1)
    if multiple > 1:
        dim = multiple * ((dim + multiple - 1) // multiple)
    return dim


def rope_frequencies(head_dim, theta, scaling):
    """theta^(-2i/d) for i < d/2, with Llama 3.1 scaling when `scaling` is a dict.

    Returns (freqs float64 tensor, branch counts).
    """
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    freqs = torch.pow(torch.tensor(float(theta), dtype=torch.float64), -2.0 * i / head_dim)
    branches = {"kept": 0, "smoothed": 0, "scaled": 0}
    if scaling is None:
        return freqs, branches

    factor = float(scaling["factor"])
    low_factor, high_factor = (float(f) for f in scaling["frequency_factors"])
    original = float(scaling["original_context_length"])
    low_freq_wavelen = original / low_factor
    high_freq_wavelen = original / high_factor

    scaled = []
    for freq in freqs.tolist():
        wavelen = 2.0 * math.pi / freq
        if wavelen < high_freq_wavelen:
            branches["kept"] += 1
            scaled.append(freq)
        elif wavelen > low_freq_wavelen:
            branches["scaled"] += 1
            scaled.append(freq / factor)
        else:
            branches["smoothed"] += 1
            smooth = (original / wavelen - low_factor) / (high_factor - low_factor)
            scaled.append((1.0 - smooth) * freq / factor + smooth * freq)
    return torch.tensor(scaled, dtype=torch.float64), branches


# ---------------------------------------------------------------- weights


def make_state_dict(cfg, seed):
    """Random float32 weights under fairseq2's names, in module order."""
    torch.manual_seed(seed)
    dim = cfg["model_dim"]
    heads = cfg["num_attn_heads"]
    kv_heads = cfg["num_key_value_heads"]
    head_dim = dim // heads
    vocab = cfg["vocab_info"]["size"]
    inner = ffn_inner_dim(cfg)

    def proj(out_dim, in_dim):
        # Unit-variance outputs for unit-variance inputs, so every layer matters.
        return torch.randn(out_dim, in_dim) / math.sqrt(in_dim)

    def norm():
        # Not all ones, so a norm weight that is ignored or misplaced shows.
        return 1.0 + 0.1 * torch.randn(dim)

    sd = collections.OrderedDict()
    embed = torch.randn(vocab, dim)
    sd["decoder_frontend.embed.weight"] = embed
    for n in range(cfg["num_layers"]):
        p = f"decoder.layers.{n}."
        sd[p + "self_attn_layer_norm.weight"] = norm()
        sd[p + "self_attn.q_proj.weight"] = proj(heads * head_dim, dim)
        sd[p + "self_attn.k_proj.weight"] = proj(kv_heads * head_dim, dim)
        sd[p + "self_attn.v_proj.weight"] = proj(kv_heads * head_dim, dim)
        sd[p + "self_attn.output_proj.weight"] = proj(dim, heads * head_dim)
        sd[p + "ffn_layer_norm.weight"] = norm()
        sd[p + "ffn.gate_proj.weight"] = proj(inner, dim)
        sd[p + "ffn.inner_proj.weight"] = proj(inner, dim)
        sd[p + "ffn.output_proj.weight"] = proj(dim, inner)
    sd["decoder.layer_norm.weight"] = norm()
    if cfg.get("tied_embeddings", False):
        # As PyTorch writes tied modules: the same tensor under both names.
        sd["final_proj.weight"] = embed
    else:
        sd["final_proj.weight"] = proj(vocab, dim)
    return sd


# ---------------------------------------------------------------- model


def rms_norm(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + RMS_NORM_EPS) * weight


def apply_rope(x, freqs):
    """x: (N, H, S, d); rotates consecutive pairs (x[2i], x[2i+1]) at position p by p * freqs[i]."""
    seq_len = x.shape[-2]
    positions = torch.arange(seq_len, dtype=torch.float64)
    angles = torch.outer(positions, freqs)  # (S, d/2)
    rotation = torch.polar(torch.ones_like(angles), angles)  # e^{i * angle}
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(pairs * rotation).flatten(-2)


def attention(x, sd, p, cfg, freqs):
    n, s, dim = x.shape
    heads = cfg["num_attn_heads"]
    kv_heads = cfg["num_key_value_heads"]
    head_dim = dim // heads

    q = (x @ sd[p + "q_proj.weight"].T).view(n, s, heads, head_dim).transpose(1, 2)
    k = (x @ sd[p + "k_proj.weight"].T).view(n, s, kv_heads, head_dim).transpose(1, 2)
    v = (x @ sd[p + "v_proj.weight"].T).view(n, s, kv_heads, head_dim).transpose(1, 2)

    q = apply_rope(q, freqs)
    k = apply_rope(k, freqs)

    # Grouped-query attention: query head h uses key/value head h // (heads / kv_heads).
    k = k.repeat_interleave(heads // kv_heads, dim=1)
    v = v.repeat_interleave(heads // kv_heads, dim=1)

    scores = (q @ k.transpose(-1, -2)) / math.sqrt(head_dim)
    future = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v  # (N, H, S, d)
    out = out.transpose(1, 2).reshape(n, s, heads * head_dim)
    return out @ sd[p + "output_proj.weight"].T


def ffn(x, sd, p):
    gate = torch.nn.functional.silu(x @ sd[p + "gate_proj.weight"].T)
    return (gate * (x @ sd[p + "inner_proj.weight"].T)) @ sd[p + "output_proj.weight"].T


def forward(cfg, sd, tokens, freqs):
    w = {k: v.to(COMPUTE_DTYPE) for k, v in sd.items()}
    h = w["decoder_frontend.embed.weight"][tokens]  # (N, S, dim)
    for n in range(cfg["num_layers"]):
        p = f"decoder.layers.{n}."
        h = h + attention(rms_norm(h, w[p + "self_attn_layer_norm.weight"]), w, p + "self_attn.", cfg, freqs)
        h = h + ffn(rms_norm(h, w[p + "ffn_layer_norm.weight"]), w, p + "ffn.")
    h = rms_norm(h, w["decoder.layer_norm.weight"])
    if cfg.get("tied_embeddings", False):
        final = w["decoder_frontend.embed.weight"]
    else:
        final = w["final_proj.weight"]
    return h @ final.T


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="LLaMAConfig JSON file")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--tokens", required=True, help="JSON list of equal-length lists of token ids")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--omit-key", action="append", default=[])
    parser.add_argument("--extra-key", action="append", default=[])
    parser.add_argument("--wrong-shape", action="append", default=[])
    args = parser.parse_args()

    with open(args.config, encoding="utf-8") as f:
        cfg = json.load(f)

    dim = cfg["model_dim"]
    heads = cfg["num_attn_heads"]
    kv_heads = cfg["num_key_value_heads"]
    if dim % heads != 0 or (dim // heads) % 2 != 0 or heads % kv_heads != 0:
        sys.exit(f"invalid config: model_dim {dim}, heads {heads}, kv heads {kv_heads}")
    head_dim = dim // heads

    tokens = torch.tensor(json.loads(args.tokens), dtype=torch.int64)
    if tokens.dim() != 2:
        sys.exit("--tokens must be a list of equal-length lists")
    vocab = cfg["vocab_info"]["size"]
    if tokens.numel() > 0 and (tokens.min() < 0 or tokens.max() >= vocab):
        sys.exit(f"token ids must be in [0, {vocab})")
    if tokens.shape[1] > cfg["max_seq_len"]:
        sys.exit("the sequences are longer than max_seq_len")

    scaling = cfg["rope_scaling"] if cfg.get("use_scaled_rope", False) else None
    freqs, branches = rope_frequencies(head_dim, cfg["rope_theta"], scaling)

    sd = make_state_dict(cfg, args.seed)
    with torch.no_grad():
        logits = forward(cfg, sd, tokens, freqs).to(torch.float32).contiguous()

    saved = collections.OrderedDict(sd)
    for key in args.omit_key:
        if key not in saved:
            sys.exit(f"--omit-key: no key {key}")
        del saved[key]
    for key in args.wrong_shape:
        if key not in saved:
            sys.exit(f"--wrong-shape: no key {key}")
        t = saved[key]
        saved[key] = torch.randn(max(t.shape[0] // 2, 1), *t.shape[1:])
    for key in args.extra_key:
        saved[key] = torch.randn(4, 4)

    os.makedirs(args.out, exist_ok=True)
    torch.save({"model": saved, "model_key": "model", "fs2": True}, os.path.join(args.out, "model.pt"))
    torch.save({"logits": logits}, os.path.join(args.out, "logits.pt"))
    info = {
        "ffn_inner_dim": ffn_inner_dim(cfg),
        "head_dim": head_dim,
        "rope_freqs": freqs.tolist(),
        "rope_branches": branches,
        "logits_shape": list(logits.shape),
        "keys": list(saved.keys()),
    }
    with open(os.path.join(args.out, "info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
