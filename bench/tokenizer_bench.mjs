// The JavaScript references of tokenizer_bench.sh: encodes every line of a
// text file with @huggingface/tokenizers (tokenizer.json) or tiktoken (a
// rank file) and prints one JSON line with MB/s, the best of ROUNDS passes.
//
//   node tokenizer_bench.mjs hf NAME TOKENIZER_DIR TEXT_FILE ROUNDS
//   node tokenizer_bench.mjs tiktoken NAME RANKS_FILE TEXT_FILE ROUNDS

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const here = path.dirname(new URL(import.meta.url).pathname);
const require = createRequire(path.join(here, "..", "tests", "reference", "node", "package.json"));
const [kind, name, source, textFile, roundsText] = process.argv.slice(2);
const text = fs.readFileSync(textFile, "utf8");
const lines = text.split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l, "utf8"), 0);
let encode, impl;
if (kind === "hf") {
  const { Tokenizer } = require("@huggingface/tokenizers");
  const read = (f) => JSON.parse(fs.readFileSync(path.join(source, f), "utf8"));
  const tok = new Tokenizer(read("tokenizer.json"), read("tokenizer_config.json"));
  encode = (l) => tok.encode(l, { add_special_tokens: false }).ids.length;
  impl = "@huggingface/tokenizers";
} else {
  const { Tiktoken } = require("tiktoken");
  const specials = {};
  const ranks = fs.readFileSync(source, "utf8");
  const n = ranks.split("\n").filter((l) => l).length;
  for (let i = 0; i < 256; ++i) specials[`<|special_${i}|>`] = n + i;
  const pattern = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
  const enc = new Tiktoken(ranks, specials, pattern);
  encode = (l) => enc.encode(l, "all").length;
  impl = "tiktoken (npm)";
}
let best = Infinity, ids = 0;
for (let r = 0; r < Number(roundsText); ++r) {
  const start = process.hrtime.bigint();
  let count = 0;
  for (const l of lines) count += encode(l);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  best = Math.min(best, s);
  ids = count;
}
console.log(JSON.stringify({ impl, name, mb_per_s: bytes / 1e6 / best, ids, bytes }));
