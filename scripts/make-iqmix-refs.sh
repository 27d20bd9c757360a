#!/usr/bin/env bash
# Regenerates tensor/quant/testdata/iqmix/refs.json: the tensor types
# llama.cpp's own llama-quantize chooses for every IQ, ternary, MXFP4, Q1_0
# and Q2_0 mix, with an importance matrix (made by llama-imatrix) and without
# one (where it refuses, the tensor it names: one that needs an imatrix, or
# one whose rows fit no fallback), on the corpus model and on a 16-layer GQA-4
# copy with tied embeddings and 320-wide FFN rows (scripts/iqmix_refs.py
# deep). TestIQMixesMatchLlamaQuantize plans the same and compares. Nothing
# here is mlmf-run's output.
#   bash scripts/make-iqmix-refs.sh     (needs ../shared and a few minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${MLMF_CORPUS:-$root/../shared/testdata/corpus}
eval "$(bash "$root/../shared/tools/build-llama-tools.sh")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py() { python3 "$root/scripts/iqmix_refs.py" "$@"; }
spm=$corpus/tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf
py deep "$spm" "$tmp/deep.gguf"
cp "$spm" "$tmp/spm.gguf"
mixes=(IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ1_S IQ1_M IQ3_XXS IQ3_XS IQ3_S IQ3_M IQ4_NL IQ4_XS TQ1_0 TQ2_0 MXFP4_MOE Q1_0 Q2_0)
{
  echo '{"models": {'
  sep=
  for m in spm deep; do
    printf '%s"%s": %s\n' "$sep" "$m" "$(py model "$tmp/$m.gguf")"; sep=,
  done
  echo '}, "cases": ['
  sep=
  for m in spm deep; do
    "$LLAMA_TOOLS/llama-imatrix" -m "$tmp/$m.gguf" -f "$corpus/README.md" -o "$tmp/$m.imatrix.gguf" -c 64 -t 2 --no-ppl \
      >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
    for mix in "${mixes[@]}"; do
      for imx in true false; do
        flags=()
        [[ $imx == true ]] && flags=(--imatrix "$tmp/$m.imatrix.gguf")
        out=$tmp/out.gguf
        rm -f "$out"
        if "$LLAMA_TOOLS/llama-quantize" "${flags[@]}" "$tmp/$m.gguf" "$out" "$mix" 2 >"$tmp/log" 2>&1; then
          printf '%s{"model": "%s", "mix": "%s", "imatrix": %s, "types": %s}\n' "$sep" "$m" "$mix" "$imx" "$(py types "$out")"
        elif grep -q 'no tensor type fallback is defined' "$tmp/log"; then
          # the last "ncols ... not divisible" warning names the tensor
          t=$(sed -n 's/.*warning: *\([^ ]*\) *- ncols .*/\1/p' "$tmp/log" | tail -1)
          [[ -n $t ]] || { cat "$tmp/log" >&2; exit 1; }
          printf '%s{"model": "%s", "mix": "%s", "imatrix": %s, "no_fallback": "%s"}\n' "$sep" "$m" "$mix" "$imx" "$t"
        else
          t=$(sed -n 's/.*offending tensor: *//p; s/.*Missing importance matrix for tensor \([^ ]*\) .*/\1/p' "$tmp/log" | head -1)
          [[ -n $t ]] || { cat "$tmp/log" >&2; exit 1; }
          printf '%s{"model": "%s", "mix": "%s", "imatrix": %s, "needs_imatrix": "%s"}\n' "$sep" "$m" "$mix" "$imx" "$t"
        fi
        sep=,
      done
    done
  done
  echo ']}'
} | python3 -c 'import json,sys; json.dump(json.load(sys.stdin), sys.stdout, indent=1, sort_keys=True); print()' \
  >"$root/tensor/quant/testdata/iqmix/refs.json"
