# A fairseq2-layout checkpoint of the tiny llama2_7b-bodied config whose
# greedy output is always the next id: every layer adds nothing (zero output
# projections), and final_proj row j is embedding row j - 1 (unit vectors, so
# the logits of id i peak at i + 1). Used by the CLI and install tests.
#
#   python3 make_successor_checkpoint.py OUT.pt
import collections, sys, torch
V, D, L, H, KV, F = 256, 64, 2, 4, 2, 256
hd = D // H
g = torch.Generator().manual_seed(0)
embed = torch.randn(V, D, generator=g)
embed = embed / embed.norm(dim=1, keepdim=True)
proj = torch.roll(embed, shifts=1, dims=0)
assert torch.equal((embed @ proj.T).argmax(dim=1), (torch.arange(V) + 1) % V)
sd = collections.OrderedDict()
sd["decoder_frontend.embed.weight"] = embed
for i in range(L):
    p = "decoder.layers.%d." % i
    sd[p + "self_attn_layer_norm.weight"] = torch.ones(D)
    sd[p + "self_attn.q_proj.weight"] = torch.randn(D, D, generator=g) * 0.1
    sd[p + "self_attn.k_proj.weight"] = torch.randn(KV * hd, D, generator=g) * 0.1
    sd[p + "self_attn.v_proj.weight"] = torch.randn(KV * hd, D, generator=g) * 0.1
    sd[p + "self_attn.output_proj.weight"] = torch.zeros(D, D)
    sd[p + "ffn_layer_norm.weight"] = torch.ones(D)
    sd[p + "ffn.gate_proj.weight"] = torch.randn(F, D, generator=g) * 0.1
    sd[p + "ffn.inner_proj.weight"] = torch.randn(F, D, generator=g) * 0.1
    sd[p + "ffn.output_proj.weight"] = torch.zeros(D, F)
sd["decoder.layer_norm.weight"] = torch.ones(D)
sd["final_proj.weight"] = proj
torch.save({"model": sd, "model_key": "model", "fs2": True}, sys.argv[1])
