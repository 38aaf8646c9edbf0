#!/usr/bin/env python3
"""Small random Qwen2, Qwen3 and Mistral decoders in Hugging Face layout, with
expected logits and greedy continuations, for the C++ Hugging Face decoder
tests.

Written from the Hugging Face modelling semantics of Qwen2ForCausalLM,
Qwen3ForCausalLM and MistralForCausalLM; it imports nothing of this project
(the safetensors files are written by the small writer below, not by the C++
code under test) and needs neither `transformers` nor `safetensors`.

Usage:
  make_hf_decoders.py --out DIR [--seed N]

Writes to DIR (every model directory holds config.json; every weight is F32
and every weight file's header has "__metadata__": {"format": "pt"} unless
said otherwise):

  qwen2/             config.json ("Qwen2ForCausalLM", "model_type": "qwen2",
                     "tie_word_embeddings": true, "use_sliding_window": false,
                     "sliding_window": null, "bos_token_id": null) +
                     model.safetensors. q/k/v_proj have .bias tensors, o_proj
                     has none. Tied: there is NO lm_head.weight; the output
                     projection is model.embed_tokens.weight.
  qwen2_save_model/  the qwen2 weights as safetensors' save_model stores shared
                     tensors: the file holds lm_head.weight (the embedding
                     values) and NOT model.embed_tokens.weight, and its
                     __metadata__ is {"format": "pt",
                     "model.embed_tokens.weight": "lm_head.weight"}. Same
                     config.json as qwen2.
  qwen2_sharded/     the qwen2 weights in model-00001-of-00002.safetensors
                     (model.embed_tokens.weight and all of model.layers.0.*)
                     and model-00002-of-00002.safetensors (model.layers.1.*
                     and model.norm.weight), with model.safetensors.index.json
                     = {"metadata": {"total_size": BYTES}, "weight_map":
                     {key: shard file name}}. Same config.json as qwen2.
  qwen3/             config.json ("Qwen3ForCausalLM", "model_type": "qwen3",
                     "head_dim": 24, i.e. not hidden_size / heads = 16,
                     "attention_bias": false, "tie_word_embeddings": false) +
                     model.safetensors with lm_head.weight, no q/k/v biases,
                     and per layer self_attn.q_norm.weight and
                     self_attn.k_norm.weight of shape (24,). q_proj is
                     (96, 64), k_proj / v_proj (48, 64), o_proj (64, 96).
  mistral/           config.json ("MistralForCausalLM", "model_type":
                     "mistral", "head_dim": 16, "rms_norm_eps": 1e-5,
                     "rope_theta": 10000.0, "sliding_window": 8,
                     "tie_word_embeddings": false, "bos_token_id": 1) +
                     model.safetensors with lm_head.weight and no biases.
  expected/qwen2.safetensors, expected/qwen3.safetensors,
  expected/mistral.safetensors
                     each with (and no __metadata__):
                       tokens  I64 (2, 20)       the prompts (TOKENS below)
                       logits  F64 (2, 20, 160)  the causal forward of tokens
                       greedy  I64 (2, 32)       32 ids generated greedily
                                                 after each prompt (argmax of
                                                 the last position, the full
                                                 forward recomputed each step,
                                                 no EOS stopping)
                     qwen2_save_model and qwen2_sharded must give the qwen2
                     outputs.

Every model: hidden size 64, intermediate size 96, 2 layers, 4 heads / 2 kv
heads, vocabulary 160, max_position_embeddings 128 (covers 20 + 32), eos 2,
SiLU GLU. Qwen2 and Qwen3: rms_norm_eps 1e-6, rope_theta 1e6, no sliding
window. Mistral: each query attends to the last 8 keys including itself (keys
at positions <= query position - 8 are masked), so positions >= 8 of the
20-token prompts see the window.

Weight names (N = 0, 1): model.embed_tokens.weight,
model.layers.N.input_layernorm.weight,
model.layers.N.self_attn.{q,k,v,o}_proj.weight (+ {q,k,v}_proj.bias for
qwen2), model.layers.N.self_attn.{q,k}_norm.weight (qwen3),
model.layers.N.post_attention_layernorm.weight,
model.layers.N.mlp.{gate,up,down}_proj.weight, model.norm.weight,
lm_head.weight (qwen3 and mistral only). Random normal from a torch.Generator
seeded 1000 * seed + (1 qwen2, 2 qwen3, 3 mistral): projections std
1/sqrt(fan_in), embedding std 1, every norm weight (including q_norm and
k_norm) 1 + 0.1 randn, biases 0.1 randn; except, so that the greedy paths are
varied and free of near ties, the untied lm_head has std 2 and qwen2's
q_proj / k_proj have std 2/sqrt(fan_in) and its o_proj / down_proj
8/sqrt(fan_in) (see LM_HEAD_STD and MODELS below).

The expected outputs come from the float64 forward pass below over the F32
weights as stored. A warning goes to stderr if any greedy step's top-two
logit gap is below 1e-3 (the C++ tests compare generated ids exactly). On
success one line with the smallest gap per model goes to stdout.

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
FFN = 96
LAYERS = 2
HEADS = 4
KV_HEADS = 2
VOCAB = 160
MAX_POS = 128
GEN_STEPS = 32
GAP_WARN = 1e-3

# The untied output projection's std. 1/sqrt(64) would give logits of std ~1
# over 160 ids, whose top two come within a few 1e-3 somewhere along the 64
# greedy steps; std 2 gives logits of std ~16 and comfortable gaps.
LM_HEAD_STD = 2.0

TOKENS = [
    [1, 17, 99, 3, 45, 45, 127, 8, 64, 2, 150, 33, 71, 0, 159, 88, 12, 12, 140, 57],
    [1, 5, 120, 88, 14, 9, 101, 56, 0, 76, 131, 22, 97, 64, 3, 118, 43, 155, 7, 29],
]

QWEN_BASE = {
    "hidden_size": DIM,
    "intermediate_size": FFN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "vocab_size": VOCAB,
    "max_position_embeddings": MAX_POS,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "use_sliding_window": False,
    "sliding_window": None,
    "hidden_act": "silu",
    "bos_token_id": None,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}

CONFIGS = {
    "qwen2": dict(
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"},
        **QWEN_BASE,
        tie_word_embeddings=True,
    ),
    "qwen3": dict(
        {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"},
        **QWEN_BASE,
        head_dim=24,
        attention_bias=False,
        tie_word_embeddings=False,
    ),
    "mistral": {
        "architectures": ["MistralForCausalLM"],
        "model_type": "mistral",
        "hidden_size": DIM,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": 16,
        "vocab_size": VOCAB,
        "max_position_embeddings": MAX_POS,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "sliding_window": 8,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    },
}

# Per model: generator seed offset, q/k/v biases, per-head q/k norms, and
# multipliers of the 1/sqrt(fan_in) std: qk_gain for q_proj and k_proj,
# out_gain for o_proj and down_proj. With the std as is, the tied qwen2 only
# ever repeats the last prompt id (the residual stream stays near that id's
# embedding, which is also its output row); larger residual updates and sharper
# attention give it greedy paths of ~20 distinct ids per prompt.
MODELS = {
    "qwen2": {"seed_offset": 1, "qkv_bias": True, "qk_norm": False, "qk_gain": 2.0, "out_gain": 8.0},
    "qwen3": {"seed_offset": 2, "qkv_bias": False, "qk_norm": True, "qk_gain": 1.0, "out_gain": 1.0},
    "mistral": {"seed_offset": 3, "qkv_bias": False, "qk_norm": False, "qk_gain": 1.0, "out_gain": 1.0},
}


def head_dim(config):
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def window(config):
    if config["model_type"] == "mistral":
        return config["sliding_window"]
    return config["sliding_window"] if config.get("use_sliding_window") else None


# ------------------------------------------------------------------ weights


def make_weights(name, seed):
    """Random F32 weights with Hugging Face names, in the order HF lists them."""
    config, model = CONFIGS[name], MODELS[name]
    g = torch.Generator().manual_seed(1000 * seed + model["seed_offset"])
    d = head_dim(config)

    def proj(rows, cols, std=None, gain=1.0):
        return torch.randn(rows, cols, generator=g) * (std if std is not None else gain / math.sqrt(cols))

    def norm(n):
        return 1.0 + 0.1 * torch.randn(n, generator=g)

    def bias(n):
        return 0.1 * torch.randn(n, generator=g)

    w = collections.OrderedDict()
    w["model.embed_tokens.weight"] = proj(VOCAB, DIM, std=1.0)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(DIM)
        w[p + "self_attn.q_proj.weight"] = proj(HEADS * d, DIM, gain=model["qk_gain"])
        if model["qkv_bias"]:
            w[p + "self_attn.q_proj.bias"] = bias(HEADS * d)
        w[p + "self_attn.k_proj.weight"] = proj(KV_HEADS * d, DIM, gain=model["qk_gain"])
        if model["qkv_bias"]:
            w[p + "self_attn.k_proj.bias"] = bias(KV_HEADS * d)
        w[p + "self_attn.v_proj.weight"] = proj(KV_HEADS * d, DIM)
        if model["qkv_bias"]:
            w[p + "self_attn.v_proj.bias"] = bias(KV_HEADS * d)
        w[p + "self_attn.o_proj.weight"] = proj(DIM, HEADS * d, gain=model["out_gain"])
        if model["qk_norm"]:
            w[p + "self_attn.q_norm.weight"] = norm(d)
            w[p + "self_attn.k_norm.weight"] = norm(d)
        w[p + "post_attention_layernorm.weight"] = norm(DIM)
        w[p + "mlp.gate_proj.weight"] = proj(FFN, DIM)
        w[p + "mlp.up_proj.weight"] = proj(FFN, DIM)
        w[p + "mlp.down_proj.weight"] = proj(DIM, FFN, gain=model["out_gain"])
    w["model.norm.weight"] = norm(DIM)
    if not config["tie_word_embeddings"]:
        w["lm_head.weight"] = proj(VOCAB, DIM, std=LM_HEAD_STD)
    return w


# ------------------------------------------------------------------ forward pass


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(s, d, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    angles = torch.outer(torch.arange(s, dtype=torch.float64), inv_freq)
    emb = torch.cat((angles, angles), dim=-1)  # (S, d)
    return emb.cos(), emb.sin()


def attention_mask(s, sliding_window):
    """True where a key may be attended: key <= query, and key > query - window."""
    q = torch.arange(s).view(s, 1)
    k = torch.arange(s).view(1, s)
    allowed = k <= q
    if sliding_window is not None:
        allowed = allowed & (k > q - sliding_window)
    return allowed


def forward(config, w, tokens, sliding_window="config"):
    """Float64 logits (B, S, V) of the causal forward of tokens (B, S)."""
    w = {k: v.double() for k, v in w.items()}
    eps, d = config["rms_norm_eps"], head_dim(config)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    group = heads // kv_heads
    if sliding_window == "config":
        sliding_window = window(config)

    x = w["model.embed_tokens.weight"][tokens]
    b, s, _ = x.shape
    cos, sin = rope_cos_sin(s, d, config["rope_theta"])
    allowed = attention_mask(s, sliding_window)

    def linear(h, key):
        y = h @ w[key + ".weight"].T
        if key + ".bias" in w:
            y = y + w[key + ".bias"]
        return y

    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(h, p + "self_attn.q_proj").view(b, s, heads, d)
        k = linear(h, p + "self_attn.k_proj").view(b, s, kv_heads, d)
        v = linear(h, p + "self_attn.v_proj").view(b, s, kv_heads, d)
        if p + "self_attn.q_norm.weight" in w:  # qwen3: per head, before rotary
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, S, d)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # kv head j serves query heads j*group .. j*group + group - 1
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(~allowed, float("-inf"))
        a = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, heads * d)
        h = x + a @ w[p + "self_attn.o_proj.weight"].T
        m = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        glu = torch.nn.functional.silu(m @ w[p + "mlp.gate_proj.weight"].T) * (m @ w[p + "mlp.up_proj.weight"].T)
        x = h + glu @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if config["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def greedy(config, w, tokens, steps):
    """Greedy ids (B, steps), recomputing the full forward each step, and the top-two gap per step (B, steps)."""
    seq = tokens.clone()
    ids, gaps = [], []
    for _ in range(steps):
        last = forward(config, w, seq)[:, -1, :]
        top = last.topk(2, dim=-1).values
        gaps.append(top[:, 0] - top[:, 1])
        nxt = last.argmax(dim=-1)
        ids.append(nxt)
        seq = torch.cat((seq, nxt.view(-1, 1)), dim=1)
    return torch.stack(ids, dim=1), torch.stack(gaps, dim=1)


# ------------------------------------------------------------------ writers

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors format: u64 little-endian header length, JSON header
    (padded with spaces to a multiple of 8 bytes), then the tensors' bytes,
    little-endian, row-major, at data_offsets relative to the data start."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes()
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


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def write_model_dir(dir, config, weights, metadata=None):
    os.makedirs(dir, exist_ok=True)
    write_json(os.path.join(dir, "config.json"), config)
    write_safetensors(os.path.join(dir, "model.safetensors"), weights, metadata if metadata else {"format": "pt"})


def write_sharded(dir, config, weights):
    """Layer 0 and the embedding in the first shard, the rest in the second, with the index save_pretrained writes."""
    os.makedirs(dir, exist_ok=True)
    write_json(os.path.join(dir, "config.json"), config)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    first = lambda k: k == "model.embed_tokens.weight" or k.startswith("model.layers.0.")  # noqa: E731
    shards = [
        collections.OrderedDict((k, v) for k, v in weights.items() if first(k)),
        collections.OrderedDict((k, v) for k, v in weights.items() if not first(k)),
    ]
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in weights.values())}, "weight_map": {}}
    for name, shard in zip(names, shards):
        write_safetensors(os.path.join(dir, name), shard, {"format": "pt"})
        for key in shard:
            index["weight_map"][key] = name
    write_json(os.path.join(dir, "model.safetensors.index.json"), index)


# ------------------------------------------------------------------ main


def check(condition, message):
    if not condition:
        raise RuntimeError(message)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = args.out
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    tokens = torch.tensor(TOKENS, dtype=torch.int64)
    check(tokens.shape[1] + GEN_STEPS <= MAX_POS, "max_position_embeddings does not cover the greedy paths")
    check(bool(((tokens >= 0) & (tokens < VOCAB)).all()), "prompt ids out of range")

    smallest = {}
    for name in MODELS:
        config = CONFIGS[name]
        weights = make_weights(name, args.seed)
        logits = forward(config, weights, tokens)
        ids, gaps = greedy(config, weights, tokens, GEN_STEPS)
        check(bool(torch.isfinite(logits).all()), f"{name}: non-finite logits")

        # The full forward of prompt + generated must reproduce each greedy choice.
        full = torch.cat((tokens, ids), dim=1)
        replay = forward(config, weights, full)[:, tokens.shape[1] - 1 : -1, :].argmax(dim=-1)
        check(torch.equal(replay, ids), f"{name}: greedy ids do not replay")

        if name == "mistral":
            # The window must cut keys: positions < window are untouched, later ones differ.
            unmasked = forward(config, weights, tokens, sliding_window=None)
            w8 = config["sliding_window"]
            check(torch.equal(unmasked[:, :w8], logits[:, :w8]), "mistral: window changed positions < sliding_window")
            diff = (unmasked[:, w8:] - logits[:, w8:]).abs().amax(dim=-1)
            check(bool((diff > 1e-6).all()), "mistral: window did not change every position >= sliding_window")

        smallest[name] = gaps.min().item()
        for b, step in (gaps < GAP_WARN).nonzero().tolist():
            print(
                f"warning: {name} prompt {b} greedy step {step}: top-2 logit gap {gaps[b, step].item():.3g} < {GAP_WARN}",
                file=sys.stderr,
            )

        if name == "qwen2":
            write_model_dir(os.path.join(out, "qwen2"), config, weights)
            # safetensors' save_model: one copy of a shared tensor, under the kept name,
            # with the dropped name mapped to it in __metadata__.
            saved = collections.OrderedDict(
                ("lm_head.weight" if k == "model.embed_tokens.weight" else k, v) for k, v in weights.items()
            )
            write_model_dir(
                os.path.join(out, "qwen2_save_model"),
                config,
                saved,
                {"format": "pt", "model.embed_tokens.weight": "lm_head.weight"},
            )
            write_sharded(os.path.join(out, "qwen2_sharded"), config, weights)
        else:
            write_model_dir(os.path.join(out, name), config, weights)

        write_safetensors(
            os.path.join(out, "expected", name + ".safetensors"),
            collections.OrderedDict([("tokens", tokens), ("logits", logits), ("greedy", ids)]),
        )

    print("smallest top-2 logit gap: " + ", ".join(f"{n} {g:.3g}" for n, g in smallest.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
