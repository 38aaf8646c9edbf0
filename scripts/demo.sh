#!/usr/bin/env bash
# The main job on built-in defaults: load the plugins, list the families,
# build a (small, randomly initialised) llama model and generate tokens.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fairseq2="${FAIRSEQ2_BIN:-$here/build/release/bin/fairseq2}"

echo "== plugins"
"$fairseq2" plugins list
echo
echo "== model families"
"$fairseq2" models list
echo
echo "== llama archs"
"$fairseq2" models archs llama | tr '\n' ' '
echo
echo
echo "== generate: llama3_2_1b shape scaled down to 4 layers of width 256, random weights"
"$fairseq2" generate --family llama --arch llama3_2_1b \
  --set model_dim=256 --set num_layers=4 --set num_attn_heads=8 --set num_key_value_heads=2 --set ffn_inner_dim=1024 \
  --random-init --seed 1 --prompt-ids "128000 791 6864 315" --max-new-tokens 32 --greedy
