#!/usr/bin/env bash
# Writes testdata/imatrix/refs-iq.json: what llama.cpp's own llama-quantize
# writes for every IQ, ternary, Q1_0 and Q2_0 mix from the corpus model and
# its 320-wide FFN copy (rows not a multiple of 256: IQ4_NL and other
# fallbacks; Q1_0 has none, and there llama-quantize refuses: the tensor it
# names is recorded as "no_fallback"), with the importance matrices of
# scripts/make-imatrix-refs.sh, and without one where llama-quantize allows
# it; and MXFP4_MOE and a few IQ mixes from the
# mixture-of-experts copy (per-expert importance weights). TestImatrixMatchesLlamaQuantize reads it beside
# refs.json. Nothing here is mlmf-run's output.
#   bash scripts/make-iq-refs.sh     (needs ../shared; minutes: ggml builds its IQ1 tables per run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${MLMF_CORPUS:-$root/../shared/testdata/corpus}
eval "$(bash "$root/../shared/tools/build-llama-tools.sh")"
out=$root/testdata/imatrix
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
spm=$corpus/tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf
odd=$tmp/tiny-llama-odd-bf16.gguf
python3 "$root/scripts/gguf_refs.py" odd "$spm" "$odd" 320
[[ $(sha256sum <"$odd" | cut -d' ' -f1) == $(cat "$out/tiny-llama-odd-bf16.gguf.sha256") ]] ||
  { echo "the odd model differs from the one testdata/imatrix was made from" >&2; exit 1; }
moe=$tmp/tiny-llama-moe-bf16.gguf
python3 "$root/scripts/gguf_refs.py" moe "$spm" "$moe"
[[ $(sha256sum <"$moe" | cut -d' ' -f1) == $(cat "$out/tiny-llama-moe-bf16.gguf.sha256") ]] ||
  { echo "the moe model differs from the one testdata/imatrix was made from" >&2; exit 1; }
cd "$out"
cases=()
for typ in MXFP4_MOE IQ2_XS IQ3_M IQ4_XS; do
  cases+=("moe-$typ|moe|--imatrix tiny-llama-moe.imatrix.gguf|$typ")
done
cases+=("moe-MXFP4_MOE-noimatrix|moe||MXFP4_MOE")
for model in spm odd; do
  for typ in IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ1_S IQ1_M IQ3_XXS IQ3_XS IQ3_S IQ3_M IQ4_NL IQ4_XS TQ1_0 TQ2_0 Q1_0 Q2_0; do
    cases+=("$model-$typ|$model|--imatrix tiny-llama-$model.imatrix.gguf|$typ")
  done
  for typ in IQ3_S IQ3_M IQ4_NL IQ4_XS TQ1_0 TQ2_0 Q1_0 Q2_0; do # allowed without an imatrix
    cases+=("$model-$typ-noimatrix|$model||$typ")
  done
done
{
  echo "{"
  sep=""
  for c in "${cases[@]}"; do
    IFS='|' read -r name model flags typ <<<"$c"
    in=$spm
    [[ $model == odd ]] && in=$odd
    [[ $model == moe ]] && in=$moe
    # shellcheck disable=SC2086 # flags are words
    if "$LLAMA_TOOLS/llama-quantize" $flags "$in" "$tmp/out.gguf" "$typ" 2 >"$tmp/log" 2>&1; then
      desc=$(python3 "$root/scripts/gguf_refs.py" describe "$tmp/out.gguf")
      printf '%s"%s": {"model": "%s", "flags": "%s", "type": "%s", "gguf": %s}' "$sep" "$name" "$model" "$flags" "$typ" "$desc"
    else
      # A type whose blocks do not divide a tensor's rows and that has no
      # fallback: the last "ncols ... not divisible" warning names the tensor.
      grep -q 'no tensor type fallback is defined' "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
      t=$(sed -n 's/.*warning: *\([^ ]*\) *- ncols .*/\1/p' "$tmp/log" | tail -1)
      [[ -n $t ]] || { cat "$tmp/log" >&2; exit 1; }
      printf '%s"%s": {"model": "%s", "flags": "%s", "type": "%s", "no_fallback": "%s"}' "$sep" "$name" "$model" "$flags" "$typ" "$t"
    fi
    sep=$',\n'
  done
  echo
  echo "}"
} >refs-iq.json
echo "wrote $out/refs-iq.json (${#cases[@]} cases)"
