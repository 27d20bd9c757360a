// Tokenizes with transformers.js (@huggingface/transformers, Hugging Face's
// own JavaScript port of transformers' tokenizers): the independent
// tokenizer that scripts/make-tok-refs.py hands llama.cpp's converter in
// place of Python transformers, which is not installable here.
//
//   node tok_transformersjs.mjs MODEL_DIR < request.json > answer.json
//
// request: {"encode": [[text, add_special_tokens], ...], "decode_ids": [[id...], ...]}
// answer:  {"vocab": {token: id}, "added": [{id, content, special, normalized}],
//           "encoded": [[id...]], "decoded": [text...]}
import { AutoTokenizer, env } from "@huggingface/transformers";
import fs from "node:fs";
import path from "node:path";

const dir = path.resolve(process.argv[2]);
env.allowRemoteModels = false;
env.localModelPath = path.dirname(dir) + "/";
const tok = await AutoTokenizer.from_pretrained(path.basename(dir));
const req = JSON.parse(fs.readFileSync(0, "utf8"));
// get_vocab() walks the model's id-indexed array, so a vocabulary with
// unused ids (gpt-4o's 199998, 200000-200017) yields the key undefined for
// them, which a plain object would turn into the real token "undefined"
// (id 18077 there). Python transformers' get_vocab has no such entries.
const vocab = {};
for (const [t, id] of tok.get_vocab()) if (t !== undefined) vocab[t] = id;
for (const a of tok._tokenizer.added_tokens) vocab[a.content] = a.id;
const added = tok._tokenizer.added_tokens.map((a) => ({ id: a.id, content: a.content, special: a.special, normalized: a.normalized }));
const encoded = (req.encode || []).map(([text, add]) => Array.from(tok.encode(text, { add_special_tokens: add })));
const decoded = (req.decode_ids || []).map((ids) => tok.decode(ids));
process.stdout.write(JSON.stringify({ vocab, added, encoded, decoded }));
