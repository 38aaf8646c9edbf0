#!/usr/bin/env python3
"""An independent plain-PyTorch encoder-decoder transformer and beam search,
for the C++ transformer (NLLB / "Vaswani" family) and beam-search tests.

Written from the maths of the architecture and of fairseq2's beam search
(see /work/shared/docs/fairseq2-families.md, sections 3 and 4); it imports
nothing of this project. It creates random weights with fairseq2 state-dict
names, saves them as a fairseq2 checkpoint, and saves the logits of its own
forward pass for a padded batch and the hypotheses of its own beam search.
It can also save the same weights as a fairseq (v1) translation checkpoint
with its dictionaries.

Usage:
  transformer_reference.py --config CONFIG.json --seed N --out DIR
      --sources '[[5,6,7,2],[8,9,2]]' --targets '[[2,10,11],[2,12]]' --prompt '[2]'
      [--beam-sizes 1,2,5] [--max-len-a 0] [--max-len-b 10] [--min-gen-len 1]
      [--len-penalty 1.0] [--unk-penalty 0.0] [--no-normalize]
      [--fairseq-out DIR2 --source-lang de --target-lang en] [--hf-out DIR3] [--eos-boost X] [--self-check]

--sources and --targets may hold sequences of unequal lengths; the batches
are right-padded with vocab_info.pad_idx and the padding masks follow the
given lengths (a real token may equal pad_idx). --targets are the decoder
inputs of the logits check. --prompt is the decoder prefix of beam search
(e.g. [eos] or [eos, lang]).

--eos-boost X adds X * (1/g) / sum(b/g) to final_proj.weight's EOS row (g, b
the weight and bias of the decoder's last layer norm), which raises EOS's
logit by X at every position, so that hypotheses finish at different steps;
with tied_final_proj the EOS embedding row changes too. The saved weights
(and the logits) are the boosted ones. --self-check prints
a summary and checks beam size 1 against greedy decoding.

CONFIG.json fields: model_dim, max_seq_len, vocab_info {size, unk_idx,
bos_idx, eos_idx, pad_idx} (unk/bos/pad may be null), source_vocab_size
(null: vocab_info.size), num_encoder_layers, num_decoder_layers,
num_encoder_attn_heads, num_decoder_attn_heads, ffn_inner_dim, norm_order
("pre" or "post"), dropout_p (ignored: inference), shared_embeddings (one
embedding tensor for encoder and decoder; needs source_vocab_size null),
tied_final_proj (final_proj.weight is the decoder embedding tensor).

Model (float32 weights, computed in float64):
  frontend  x = embed(ids) * sqrt(dim) + sinusoidal(s + 2), s the 0-based index
            (pads included); sinusoidal(p) = [sin(p f), cos(p f)],
            f_i = exp(-i ln(10000) / (dim/2 - 1)), i < dim/2
  attention multi-head with biases, scores / sqrt(head_dim), padded keys -inf;
            decoder self-attention also causal; cross-attention keys/values
            from the encoder output under the source padding mask
  ffn       output_proj(relu(inner_proj(x))), with biases
  norms     LayerNorm eps 1e-5 with bias; post: x = LN(x + f(x)); pre:
            x = x + f(LN(x)) and a final encoder/decoder.layer_norm
  decoder   self-attention, encoder-decoder attention, ffn per layer
  logits    decoder output @ final_proj.weight.T

Beam search (fairseq2's, each source sentence alone, for each beam size B):
  max_seq_len = min(cfg max_seq_len, P + int(a * src_len + b)), min_seq_len =
  min(cfg max_seq_len, P + min_gen_len), P = len(prompt); the prompt's
  log-probs are summed into the cumulative scores; each step: log_softmax,
  last step only EOS, else unk -= penalty, pad = -inf, EOS = -inf while
  step < min_seq_len - 1; add the cumulative score, top min(2B, n*V) of the
  flattened candidates; EOS among the first B finish (done at B finished),
  the first B non-EOS go on. Output omits the prompt, keeps EOS; step scores
  are deltas (the first is cumulative, prompt included); score = cumulative /
  step**len_penalty (unless --no-normalize); best first (stable sort).

Writes to DIR:
  model.pt    torch.save({"model": OrderedDict state dict, "model_key": "model", "fs2": True})
  logits.pt   torch.save({"logits": float32 tensor (N, T, vocab)})
  beam.json   {"beam_sizes": [...], "results": {"B": [[{"ids", "score", "step_scores"}, ...], ...]}}
  info.json   {"logits_shape": [...], "logits_std": float}

With --fairseq-out DIR2 (vocab_info must be bos 0, pad 1, eos 2, unk 3, as
fairseq's Dictionary):
  DIR2/checkpoint.pt             fairseq v1 checkpoint (args Namespace, model,
                                 optimizer_history, last_optimizer_state, extra_state)
  DIR2/data-bin/dict.SRC.txt     "symbol count" lines for ids 4.. (s{i}, or w{i} when shared)
  DIR2/data-bin/dict.TGT.txt     likewise (t{i}, or w{i} when shared)
  DIR2/translation.json          beam.json's results plus "tokens": symbols joined by
                                 spaces, EOS as "</s>"

Needs torch (run with /usr/bin/python3, Debian's torch 1.13).
"""

import argparse
import collections
import json
import math
import os
import sys

import torch

LAYER_NORM_EPS = 1e-5
COMPUTE_DTYPE = torch.float64
LEGACY_POSITION_OFFSET = 2  # fairseq's make_positions: pad_idx 1, first step pad_idx + 1
NEG_INF = float("-inf")


# ---------------------------------------------------------------- config


def source_vocab_size(cfg):
    size = cfg.get("source_vocab_size")
    return cfg["vocab_info"]["size"] if size is None else size


def check_config(cfg):
    dim = cfg["model_dim"]
    for key in ("num_encoder_attn_heads", "num_decoder_attn_heads"):
        if dim % cfg[key] != 0:
            sys.exit(f"invalid config: model_dim {dim} is not a multiple of {key} {cfg[key]}")
    if dim % 2 != 0 or dim < 4:
        sys.exit(f"invalid config: model_dim {dim} must be even and at least 4 (sinusoidal encoding)")
    if cfg["norm_order"] not in ("pre", "post"):
        sys.exit(f"invalid config: norm_order {cfg['norm_order']!r}")
    if cfg.get("shared_embeddings", False) and source_vocab_size(cfg) != cfg["vocab_info"]["size"]:
        sys.exit("invalid config: shared_embeddings needs source_vocab_size null")
    if cfg["vocab_info"].get("eos_idx") is None:
        sys.exit("invalid config: vocab_info.eos_idx is needed")


# ---------------------------------------------------------------- weights


def make_state_dict(cfg, seed, eos_boost=0.0):
    """Random float32 weights under fairseq2's names, in module order."""
    gen = torch.Generator().manual_seed(seed)
    dim = cfg["model_dim"]
    inner = cfg["ffn_inner_dim"]
    vocab = cfg["vocab_info"]["size"]
    pad = cfg["vocab_info"].get("pad_idx")
    pre = cfg["norm_order"] == "pre"

    def uniform(shape, bound):
        return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2.0 - 1.0) * bound

    def embedding(rows):
        e = torch.randn(rows, dim, generator=gen, dtype=torch.float32) * dim**-0.5
        if pad is not None and 0 <= pad < rows:
            e[pad].zero_()
        return e

    sd = collections.OrderedDict()

    def linear(name, out_dim, in_dim, bias=True):
        # Unit gain (variance 1 / in_dim), so that in pre-norm stacks the
        # sublayers outweigh the embedding and the next token is not a copy.
        bound = math.sqrt(3.0 / in_dim)
        sd[name + ".weight"] = uniform((out_dim, in_dim), bound)
        if bias:
            sd[name + ".bias"] = 0.1 * torch.randn(out_dim, generator=gen, dtype=torch.float32)

    def layer_norm(name):
        # Not ones and zeros, so a norm that is ignored or misplaced shows.
        sd[name + ".weight"] = 1.0 + 0.1 * torch.randn(dim, generator=gen, dtype=torch.float32)
        sd[name + ".bias"] = 0.1 * torch.randn(dim, generator=gen, dtype=torch.float32)

    def attention(name):
        for proj in ("q_proj", "k_proj", "v_proj", "output_proj"):
            linear(f"{name}.{proj}", dim, dim)

    def ffn(name):
        linear(name + ".inner_proj", inner, dim)
        linear(name + ".output_proj", dim, inner)

    shared = cfg.get("shared_embeddings", False)
    decoder_embed = embedding(vocab)
    encoder_embed = decoder_embed if shared else embedding(source_vocab_size(cfg))

    sd["encoder_frontend.embed.weight"] = encoder_embed
    for n in range(cfg["num_encoder_layers"]):
        p = f"encoder.layers.{n}."
        attention(p + "self_attn")
        layer_norm(p + "self_attn_layer_norm")
        ffn(p + "ffn")
        layer_norm(p + "ffn_layer_norm")
    if pre:
        layer_norm("encoder.layer_norm")

    sd["decoder_frontend.embed.weight"] = decoder_embed
    for n in range(cfg["num_decoder_layers"]):
        p = f"decoder.layers.{n}."
        attention(p + "self_attn")
        layer_norm(p + "self_attn_layer_norm")
        attention(p + "encoder_decoder_attn")
        layer_norm(p + "encoder_decoder_attn_layer_norm")
        ffn(p + "ffn")
        layer_norm(p + "ffn_layer_norm")
    if pre:
        layer_norm("decoder.layer_norm")

    if cfg.get("tied_final_proj", False):
        # As PyTorch writes tied modules: the same tensor under both names.
        sd["final_proj.weight"] = decoder_embed
    else:
        linear("final_proj", vocab, dim, bias=False)

    if eos_boost:
        # The decoder output is h = g * z + b (the last layer norm: z has zero
        # mean over the features), so h . (1 / g) = sum(b / g) at every position:
        # adding boost * (1 / g) / sum(b / g) to EOS's row of final_proj raises
        # EOS's logit by `boost` everywhere, like a bias. In place, so tied
        # tensors stay tied (and EOS's embedding changes with it).
        last = "decoder.layer_norm" if pre else f"decoder.layers.{cfg['num_decoder_layers'] - 1}.ffn_layer_norm"
        g, b = sd[last + ".weight"].double(), sd[last + ".bias"].double()
        shift = eos_boost * (1.0 / g) / (b / g).sum()
        sd["final_proj.weight"][cfg["vocab_info"]["eos_idx"]] += shift.float()
    return sd


# ---------------------------------------------------------------- model


def sinusoidal(positions, dim):
    """positions: (S,) float64 -> (S, dim): first half sin(p f), second half cos(p f)."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64)
    freqs = torch.exp(-i * math.log(10000.0) / (half - 1))
    angles = positions.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def frontend(ids, embed, dim):
    """ids (N, S) -> (N, S, dim); positions s + 2 for every index s, pads included."""
    positions = torch.arange(ids.shape[1], dtype=torch.float64) + LEGACY_POSITION_OFFSET
    return embed[ids] * math.sqrt(dim) + sinusoidal(positions, dim)[None]


def layer_norm(x, w, name):
    return torch.nn.functional.layer_norm(
        x, (x.shape[-1],), w[name + ".weight"], w[name + ".bias"], LAYER_NORM_EPS
    )


def linear(x, w, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def attention(queries, keys, key_mask, w, name, heads, causal):
    """queries (N, Sq, dim), keys (N, Sk, dim), key_mask (N, Sk) bool, True = real token."""
    n, sq, dim = queries.shape
    sk = keys.shape[1]
    head_dim = dim // heads
    q = linear(queries, w, name + ".q_proj").view(n, sq, heads, head_dim).transpose(1, 2)
    k = linear(keys, w, name + ".k_proj").view(n, sk, heads, head_dim).transpose(1, 2)
    v = linear(keys, w, name + ".v_proj").view(n, sk, heads, head_dim).transpose(1, 2)

    scores = (q @ k.transpose(-1, -2)) / math.sqrt(head_dim)  # (N, H, Sq, Sk)
    allowed = key_mask[:, None, None, :].expand(n, 1, sq, sk)
    if causal:
        allowed = allowed & torch.tril(torch.ones(sq, sk, dtype=torch.bool))[None, None]
    scores = scores.masked_fill(~allowed, NEG_INF)
    out = torch.softmax(scores, dim=-1) @ v  # (N, H, Sq, d)
    out = out.transpose(1, 2).reshape(n, sq, dim)
    return linear(out, w, name + ".output_proj")


def ffn(x, w, name):
    return linear(torch.relu(linear(x, w, name + ".inner_proj")), w, name + ".output_proj")


def sublayer(x, pre, norm_name, w, fn):
    if pre:
        return x + fn(layer_norm(x, w, norm_name))
    return layer_norm(x + fn(x), w, norm_name)


def encode(cfg, w, src, src_mask):
    """src (N, S) ids, src_mask (N, S) bool -> encoder output (N, S, dim)."""
    pre = cfg["norm_order"] == "pre"
    heads = cfg["num_encoder_attn_heads"]
    h = frontend(src, w["encoder_frontend.embed.weight"], cfg["model_dim"])
    for n in range(cfg["num_encoder_layers"]):
        p = f"encoder.layers.{n}."
        h = sublayer(h, pre, p + "self_attn_layer_norm", w,
                     lambda x: attention(x, x, src_mask, w, p + "self_attn", heads, causal=False))
        h = sublayer(h, pre, p + "ffn_layer_norm", w, lambda x: ffn(x, w, p + "ffn"))
    if pre:
        h = layer_norm(h, w, "encoder.layer_norm")
    return h


def decode(cfg, w, tgt, tgt_mask, enc, src_mask):
    """tgt (N, T) ids, tgt_mask (N, T), enc (N, S, dim), src_mask (N, S) -> logits (N, T, vocab)."""
    pre = cfg["norm_order"] == "pre"
    heads = cfg["num_decoder_attn_heads"]
    h = frontend(tgt, w["decoder_frontend.embed.weight"], cfg["model_dim"])
    for n in range(cfg["num_decoder_layers"]):
        p = f"decoder.layers.{n}."
        h = sublayer(h, pre, p + "self_attn_layer_norm", w,
                     lambda x: attention(x, x, tgt_mask, w, p + "self_attn", heads, causal=True))
        h = sublayer(h, pre, p + "encoder_decoder_attn_layer_norm", w,
                     lambda x: attention(x, enc, src_mask, w, p + "encoder_decoder_attn", heads, causal=False))
        h = sublayer(h, pre, p + "ffn_layer_norm", w, lambda x: ffn(x, w, p + "ffn"))
    if pre:
        h = layer_norm(h, w, "decoder.layer_norm")
    return h @ w["final_proj.weight"].T


def pad_batch(seqs, pad_value):
    """List of id lists -> (ids (N, S) int64, mask (N, S) bool), right-padded."""
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_value, dtype=torch.int64)
    mask = torch.zeros(len(seqs), length, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
        mask[i, : len(s)] = True
    return ids, mask


# ---------------------------------------------------------------- beam search


def beam_search(cfg, w, source, prompt, beam_size, opts):
    """fairseq2's beam search for one source sentence; returns hypotheses, best first."""
    vi = cfg["vocab_info"]
    eos, unk, pad = vi["eos_idx"], vi.get("unk_idx"), vi.get("pad_idx")
    vocab = vi["size"]

    src = torch.tensor([source], dtype=torch.int64)
    src_mask = torch.ones_like(src, dtype=torch.bool)
    enc = encode(cfg, w, src, src_mask)

    def last_lprobs(seqs):
        ids = torch.tensor(seqs, dtype=torch.int64)
        n = ids.shape[0]
        logits = decode(cfg, w, ids, torch.ones_like(ids, dtype=torch.bool),
                        enc.expand(n, -1, -1), src_mask.expand(n, -1))
        return torch.log_softmax(logits[:, -1, :], dim=-1)  # (n, V)

    plen = len(prompt)
    max_gen_len = int(opts.max_len_a * len(source) + opts.max_len_b)
    max_seq_len = min(cfg["max_seq_len"], plen + max_gen_len)
    min_seq_len = min(cfg["max_seq_len"], plen + opts.min_gen_len)

    # The prompt: one hypothesis, forced tokens, their log-probs summed.
    seqs = [list(prompt)]
    scores = [[0.0]]
    for j in range(1, plen):
        lp = torch.log_softmax(
            decode(cfg, w, torch.tensor([prompt[:j]]), torch.ones(1, j, dtype=torch.bool), enc, src_mask)[:, -1, :],
            dim=-1,
        )
        scores[0].append(scores[0][-1] + lp[0, prompt[j]].item())

    finished = []

    def finish(seq, cum, step_nr):
        window = cum[plen : step_nr + 1]
        deltas = [window[0]] + [window[k] - window[k - 1] for k in range(1, len(window))]
        total = cum[step_nr]
        if opts.normalize:
            total = total / (step_nr**opts.len_penalty)
        finished.append({"ids": seq[plen : step_nr + 1], "score": float(total),
                         "step_scores": [float(d) for d in deltas]})

    for step_nr in range(plen, max_seq_len):
        lprobs = last_lprobs(seqs).clone()
        if step_nr == max_seq_len - 1:
            keep = lprobs[:, eos].clone()
            lprobs.fill_(NEG_INF)
            lprobs[:, eos] = keep
        else:
            if unk is not None:
                lprobs[:, unk] -= opts.unk_penalty
            if pad is not None:
                lprobs[:, pad] = NEG_INF
            if step_nr < min_seq_len - 1:
                lprobs[:, eos] = NEG_INF

        n = len(seqs)
        prev = torch.tensor([[s[step_nr - 1]] for s in scores], dtype=COMPUTE_DTYPE)  # (n, 1)
        cand = (lprobs + prev).reshape(-1)
        k = min(2 * beam_size, n * vocab)
        values, indices = torch.topk(cand, k, largest=True, sorted=True)
        hyps = (indices // vocab).tolist()
        tokens = (indices % vocab).tolist()
        values = values.tolist()

        done = False
        for c in range(min(beam_size, k)):
            if tokens[c] == eos:
                h = hyps[c]
                finish(seqs[h] + [eos], scores[h] + [values[c]], step_nr)
                if len(finished) >= beam_size:
                    done = True
                    break
        if done:
            break

        next_seqs, next_scores = [], []
        for c in range(k):
            if tokens[c] == eos:
                continue
            h = hyps[c]
            next_seqs.append(seqs[h] + [tokens[c]])
            next_scores.append(scores[h] + [values[c]])
            if len(next_seqs) == beam_size:
                break
        seqs, scores = next_seqs, next_scores
        if not seqs:
            break

    return sorted(finished, key=lambda hyp: -hyp["score"])


def greedy(cfg, w, source, prompt, opts):
    """Argmax decoding with the same masks; for the self-check of beam size 1."""
    vi = cfg["vocab_info"]
    eos, unk, pad = vi["eos_idx"], vi.get("unk_idx"), vi.get("pad_idx")
    src = torch.tensor([source])
    src_mask = torch.ones_like(src, dtype=torch.bool)
    enc = encode(cfg, w, src, src_mask)
    plen = len(prompt)
    max_seq_len = min(cfg["max_seq_len"], plen + int(opts.max_len_a * len(source) + opts.max_len_b))
    min_seq_len = min(cfg["max_seq_len"], plen + opts.min_gen_len)
    seq = list(prompt)
    for step_nr in range(plen, max_seq_len):
        ids = torch.tensor([seq])
        lp = torch.log_softmax(decode(cfg, w, ids, torch.ones_like(ids, dtype=torch.bool), enc, src_mask)[0, -1], -1)
        if step_nr == max_seq_len - 1:
            tok = eos
        else:
            if unk is not None:
                lp[unk] -= opts.unk_penalty
            if pad is not None:
                lp[pad] = NEG_INF
            if step_nr < min_seq_len - 1:
                lp[eos] = NEG_INF
            tok = int(lp.argmax())
        seq.append(tok)
        if tok == eos:
            break
    return seq[plen:]


# ---------------------------------------------------------------- fairseq (v1)


def fairseq_symbol(i, kind):
    specials = {0: "<s>", 1: "<pad>", 2: "</s>", 3: "<unk>"}
    return specials.get(i, f"{kind}{i}")


def write_hf(cfg, sd, out):
    """The weights as transformers' M2M100ForConditionalGeneration saves NLLB:
    config.json and pytorch_model.bin, keys under model., one shared
    embedding, and rows 0-3 in fairseq's order <s> <pad> </s> <unk> (HF's
    NLLB tokenizer), where fairseq2 has <pad> <unk> <s> </s>."""
    vi = cfg["vocab_info"]
    if (vi.get("pad_idx"), vi.get("unk_idx"), vi.get("bos_idx"), vi.get("eos_idx")) != (0, 1, 2, 3):
        sys.exit("--hf-out needs NLLB's vocab_info: pad 0, unk 1, bos 2, eos 3")
    if cfg["norm_order"] != "pre" or not cfg.get("shared_embeddings") or not cfg.get("tied_final_proj"):
        sys.exit("--hf-out needs a pre-norm model with one shared, tied embedding (M2M100's)")
    os.makedirs(out, exist_ok=True)
    embed = sd["decoder_frontend.embed.weight"]
    hf_rows = torch.cat([embed[[2, 0, 3, 1]], embed[4:]])  # HF row r = fairseq2 row [2, 0, 3, 1][r]
    model = collections.OrderedDict()
    model["model.shared.weight"] = hf_rows
    model["model.encoder.embed_tokens.weight"] = hf_rows
    model["model.decoder.embed_tokens.weight"] = hf_rows
    for side, layers in (("encoder", cfg["num_encoder_layers"]), ("decoder", cfg["num_decoder_layers"])):
        for n in range(layers):
            a, b = f"model.{side}.layers.{n}.", f"{side}.layers.{n}."
            attns = [("self_attn", "self_attn")]
            if side == "decoder":
                attns.append(("encoder_attn", "encoder_decoder_attn"))
            for hf_attn, fs2_attn in attns:
                for proj, fs2_proj in (("q_proj", "q_proj"), ("k_proj", "k_proj"), ("v_proj", "v_proj"), ("out_proj", "output_proj")):
                    for part in ("weight", "bias"):
                        model[f"{a}{hf_attn}.{proj}.{part}"] = sd[f"{b}{fs2_attn}.{fs2_proj}.{part}"]
                for part in ("weight", "bias"):
                    model[f"{a}{hf_attn}_layer_norm.{part}"] = sd[f"{b}{fs2_attn}_layer_norm.{part}"]
            for part in ("weight", "bias"):
                model[f"{a}fc1.{part}"] = sd[f"{b}ffn.inner_proj.{part}"]
                model[f"{a}fc2.{part}"] = sd[f"{b}ffn.output_proj.{part}"]
                model[f"{a}final_layer_norm.{part}"] = sd[f"{b}ffn_layer_norm.{part}"]
        for part in ("weight", "bias"):
            model[f"model.{side}.layer_norm.{part}"] = sd[f"{side}.layer_norm.{part}"]
    model["lm_head.weight"] = hf_rows
    torch.save(model, os.path.join(out, "pytorch_model.bin"))
    config = {
        "architectures": ["M2M100ForConditionalGeneration"],
        "model_type": "m2m_100",
        "d_model": cfg["model_dim"],
        "encoder_layers": cfg["num_encoder_layers"],
        "decoder_layers": cfg["num_decoder_layers"],
        "encoder_attention_heads": cfg["num_encoder_attn_heads"],
        "decoder_attention_heads": cfg["num_decoder_attn_heads"],
        "encoder_ffn_dim": cfg["ffn_inner_dim"],
        "decoder_ffn_dim": cfg["ffn_inner_dim"],
        "vocab_size": vi["size"],
        "max_position_embeddings": cfg["max_seq_len"],
        "scale_embedding": True,
        "activation_function": "relu",
        "dropout": cfg.get("dropout_p", 0.1),
        "attention_dropout": 0.1,
        "activation_dropout": 0.0,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "decoder_start_token_id": 2,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


def write_fairseq(cfg, sd, args, results):
    vi = cfg["vocab_info"]
    if (vi.get("bos_idx"), vi.get("pad_idx"), vi.get("eos_idx"), vi.get("unk_idx")) != (0, 1, 2, 3):
        sys.exit("--fairseq-out needs vocab_info bos 0, pad 1, eos 2, unk 3 (fairseq's Dictionary)")
    if not args.source_lang or not args.target_lang:
        sys.exit("--fairseq-out needs --source-lang and --target-lang")
    pre = cfg["norm_order"] == "pre"
    shared = cfg.get("shared_embeddings", False)
    tied = cfg.get("tied_final_proj", False)
    out = args.fairseq_out
    data = os.path.join(out, "data-bin")
    os.makedirs(data, exist_ok=True)

    model = collections.OrderedDict()

    def copy(fs1, fs2):
        model[fs1] = sd[fs2]

    def both(fs1, fs2):
        copy(fs1 + ".weight", fs2 + ".weight")
        copy(fs1 + ".bias", fs2 + ".bias")

    def attn(fs1, fs2):
        for proj in ("k_proj", "v_proj", "q_proj"):
            both(f"{fs1}.{proj}", f"{fs2}.{proj}")
        both(fs1 + ".out_proj", fs2 + ".output_proj")

    # fairseq's state-dict order: own buffers, then children in registration order.
    model["encoder.version"] = torch.tensor([3.0])
    copy("encoder.embed_tokens.weight", "encoder_frontend.embed.weight")
    model["encoder.embed_positions._float_tensor"] = torch.FloatTensor(1).zero_()
    for n in range(cfg["num_encoder_layers"]):
        a, b = f"encoder.layers.{n}.", f"encoder.layers.{n}."
        attn(a + "self_attn", b + "self_attn")
        both(a + "self_attn_layer_norm", b + "self_attn_layer_norm")
        both(a + "fc1", b + "ffn.inner_proj")
        both(a + "fc2", b + "ffn.output_proj")
        both(a + "final_layer_norm", b + "ffn_layer_norm")
    if pre:
        both("encoder.layer_norm", "encoder.layer_norm")
    model["decoder.version"] = torch.tensor([3.0])
    copy("decoder.embed_tokens.weight", "decoder_frontend.embed.weight")
    model["decoder.embed_positions._float_tensor"] = torch.FloatTensor(1).zero_()
    for n in range(cfg["num_decoder_layers"]):
        a, b = f"decoder.layers.{n}.", f"decoder.layers.{n}."
        attn(a + "self_attn", b + "self_attn")
        both(a + "self_attn_layer_norm", b + "self_attn_layer_norm")
        attn(a + "encoder_attn", b + "encoder_decoder_attn")
        both(a + "encoder_attn_layer_norm", b + "encoder_decoder_attn_layer_norm")
        both(a + "fc1", b + "ffn.inner_proj")
        both(a + "fc2", b + "ffn.output_proj")
        both(a + "final_layer_norm", b + "ffn_layer_norm")
    if pre:
        both("decoder.layer_norm", "decoder.layer_norm")
    copy("decoder.output_projection.weight", "final_proj.weight")

    # Parameters as model.parameters() lists them: shared tensors once, no buffers.
    junk = {"encoder.version", "decoder.version",
            "encoder.embed_positions._float_tensor", "decoder.embed_positions._float_tensor"}
    params, seen = [], set()
    for key, t in model.items():
        if key not in junk and id(t) not in seen:
            seen.add(id(t))
            params.append(t)
    optimizer_state = {
        "state": {i: {"step": 1000, "exp_avg": 0.01 * p.clone(), "exp_avg_sq": 1e-4 * p * p}
                  for i, p in enumerate(params)},
        "param_groups": [{"lr": 0.0005, "betas": (0.9, 0.98), "eps": 1e-8, "weight_decay": 0.0,
                          "params": list(range(len(params)))}],
    }

    dim, ffn_dim = cfg["model_dim"], cfg["ffn_inner_dim"]
    namespace = argparse.Namespace(
        arch="transformer", task="translation",
        source_lang=args.source_lang, target_lang=args.target_lang, data=str(data),
        encoder_embed_dim=dim, decoder_embed_dim=dim,
        encoder_ffn_embed_dim=ffn_dim, decoder_ffn_embed_dim=ffn_dim,
        encoder_layers=cfg["num_encoder_layers"], decoder_layers=cfg["num_decoder_layers"],
        encoder_attention_heads=cfg["num_encoder_attn_heads"],
        decoder_attention_heads=cfg["num_decoder_attn_heads"],
        encoder_normalize_before=pre, decoder_normalize_before=pre,
        dropout=cfg.get("dropout_p", 0.1), attention_dropout=0.0, activation_fn="relu",
        share_all_embeddings=bool(shared and tied), share_decoder_input_output_embed=bool(tied),
        max_source_positions=cfg["max_seq_len"], max_target_positions=cfg["max_seq_len"],
        no_scale_embedding=False, layernorm_embedding=False,
        encoder_learned_pos=False, decoder_learned_pos=False, no_token_positional_embeddings=False,
        lr=[0.0005], optimizer="adam",
    )
    checkpoint = {
        "args": namespace,
        "model": model,
        "optimizer_history": [{"criterion_name": "LabelSmoothedCrossEntropyCriterion",
                               "optimizer_name": "Adam", "lr_scheduler_state": {"best": 3.2},
                               "num_updates": 1000}],
        "last_optimizer_state": optimizer_state,
        "extra_state": {"epoch": 3, "val_loss": 3.1},
    }
    torch.save(checkpoint, os.path.join(out, "checkpoint.pt"))

    # Dictionaries as fairseq-preprocess writes them: ids 0-3 are implicit.
    src_kind, tgt_kind = ("w", "w") if shared else ("s", "t")
    for lang, size, kind in ((args.source_lang, source_vocab_size(cfg), src_kind),
                             (args.target_lang, vi["size"], tgt_kind)):
        if size % 8 != 0:
            print(f"warning: vocab size {size} is not a multiple of 8; writing every id anyway", file=sys.stderr)
        with open(os.path.join(data, f"dict.{lang}.txt"), "w", encoding="utf-8") as f:
            for i in range(4, size):
                f.write(f"{fairseq_symbol(i, kind)} {max(1000 - i, 1)}\n")

    translation = {"beam_sizes": sorted(int(b) for b in results), "results": {}}
    for beam, per_source in results.items():
        translation["results"][beam] = [
            [dict(hyp, tokens=" ".join(fairseq_symbol(i, tgt_kind) for i in hyp["ids"])) for hyp in hyps]
            for hyps in per_source
        ]
    with open(os.path.join(out, "translation.json"), "w", encoding="utf-8") as f:
        json.dump(translation, f, indent=1)


# ---------------------------------------------------------------- main


def parse_ids(text, name, limit):
    value = json.loads(text)
    if not isinstance(value, list) or not value:
        sys.exit(f"{name} must be a non-empty JSON list")
    flat = value if name == "--prompt" else [i for s in value for i in s]
    if name != "--prompt" and any(not isinstance(s, list) or not s for s in value):
        sys.exit(f"{name} must be a list of non-empty lists")
    if any(not isinstance(i, int) or i < 0 or i >= limit for i in flat):
        sys.exit(f"{name}: ids must be in [0, {limit})")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="transformer config: a JSON file, or the JSON itself")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--sources", required=True, help="JSON list of source id lists")
    parser.add_argument("--targets", required=True, help="JSON list of decoder input id lists")
    parser.add_argument("--prompt", required=True, help="JSON list: decoder prefix of beam search")
    parser.add_argument("--beam-sizes", default="1,2,5")
    parser.add_argument("--max-len-a", type=float, default=0.0)
    parser.add_argument("--max-len-b", type=float, default=10.0)
    parser.add_argument("--min-gen-len", type=int, default=1)
    parser.add_argument("--len-penalty", type=float, default=1.0)
    parser.add_argument("--unk-penalty", type=float, default=0.0)
    parser.add_argument("--no-normalize", dest="normalize", action="store_false")
    parser.add_argument("--fairseq-out", help="also write a fairseq (v1) checkpoint and dictionaries here (relative: inside --out)")
    parser.add_argument("--hf-out", help="also write the weights as a Hugging Face M2M100 (NLLB) directory here (relative: inside --out)")
    parser.add_argument("--source-lang")
    parser.add_argument("--target-lang")
    parser.add_argument("--eos-boost", type=float, default=0.0,
                        help="raise EOS's logit by about this much (changes final_proj's EOS row), so beams end early")
    parser.add_argument("--self-check", action="store_true",
                        help="also check beam size 1 against greedy decoding and print a summary")
    args = parser.parse_args()

    if args.config.lstrip().startswith("{"):
        cfg = json.loads(args.config)
    else:
        with open(args.config, encoding="utf-8") as f:
            cfg = json.load(f)
    if args.fairseq_out and not os.path.isabs(args.fairseq_out):
        args.fairseq_out = os.path.join(args.out, args.fairseq_out)
    if args.hf_out and not os.path.isabs(args.hf_out):
        args.hf_out = os.path.join(args.out, args.hf_out)
    check_config(cfg)
    vi = cfg["vocab_info"]
    vocab = vi["size"]
    pad = vi.get("pad_idx")
    pad_value = 0 if pad is None else pad

    sources = parse_ids(args.sources, "--sources", source_vocab_size(cfg))
    targets = parse_ids(args.targets, "--targets", vocab)
    prompt = parse_ids(args.prompt, "--prompt", vocab)
    if len(sources) != len(targets):
        sys.exit("--sources and --targets must hold as many sequences")
    if max(len(s) for s in sources + targets) > cfg["max_seq_len"]:
        sys.exit("the sequences are longer than max_seq_len")
    beam_sizes = [int(b) for b in args.beam_sizes.split(",") if b.strip()]
    if not beam_sizes or min(beam_sizes) < 1:
        sys.exit("--beam-sizes must be positive integers")

    sd = make_state_dict(cfg, args.seed, args.eos_boost)
    w = {}
    for k, v in sd.items():  # cast once per tensor, so shared tensors stay shared
        w[k] = v.to(COMPUTE_DTYPE)

    with torch.no_grad():
        src, src_mask = pad_batch(sources, pad_value)
        tgt, tgt_mask = pad_batch(targets, pad_value)
        enc = encode(cfg, w, src, src_mask)
        logits64 = decode(cfg, w, tgt, tgt_mask, enc, src_mask)
        logits = logits64.to(torch.float32).contiguous()

        results = {}
        for beam in beam_sizes:
            results[str(beam)] = [beam_search(cfg, w, s, prompt, beam, args) for s in sources]

        if args.self_check:
            real = logits64[tgt_mask]
            print(f"logits {list(logits.shape)} finite {bool(torch.isfinite(logits).all())} "
                  f"std(real) {real.std().item():.4f}")
            for i, s in enumerate(sources):
                g = greedy(cfg, w, s, prompt, args)
                line = [f"source {i}: greedy {g}"]
                for beam in beam_sizes:
                    hyps = results[str(beam)][i]
                    best = hyps[0] if hyps else None
                    line.append(f"beam {beam}: {len(hyps)} hyps, best {best['ids'] if best else None} "
                                f"{best['score']:.4f}" if best else f"beam {beam}: none")
                    if best:
                        cum = sum(best["step_scores"])
                        want = best["score"] * (len(prompt) + len(best["ids"]) - 1) ** args.len_penalty \
                            if args.normalize else best["score"]
                        assert abs(cum - want) < 1e-9, (cum, want)
                if "1" in results:
                    assert results["1"][i] and results["1"][i][0]["ids"] == g, "beam 1 differs from greedy"
                print("; ".join(line))

    os.makedirs(args.out, exist_ok=True)
    torch.save({"model": collections.OrderedDict(sd), "model_key": "model", "fs2": True},
               os.path.join(args.out, "model.pt"))
    torch.save({"logits": logits}, os.path.join(args.out, "logits.pt"))
    with open(os.path.join(args.out, "beam.json"), "w", encoding="utf-8") as f:
        json.dump({"beam_sizes": beam_sizes, "results": results}, f, indent=1)
    info = {"logits_shape": list(logits.shape), "logits_std": float(logits64.std().item())}
    with open(os.path.join(args.out, "info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)

    if args.fairseq_out:
        write_fairseq(cfg, sd, args, results)
    if args.hf_out:
        write_hf(cfg, sd, args.hf_out)


if __name__ == "__main__":
    main()
