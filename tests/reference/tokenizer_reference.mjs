// Independent tokenizer references for the tokenizer tests: the JavaScript
// implementations of Hugging Face tokenizer.json (@huggingface/tokenizers)
// and of tiktoken (the tiktoken package), on the same files and texts.
//
//   node tokenizer_reference.mjs hf TOKENIZER_DIR CORPUS.json OUT.json
//   node tokenizer_reference.mjs tiktoken RANKS_FILE SPECIALS.json PATTERN CORPUS.json OUT.json
//   node tokenizer_reference.mjs chat TOKENIZER_DIR MESSAGES.json OUT.json
//
// OUT.json: {"ids": [[...], ...], "decoded": ["...", ...]} for each corpus
// text (no special tokens added, special tokens matched in the text), or for
// chat {"rendered": ["...", ...], "ids": [[...], ...]} for each user message,
// rendered by the tokenizer_config.json's chat_template with
// @huggingface/jinja (one user turn, add_generation_prompt) and encoded.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(path.dirname(new URL(import.meta.url).pathname), "node", "package.json"));
const [mode, ...args] = process.argv.slice(2);
const readJson = (p) => JSON.parse(fs.readFileSync(p, "utf8"));

if (mode === "hf") {
  const { Tokenizer } = require("@huggingface/tokenizers");
  const [dir, corpusFile, out] = args;
  const tok = new Tokenizer(readJson(path.join(dir, "tokenizer.json")), readJson(path.join(dir, "tokenizer_config.json")));
  const ids = [], decoded = [];
  for (const text of readJson(corpusFile)) {
    const e = tok.encode(text, { add_special_tokens: false });
    ids.push(Array.from(e.ids, Number));
    decoded.push(e.ids.length === 0 ? "" : tok.decode(e.ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  }
  fs.writeFileSync(out, JSON.stringify({ ids, decoded }));
} else if (mode === "tiktoken") {
  const { Tiktoken } = require("tiktoken");
  const [ranksFile, specialsFile, pattern, corpusFile, out] = args;
  const enc = new Tiktoken(fs.readFileSync(ranksFile, "utf8"), readJson(specialsFile), pattern);
  const ids = [], decoded = [];
  const utf8 = new TextDecoder("utf-8");
  for (const text of readJson(corpusFile)) {
    const e = enc.encode(text, "all");
    ids.push(Array.from(e, Number));
    decoded.push(utf8.decode(enc.decode(e)));
  }
  enc.free();
  fs.writeFileSync(out, JSON.stringify({ ids, decoded }));
} else if (mode === "chat") {
  const { Template } = require("@huggingface/jinja");
  const [dir, messagesFile, out] = args;
  const config = readJson(path.join(dir, "tokenizer_config.json"));
  const template = new Template(config.chat_template);
  const token = (t) => (t == null ? "" : typeof t === "string" ? t : t.content);
  const { Tokenizer } = require("@huggingface/tokenizers");
  const tok = new Tokenizer(readJson(path.join(dir, "tokenizer.json")), config);
  const rendered = readJson(messagesFile).map((m) =>
    template.render({
      messages: [{ role: "user", content: m }],
      add_generation_prompt: true,
      bos_token: token(config.bos_token),
      eos_token: token(config.eos_token),
    }));
  const ids = rendered.map((r) => Array.from(tok.encode(r, { add_special_tokens: false }).ids, Number));
  fs.writeFileSync(out, JSON.stringify({ rendered, ids }));
} else {
  console.error(`unknown mode '${mode}'`);
  process.exit(2);
}
