// Tokenizes with Hugging Face's Rust tokenizers library through its Node
// bindings (npm "tokenizers"), the library Python transformers' fast
// tokenizers are: a reference where transformers.js departs from it (its
// Punctuation pre-tokenizer always groups runs of marks, whatever the
// behavior).
//
//   node tok_hftokenizers.js TOKENIZER_JSON < request.json > answer.json
//
// request: {"encode": [[text, add_special_tokens], ...]}
// answer:  {"encoded": [[id...], ...]}
const { Tokenizer } = require("tokenizers");
const fs = require("node:fs");

(async () => {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const req = JSON.parse(fs.readFileSync(0, "utf8"));
  const encoded = [];
  for (const [text, add] of req.encode || []) {
    const e = await tok.encode(text, null, { addSpecialTokens: add });
    encoded.push(Array.from(e.getIds()));
  }
  process.stdout.write(JSON.stringify({ encoded }));
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
