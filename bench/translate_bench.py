"""The eager PyTorch side of translate_bench.sh: fairseq2's "base"
transformer (post-norm, model_dim 512, 6 + 6 layers, 8 heads, ffn 2048, one
embedding shared by the encoder, the decoder and the output projection, vocab
32768) in float32, with incremental decoding (a key/value cache per decoder
self-attention, the encoder's keys and values projected once per layer) and
fairseq2's beam search, one batch of sentences at once.

    python3 translate_bench.py --make DIR [--sentences 32] [--src-len-min 12] [--src-len-max 28] [--seed 0]
        writes DIR/model.pt (fairseq2's state dict layout, random weights),
        DIR/dict.txt (a fairseq dictionary) and DIR/source.txt
    python3 translate_bench.py --run DIR --beam B [--threads 2] [--max-len-a 0] [--max-len-b 32] [--repeat 3]
        translates DIR/source.txt `repeat` times and prints one JSON line:
        {"beam", "sentences", "seconds" (the best run: encode + search, not
        loading), "sentences_per_s", "best": [[ids without the final EOS], ...]}
"""

import argparse
import collections
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

DIM = 512
HEADS = 8
HEAD_DIM = DIM // HEADS
FFN = 2048
LAYERS = 6
VOCAB = 32768
MAX_SEQ_LEN = 1024  # the arch's source and target positions
BOS, PAD, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
# Random weights: projections uniform(-1/sqrt(in), 1/sqrt(in)), except the
# attention and feed-forward output projections, drawn with this gain
# (uniform(-G/sqrt(in), G/sqrt(in))). With gain 1 the residual stream
# outweighs every sublayer and the tied embedding turns the decoder into a
# copy of its input token: the prompt (EOS) is copied and every hypothesis is
# empty. With 3 the hypotheses depend on the source (they still tend to
# repeat their first tokens: a random model).
OUT_GAIN = 3.0
# The EOS row of the embedding is scaled by this (meant to let EOS win now
# and then; on these weights it rarely does, and most hypotheses run to the
# length limit).
EOS_ROW_SCALE = 2.5


# ---------------------------------------------------------------- data


def make(out_dir, sentences, len_min, len_max, seed):
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, fan_in, gain=1.0):
        bound = gain / math.sqrt(fan_in)
        return torch.rand(shape, generator=gen) * (2 * bound) - bound

    def norm_params(prefix, sd):
        sd[prefix + ".weight"] = 1.0 + 0.1 * torch.randn(DIM, generator=gen)
        sd[prefix + ".bias"] = 0.1 * torch.randn(DIM, generator=gen)

    def linear_params(prefix, out_features, in_features, sd, gain=1.0):
        sd[prefix + ".weight"] = uniform((out_features, in_features), in_features, gain)
        sd[prefix + ".bias"] = 0.1 * torch.randn(out_features, generator=gen)

    def attention_params(prefix, sd):
        for name in ("q_proj", "k_proj", "v_proj"):
            linear_params(f"{prefix}.{name}", DIM, DIM, sd)
        linear_params(prefix + ".output_proj", DIM, DIM, sd, OUT_GAIN)

    def ffn_params(prefix, sd):
        linear_params(prefix + ".inner_proj", FFN, DIM, sd)
        linear_params(prefix + ".output_proj", DIM, FFN, sd, OUT_GAIN)

    embed = torch.randn((VOCAB, DIM), generator=gen) * DIM**-0.5
    embed[PAD].zero_()
    embed[EOS] *= EOS_ROW_SCALE

    sd = collections.OrderedDict()
    # One tensor under three names: torch.save keeps them one storage.
    sd["encoder_frontend.embed.weight"] = embed
    for layer in range(LAYERS):
        p = f"encoder.layers.{layer}"
        attention_params(p + ".self_attn", sd)
        norm_params(p + ".self_attn_layer_norm", sd)
        ffn_params(p + ".ffn", sd)
        norm_params(p + ".ffn_layer_norm", sd)
    sd["decoder_frontend.embed.weight"] = embed
    for layer in range(LAYERS):
        p = f"decoder.layers.{layer}"
        attention_params(p + ".self_attn", sd)
        norm_params(p + ".self_attn_layer_norm", sd)
        attention_params(p + ".encoder_decoder_attn", sd)
        norm_params(p + ".encoder_decoder_attn_layer_norm", sd)
        ffn_params(p + ".ffn", sd)
        norm_params(p + ".ffn_layer_norm", sd)
    sd["final_proj.weight"] = embed
    torch.save({"model": sd, "model_key": "model", "fs2": True}, os.path.join(out_dir, "model.pt"))

    with open(os.path.join(out_dir, "dict.txt"), "w", encoding="utf-8", newline="\n") as f:
        for i in range(len(SPECIALS), VOCAB):
            f.write(f"w{i} {100000 - i}\n")

    rng = random.Random(seed)
    with open(os.path.join(out_dir, "source.txt"), "w", encoding="utf-8", newline="\n") as f:
        for _ in range(sentences):
            n = rng.randint(len_min, len_max)
            f.write(" ".join(f"w{rng.randrange(len(SPECIALS), VOCAB)}" for _ in range(n)) + "\n")


def read_symbols(path):
    """The fairseq dictionary's symbols by index, the four specials first."""
    symbols = list(SPECIALS)
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                symbols.append(line.rsplit(" ", 1)[0])
    return symbols


def read_sources(path, symbols):
    index = {s: i for i, s in enumerate(symbols)}
    sources = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ids = [index.get(s, UNK) for s in line.split()]
            sources.append(ids + [EOS])  # as the CLI: the symbols, then </s>
    return sources


# ---------------------------------------------------------------- model


def sinusoidal_table(positions):
    # fairseq2's table: computed in double, stored in float32; position p is
    # row p (the first token sits at row 2, fairseq's legacy offset).
    half = DIM // 2
    steps = torch.arange(positions, dtype=torch.float64)
    freqs = torch.exp(torch.arange(half, dtype=torch.float64) * (-math.log(10000.0) / (half - 1)))
    angles = torch.outer(steps, freqs)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).to(torch.float32)


class Attention:
    def __init__(self, sd, prefix):
        self.q_w, self.q_b = sd[prefix + ".q_proj.weight"], sd[prefix + ".q_proj.bias"]
        self.k_w, self.k_b = sd[prefix + ".k_proj.weight"], sd[prefix + ".k_proj.bias"]
        self.v_w, self.v_b = sd[prefix + ".v_proj.weight"], sd[prefix + ".v_proj.bias"]
        self.o_w, self.o_b = sd[prefix + ".output_proj.weight"], sd[prefix + ".output_proj.bias"]

    @staticmethod
    def heads(x):  # (N, S, DIM) -> (N, H, S, HEAD_DIM)
        return x.view(x.size(0), x.size(1), HEADS, HEAD_DIM).transpose(1, 2)

    def query(self, x):
        return self.heads(F.linear(x, self.q_w, self.q_b))

    def keys_values(self, x):
        return self.heads(F.linear(x, self.k_w, self.k_b)), self.heads(F.linear(x, self.v_w, self.v_b))

    def attend(self, q, k, v, bias):
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(HEAD_DIM)
        if bias is not None:
            scores = scores + bias
        out = torch.matmul(torch.softmax(scores, dim=-1), v)  # (N, H, T, HEAD_DIM)
        out = out.transpose(1, 2).reshape(q.size(0), q.size(2), DIM)
        return F.linear(out, self.o_w, self.o_b)


class Norm:
    def __init__(self, sd, prefix):
        self.w, self.b = sd[prefix + ".weight"], sd[prefix + ".bias"]

    def __call__(self, x):
        return F.layer_norm(x, (DIM,), self.w, self.b, 1e-5)


class FeedForward:
    def __init__(self, sd, prefix):
        self.i_w, self.i_b = sd[prefix + ".inner_proj.weight"], sd[prefix + ".inner_proj.bias"]
        self.o_w, self.o_b = sd[prefix + ".output_proj.weight"], sd[prefix + ".output_proj.bias"]

    def __call__(self, x):
        return F.linear(torch.relu(F.linear(x, self.i_w, self.i_b)), self.o_w, self.o_b)


class Transformer:
    def __init__(self, sd):
        self.embed = sd["encoder_frontend.embed.weight"]
        self.positions = sinusoidal_table(MAX_SEQ_LEN + 2)
        self.scale = math.sqrt(DIM)
        self.enc = []
        for layer in range(LAYERS):
            p = f"encoder.layers.{layer}"
            self.enc.append((Attention(sd, p + ".self_attn"), Norm(sd, p + ".self_attn_layer_norm"),
                             FeedForward(sd, p + ".ffn"), Norm(sd, p + ".ffn_layer_norm")))
        self.dec = []
        for layer in range(LAYERS):
            p = f"decoder.layers.{layer}"
            self.dec.append((Attention(sd, p + ".self_attn"), Norm(sd, p + ".self_attn_layer_norm"),
                             Attention(sd, p + ".encoder_decoder_attn"), Norm(sd, p + ".encoder_decoder_attn_layer_norm"),
                             FeedForward(sd, p + ".ffn"), Norm(sd, p + ".ffn_layer_norm")))

    def frontend(self, ids, start):
        return F.embedding(ids, self.embed) * self.scale + self.positions[start + 2:start + 2 + ids.size(1)]

    def encode(self, ids, bias):
        """ids (N, S), bias (N, 1, 1, S): the encoder-decoder attention's keys
        and values of every decoder layer, each (N, H, S, HEAD_DIM)."""
        x = self.frontend(ids, 0)
        for attn, attn_norm, ffn, ffn_norm in self.enc:
            k, v = attn.keys_values(x)
            x = attn_norm(x + attn.attend(attn.query(x), k, v, bias))
            x = ffn_norm(x + ffn(x))
        return [layer[2].keys_values(x) for layer in self.dec]

    def decode_step(self, tokens, position, caches, memory, bias):
        """One token per row (R, 1) at target position index `position`;
        caches: a [k, v] pair per layer (R, H, t, HEAD_DIM), grown in place
        of the list; memory: the encoder's keys and values per layer."""
        x = self.frontend(tokens, position)
        for layer, (attn, attn_norm, cross, cross_norm, ffn, ffn_norm) in enumerate(self.dec):
            k, v = attn.keys_values(x)
            cache = caches[layer]
            if cache[0] is not None:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            cache[0], cache[1] = k, v
            x = attn_norm(x + attn.attend(attn.query(x), k, v, None))
            mk, mv = memory[layer]
            x = cross_norm(x + cross.attend(cross.query(x), mk, mv, bias))
            x = ffn_norm(x + ffn(x))
        return torch.matmul(x.squeeze(1), self.embed.t())  # (R, VOCAB)


# ---------------------------------------------------------------- search


def translate(model, sources, beam, max_len_a, max_len_b, min_gen_len=1, len_penalty=1.0):
    """fairseq2's beam search (beam 1 is greedy) over all sources at once;
    returns each source's best hypothesis (ids, the final EOS left out)."""
    n = len(sources)
    lens = torch.tensor([len(s) for s in sources])
    longest = int(lens.max())
    ids = torch.full((n, longest), PAD, dtype=torch.long)
    for i, s in enumerate(sources):
        ids[i, :len(s)] = torch.tensor(s)
    bias = torch.zeros(n, 1, 1, longest)
    bias.masked_fill_((torch.arange(longest)[None, :] >= lens[:, None]).view(n, 1, 1, longest), float("-inf"))
    memory = model.encode(ids, bias)

    prompt_len = 1
    min_seq_len = min(MAX_SEQ_LEN, prompt_len + min_gen_len)
    max_seq_len = []
    for s in sources:
        limit = max_len_a * len(s) + max_len_b
        gen_len = MAX_SEQ_LEN if limit >= MAX_SEQ_LEN else max(1, int(limit))
        max_seq_len.append(min(MAX_SEQ_LEN, prompt_len + gen_len))
    last_step = max(max_seq_len)

    finished = [[] for _ in range(n)]  # (score, ids)
    # The active rows: the source of each, its tokens (prompt first) and
    # cumulative score; the rows of one source are adjacent, sources in order.
    row_source = list(range(n))
    row_seq = [[EOS] for _ in range(n)]
    cum = torch.zeros(n)
    caches = [[None, None] for _ in range(LAYERS)]

    for step in range(prompt_len, last_step):
        if not row_source:
            break
        rows = len(row_source)
        tokens = torch.tensor([[seq[-1]] for seq in row_seq])
        logits = model.decode_step(tokens, step - 1, caches, memory, bias)
        lprobs = torch.log_softmax(logits, dim=-1)
        at_last = torch.tensor([step == max_seq_len[s] - 1 for s in row_source])
        if bool(at_last.any()):  # a source's last step: only EOS, whatever its score
            eos = lprobs[:, EOS].clone()
            lprobs.masked_fill_(at_last[:, None], float("-inf"))
            lprobs[:, EOS] = eos
        lprobs[:, PAD].masked_fill_(~at_last, float("-inf"))
        if step < min_seq_len - 1:
            lprobs[:, EOS].masked_fill_(~at_last, float("-inf"))

        # Every active source has the same number of rows (1 at the first
        # step, then `beam`), so the candidates form one (sources, rows * V).
        per = rows // len(set(row_source))
        assert per * len(set(row_source)) == rows, "sources with unequal numbers of rows"
        candidates = (lprobs + cum[:, None]).view(rows // per, per * VOCAB)
        top_scores, top_indices = torch.topk(candidates, min(2 * beam, per * VOCAB), dim=1)
        top_scores, top_indices = top_scores.tolist(), top_indices.tolist()

        order, next_source, next_seq, next_cum = [], [], [], []
        for g in range(rows // per):
            base = g * per
            source = row_source[base]
            kept = []
            complete = False
            for j, (score, index) in enumerate(zip(top_scores[g], top_indices[g])):
                token, parent = index % VOCAB, base + index // VOCAB
                if token == EOS:
                    if j < beam:
                        finished[source].append((score / step**len_penalty, row_seq[parent][prompt_len:]))
                        if len(finished[source]) == beam:
                            complete = True
                            break
                    continue
                if len(kept) < beam:
                    kept.append((parent, token, score))
            if complete or step >= max_seq_len[source] - 1:
                continue
            for parent, token, score in kept:
                order.append(parent)
                next_source.append(source)
                next_seq.append(row_seq[parent] + [token])
                next_cum.append(score)
        if not order:
            break
        select = torch.tensor(order)
        for cache in caches:
            cache[0] = cache[0].index_select(0, select)
            cache[1] = cache[1].index_select(0, select)
        if next_source != row_source:
            # Rows dropped or grew: memory must follow. Reordering within a
            # source leaves it as it is (a source's rows share it).
            memory = [(k.index_select(0, select), v.index_select(0, select)) for k, v in memory]
            bias = bias.index_select(0, select)
        row_source, row_seq = next_source, next_seq
        cum = torch.tensor(next_cum, dtype=torch.float32)

    best = []
    for hyps in finished:
        top = None
        for score, seq in hyps:  # the first of equal scores wins, as a stable sort
            if top is None or score > top[0]:
                top = (score, seq)
        best.append(top[1] if top else [])
    return best


def run(args):
    torch.set_num_threads(args.threads)
    symbols = read_symbols(os.path.join(args.run, "dict.txt"))
    sources = read_sources(os.path.join(args.run, "source.txt"), symbols)
    state = torch.load(os.path.join(args.run, "model.pt"), map_location="cpu")
    model = Transformer(state[state.get("model_key", "model")])
    seconds, best = float("inf"), None
    with torch.inference_mode():
        for _ in range(args.repeat):
            start = time.perf_counter()
            batch = args.batch if args.batch > 0 else len(sources)
            result = []
            for first in range(0, len(sources), batch):
                result += translate(model, sources[first:first + batch], args.beam, args.max_len_a, args.max_len_b)
            elapsed = time.perf_counter() - start
            if elapsed < seconds:
                seconds, best = elapsed, result
    print(json.dumps({"beam": args.beam, "batch": args.batch, "sentences": len(sources), "seconds": seconds,
                      "sentences_per_s": len(sources) / seconds, "best": best}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--make", metavar="DIR")
    mode.add_argument("--run", metavar="DIR")
    parser.add_argument("--sentences", type=int, default=32)
    parser.add_argument("--src-len-min", type=int, default=12)
    parser.add_argument("--src-len-max", type=int, default=28)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-len-a", type=float, default=0.0)
    parser.add_argument("--max-len-b", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=0, help="sentences per batch (default 0: all in one)")
    args = parser.parse_args()
    if args.make:
        if not 1 <= args.src_len_min <= args.src_len_max:
            sys.exit("need 1 <= --src-len-min <= --src-len-max")
        make(args.make, args.sentences, args.src_len_min, args.src_len_max, args.seed)
    else:
        run(args)


if __name__ == "__main__":
    main()
