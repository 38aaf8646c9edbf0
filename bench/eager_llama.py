#!/usr/bin/env python3
"""Eager PyTorch baseline for the decode benchmark.

A llama written the way a PyTorch user would write it (nn.Linear layers, a
key/value cache grown with torch.cat, torch.inference_mode), loading the
same fairseq2-layout checkpoint as the C++ side, with the same thread count.
Prints one JSON object with the same measurements as fairseq2_decode_bench.

Run with Debian's /usr/bin/python3 (python3-torch).
"""

import argparse
import json
import math
import os
import resource
import time

import torch
from torch import nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()).type_as(x)


def rope_freqs(cfg):
    head_dim = cfg["model_dim"] // cfg["num_attn_heads"]
    freqs = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    if cfg["use_scaled_rope"]:
        s = cfg["rope_scaling"]
        low, high = s["frequency_factors"]
        old = s["original_context_length"]
        wavelen = 2 * math.pi / freqs
        smooth = (old / wavelen - low) / (high - low)
        scaled = torch.where(wavelen > old / low, freqs / s["factor"], freqs)
        mid = (wavelen >= old / high) & (wavelen <= old / low)
        freqs = torch.where(mid, (1 - smooth) * freqs / s["factor"] + smooth * freqs, scaled)
    return freqs.float()


def apply_rope(x, cos, sin):
    # x: (N, H, S, d); rotate consecutive pairs.
    x0, x1 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, self.heads, self.kv_heads = cfg["model_dim"], cfg["num_attn_heads"], cfg["num_key_value_heads"]
        self.head_dim = dim // self.heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, self.kv_heads * self.head_dim, bias=False)
        self.output_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin, cache):
        n, s, _ = x.shape
        q = self.q_proj(x).view(n, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(n, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(n, s, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if "k" in cache:
            k = torch.cat([cache["k"], k], dim=2)
            v = torch.cat([cache["v"], v], dim=2)
        cache["k"], cache["v"] = k, v
        rep = self.heads // self.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        t = k.shape[2]
        if s > 1:
            mask = torch.ones(s, t, dtype=torch.bool).tril(t - s)
            scores = scores.masked_fill(~mask, float("-inf"))
        out = scores.float().softmax(-1).type_as(v) @ v
        return self.output_proj(out.transpose(1, 2).reshape(n, s, -1))


class FFN(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.gate_proj = nn.Linear(dim, inner, bias=False)
        self.inner_proj = nn.Linear(dim, inner, bias=False)
        self.output_proj = nn.Linear(inner, dim, bias=False)

    def forward(self, x):
        return self.output_proj(F.silu(self.gate_proj(x)) * self.inner_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg, inner):
        super().__init__()
        self.self_attn_layer_norm = RMSNorm(cfg["model_dim"])
        self.self_attn = Attention(cfg)
        self.ffn_layer_norm = RMSNorm(cfg["model_dim"])
        self.ffn = FFN(cfg["model_dim"], inner)

    def forward(self, x, cos, sin, cache):
        h = x + self.self_attn(self.self_attn_layer_norm(x), cos, sin, cache)
        return h + self.ffn(self.ffn_layer_norm(h))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        inner = int(int(cfg["ffn_inner_dim"] * cfg["ffn_inner_dim_multiplier"]) * cfg["ffn_inner_dim_scale"])
        m = cfg["ffn_inner_dim_to_multiple"]
        inner = m * ((inner + m - 1) // m)
        self.embed = nn.Embedding(cfg["vocab_info"]["size"], cfg["model_dim"])
        self.layers = nn.ModuleList(Layer(cfg, inner) for _ in range(cfg["num_layers"]))
        self.norm = RMSNorm(cfg["model_dim"])
        self.final_proj = nn.Linear(cfg["model_dim"], cfg["vocab_info"]["size"], bias=False)
        self.register_buffer("freqs", rope_freqs(cfg), persistent=False)

    def forward(self, tokens, start, caches):
        s = tokens.shape[1]
        angles = torch.outer(torch.arange(start, start + s, dtype=torch.float32), self.freqs)
        cos, sin = angles.cos(), angles.sin()
        x = self.embed(tokens)
        for layer, cache in zip(self.layers, caches):
            x = layer(x, cos, sin, cache)
        return self.final_proj(self.norm(x))


def load(path, cfg, dtype):
    state = torch.load(path)["model"]
    renamed = {}
    for key, value in state.items():
        key = key.replace("decoder_frontend.embed.", "embed.").replace("decoder.layer_norm.", "norm.").replace("decoder.layers.", "layers.")
        renamed[key] = value
    model = Llama(cfg)
    if cfg["tied_embeddings"]:
        renamed.setdefault("final_proj.weight", renamed["embed.weight"])
    model.load_state_dict(renamed)
    return model.to(dtype).eval()


def decode_rate(model, cfg, batch, prompt_len, steps):
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, cfg["vocab_info"]["size"], (batch, prompt_len), generator=gen)
    caches = [dict() for _ in cfg_layers(cfg)]
    logits = model(tokens, 0, caches)
    nxt = logits[:, -1].argmax(-1, keepdim=True)
    start = time.perf_counter()
    for i in range(steps):
        logits = model(nxt, prompt_len + i, caches)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
    return batch * steps / (time.perf_counter() - start)


def cfg_layers(cfg):
    return range(cfg["num_layers"])


def current_rss_bytes():
    """Resident memory now: Python and torch before any weights are loaded."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--config", required=True, help="LLaMAConfig JSON file")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--decode-steps", type=int, default=128)
    parser.add_argument("--prefill-len", type=int, default=512)
    parser.add_argument("--ttft-len", type=int, default=128)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        cfg = json.load(f)
    dtype = getattr(torch, args.dtype)

    runtime_rss = current_rss_bytes()
    start = time.perf_counter()
    model = load(args.checkpoint, cfg, dtype)
    load_s = time.perf_counter() - start

    result = {"load_s": load_s}
    with torch.inference_mode():
        decode_rate(model, cfg, 1, 4, 2)  # warm-up
        result["decode_b1_tokens_per_s"] = decode_rate(model, cfg, 1, 16, args.decode_steps)
        result["decode_b8_tokens_per_s"] = decode_rate(model, cfg, 8, 16, max(4, args.decode_steps // 4))

        # Prefill and time to first token: the best of three runs, as in
        # decode_bench.cpp.
        prefill_s = ttft_s = float("inf")
        tokens = torch.randint(3, cfg["vocab_info"]["size"], (1, args.prefill_len))
        for _ in range(3):
            start = time.perf_counter()
            model(tokens, 0, [dict() for _ in cfg_layers(cfg)])
            prefill_s = min(prefill_s, time.perf_counter() - start)

            start = time.perf_counter()
            logits = model(tokens[:, : args.ttft_len], 0, [dict() for _ in cfg_layers(cfg)])
            logits[:, -1].argmax(-1)
            ttft_s = min(ttft_s, time.perf_counter() - start)
        result["prefill_tokens_per_s"] = args.prefill_len / prefill_s
        result["ttft_s"] = ttft_s

    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["runtime_rss_bytes"] = runtime_rss
    print(json.dumps(result))


if __name__ == "__main__":
    main()
