#!/usr/bin/env python3
"""Remakes stages/vocab/testdata/real's references with Python transformers,
where it is installed (the GPU machine), to check those make-tok-refs.py
made with transformers.js standing in for it.

    python3 scripts/check-tok-refs-hf.py LLAMA_SRC MODELS OUT [NAME ...]

MODELS holds the folders make-tok-refs.py prepares (~/.cache/mlmf-tok/models:
tokenizer.json, tokenizer_config.json, config.json of each NAME). For each,
llama.cpp's convert_hf_to_gguf.py --vocab-only runs with the real
AutoTokenizer (its pre-tokenizer hash computed by transformers itself); a
tokenizer whose hash it does not know is converted again with the name
make-tok-refs.py's FORCED gives, and the error kept (any other refusal is
kept with no keys). OUT/NAME.gguf.json gets the tokenizer.* keys
(make-tok-refs.py's format) and OUT/ids.json the ids transformers'
encode(text, add_special_tokens=False) gives each of make-tok-refs.py's
TEXTS, and those of the tokenizers library reading tokenizer.json itself. Compare them with the committed files:

    python3 scripts/check-tok-refs-hf.py --compare OUT
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE.parent / "stages" / "vocab" / "testdata" / "real"


def make_tok_refs():
    spec = importlib.util.spec_from_file_location("make_tok_refs", HERE / "make-tok-refs.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def child(src: str, model: str, outfile: str, force: str) -> None:
    sys.path[:0] = [src, os.path.join(src, "gguf-py")]
    if force:
        from conversion.base import TextModel
        TextModel.get_vocab_base_pre = lambda self, tok: force
    sys.argv = ["convert_hf_to_gguf.py", model, "--vocab-only", "--outfile", outfile]
    import convert_hf_to_gguf
    convert_hf_to_gguf.main()


def one(src: str, models: Path, out: Path, name: str, mtr) -> tuple:
    """Converts NAME (its keys to OUT/NAME.gguf.json, or the converter's
    error there); returns the ids of transformers and of the tokenizers
    library (tokenizer.json as it is defined) for each text."""
    import tokenizers
    from transformers import AutoTokenizer
    model = models / name
    gg = str(out / (name + ".gguf"))
    run = subprocess.run([sys.executable, __file__, "--child", src, str(model), gg, ""], capture_output=True, text=True)
    err, desc = None, None
    if run.returncode != 0:
        err = run.stderr.strip().splitlines()[-1]
        if name in mtr.FORCED:
            subprocess.run([sys.executable, __file__, "--child", src, str(model), gg, mtr.FORCED[name]],
                           check=True, capture_output=True, text=True)
    if os.path.exists(gg):
        desc = mtr.tokenizer_keys(src, gg)
        os.unlink(gg)
    desc = desc or {"kv": {}}
    if err:
        desc["converter_error"] = err
        if name in mtr.FORCED:
            desc["forced_pre"] = mtr.FORCED[name]
    (out / (name + ".gguf.json")).write_text(json.dumps(desc, indent=1, ensure_ascii=True) + "\n")
    tok = AutoTokenizer.from_pretrained(model)
    lib = tokenizers.Tokenizer.from_file(str(model / "tokenizer.json"))
    return ([tok.encode(t, add_special_tokens=False) for t in mtr.TEXTS],
            [lib.encode(t, add_special_tokens=False).ids for t in mtr.TEXTS])


def compare(out: Path) -> int:
    bad = 0
    new_ids = json.loads((out / "ids.json").read_text())
    old_ids = json.loads((REAL / "ids.json").read_text())
    for name, ids in new_ids["ids"].items():
        lib = new_ids["ids_tokenizers"][name]
        libd = [i for i, (a, b) in enumerate(zip(lib, old_ids["ids"][name])) if a != b]
        new = json.loads((out / (name + ".gguf.json")).read_text())
        old = json.loads((REAL / (name + ".gguf.json")).read_text())
        keys = sorted(set(new["kv"]) | set(old["kv"]))
        diff = [k for k in keys if new["kv"].get(k) != old["kv"].get(k)]
        err = (new.get("converter_error"), old.get("converter_error"))
        texts = [i for i, (a, b) in enumerate(zip(ids, old_ids["ids"][name])) if a != b]
        print(f"{name}: keys differing {diff or 'none'}; converter error {err[0]!r} (was {err[1]!r}); "
              f"texts transformers tokenizes differently: {texts or 'none'}; "
              f"the tokenizers library: {libd or 'none'}")
        bad += bool(diff or texts or libd or err[0] != err[1])
    return 1 if bad else 0


def main() -> int:
    a = sys.argv[1:]
    if a[:1] == ["--child"]:
        child(a[1], a[2], a[3], a[4])
        return 0
    if a[:1] == ["--compare"]:
        return compare(Path(a[1]))
    if len(a) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    import transformers
    src, models, out = a[0], Path(a[1]), Path(a[2])
    out.mkdir(parents=True, exist_ok=True)
    mtr = make_tok_refs()
    ids = {"texts": mtr.TEXTS, "source": f"transformers {transformers.__version__} (Python) "
           "AutoTokenizer encode(text, add_special_tokens=False); ids_tokenizers: the tokenizers library "
           "on tokenizer.json", "ids": {}, "ids_tokenizers": {}}
    failed = []
    for name in a[3:] or list(mtr.MODELS):
        try:
            ids["ids"][name], ids["ids_tokenizers"][name] = one(src, models, out, name, mtr)
            print(f"{name}: ok", flush=True)
        except Exception as e:  # one tokenizer failing does not lose the others
            failed.append(name)
            print(f"{name}: FAILED {e}", flush=True)
    (out / "ids.json").write_text(json.dumps(ids, ensure_ascii=False) + "\n", encoding="utf-8")
    print("failed: " + " ".join(failed) if failed else "all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
