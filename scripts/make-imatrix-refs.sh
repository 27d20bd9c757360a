#!/usr/bin/env bash
# Regenerates testdata/imatrix: importance matrices computed by llama.cpp's own
# llama-imatrix on the corpus model (and on a copy of it whose feed-forward
# width is 320, so ffn_down rows are not a multiple of 256, and on a
# mixture-of-experts copy, then with two experts' counts zeroed), and the sha256
# digests of what llama-quantize writes from them, with and without its
# per-tensor flags. The conformance test TestImatrixMatchesLlamaQuantize
# compares mlmf-run's bytes with those digests. Nothing here is mlmf-run's
# output; the digests are taken by scripts/gguf_refs.py (standard-library
# Python, the corpus *.gguf.json shape).
#   bash scripts/make-imatrix-refs.sh     (needs ../shared and ~1 minute)
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
# The test rebuilds the odd model the same way and checks it against this.
sha256sum <"$odd" | cut -d' ' -f1 >"$out/tiny-llama-odd-bf16.gguf.sha256"
# A mixture-of-experts copy (4 experts of width 256, 2 used), likewise.
moe=$tmp/tiny-llama-moe-bf16.gguf
python3 "$root/scripts/gguf_refs.py" moe "$spm" "$moe"
sha256sum <"$moe" | cut -d' ' -f1 >"$out/tiny-llama-moe-bf16.gguf.sha256"

cd "$out" # relative names, so that the files record no local paths
imatrix() { # model output [format]
  "$LLAMA_TOOLS/llama-imatrix" -m "$1" -f calibration.txt -o "$2" -c 64 -t 2 --no-ppl ${3:+--output-format "$3"} >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; exit 1; }
}
imatrix "$spm" tiny-llama-spm.imatrix.gguf
imatrix "$spm" tiny-llama-spm.imatrix.dat dat
imatrix "$odd" tiny-llama-odd.imatrix.gguf
imatrix "$moe" tiny-llama-moe.imatrix.gguf
# Partial expert data: two experts the calibration "never reached" (count 0).
python3 "$root/scripts/gguf_refs.py" zero-expert tiny-llama-moe.imatrix.gguf "$tmp/p1.gguf" blk.0.ffn_down_exps.weight 3
python3 "$root/scripts/gguf_refs.py" zero-expert "$tmp/p1.gguf" tiny-llama-moe-partial.imatrix.gguf blk.1.ffn_gate_exps.weight 1

# case name | model | flags (before the input) | type
cases=(
  "spm-Q4_0|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q4_0"
  "spm-Q4_1|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q4_1"
  "spm-Q5_0|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q5_0"
  "spm-Q5_1|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q5_1"
  "spm-Q8_0|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q8_0"
  "spm-Q2_K|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q2_K"
  "spm-Q2_K_S|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q2_K_S"
  "spm-Q3_K_S|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q3_K_S"
  "spm-Q3_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q3_K_M"
  "spm-Q3_K_L|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q3_K_L"
  "spm-Q4_K_S|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q4_K_S"
  "spm-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q4_K_M"
  "spm-Q5_K_S|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q5_K_S"
  "spm-Q5_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q5_K_M"
  "spm-Q6_K|spm|--imatrix tiny-llama-spm.imatrix.gguf|Q6_K"
  "spm-dat-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.dat|Q4_K_M"
  "spm-pure-Q3_K|spm|--imatrix tiny-llama-spm.imatrix.gguf --pure|Q3_K"
  "spm-include-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf --include-weights attn_ --include-weights ffn_down|Q4_K_M"
  "spm-exclude-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf --exclude-weights blk.1.|Q4_K_M"
  "spm-tensor-type-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf --tensor-type attn_v=q4_k --tensor-type ffn_.*=Q5_0 --tensor-type blk.1=q8_0|Q4_K_M"
  "spm-tensor-type-file-Q3_K_M|spm|--tensor-type-file tensor-types.txt|Q3_K_M"
  "spm-output-embd-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf --output-tensor-type q4_0 --token-embedding-type q8_0|Q4_K_M"
  "spm-leave-output-Q5_K_M|spm|--leave-output-tensor|Q5_K_M"
  "spm-prune-Q4_K_M|spm|--imatrix tiny-llama-spm.imatrix.gguf --prune-layers 0|Q4_K_M"
  "spm-override-kv-Q6_K|spm|--override-kv general.name=str:Renamed --override-kv llama.context_length=int:128 --override-kv tokenizer.ggml.add_eos_token=bool:true --override-kv llama.rope.freq_base=float:5000.5|Q6_K"
  "odd-Q4_0|odd|--imatrix tiny-llama-odd.imatrix.gguf|Q4_0"
  "odd-Q2_K_S|odd|--imatrix tiny-llama-odd.imatrix.gguf|Q2_K_S"
  "odd-Q3_K_M|odd|--imatrix tiny-llama-odd.imatrix.gguf|Q3_K_M"
  "odd-Q4_K_M|odd|--imatrix tiny-llama-odd.imatrix.gguf|Q4_K_M"
  "odd-Q5_K_S|odd|--imatrix tiny-llama-odd.imatrix.gguf|Q5_K_S"
  "odd-Q6_K|odd|--imatrix tiny-llama-odd.imatrix.gguf|Q6_K"
  "odd-Q4_K_M-noimatrix|odd||Q4_K_M"
  "moe-Q4_K_M|moe|--imatrix tiny-llama-moe.imatrix.gguf|Q4_K_M"
  "moe-partial-Q2_K_S|moe|--imatrix tiny-llama-moe-partial.imatrix.gguf|Q2_K_S"
  "moe-partial-Q5_0|moe|--imatrix tiny-llama-moe-partial.imatrix.gguf|Q5_0"
)
printf '%s\n' 'attn_v=q6_k' 'blk\.0\.ffn_up=Q4_1' ' ffn_down=q5_k' >tensor-types.txt
{
  echo "{"
  sep=""
  for c in "${cases[@]}"; do
    IFS='|' read -r name model flags typ <<<"$c"
    in=$spm
    [[ $model == odd ]] && in=$odd
    [[ $model == moe ]] && in=$moe
    # shellcheck disable=SC2086 # flags are words
    "$LLAMA_TOOLS/llama-quantize" $flags "$in" "$tmp/out.gguf" "$typ" 2 >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
    printf '%s"%s": {"model": "%s", "flags": "%s", "type": "%s", "gguf": %s}' "$sep" "$name" "$model" "$flags" "$typ" \
      "$(python3 "$root/scripts/gguf_refs.py" describe "$tmp/out.gguf")"
    sep=$',\n'
  done
  # --keep-split: the model cut by llama-gguf-split into files of 8 tensors.
  "$LLAMA_TOOLS/llama-gguf-split" --split --split-max-tensors 8 "$spm" "$tmp/in" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  flags="--keep-split --imatrix tiny-llama-spm.imatrix.gguf"
  # shellcheck disable=SC2086
  "$LLAMA_TOOLS/llama-quantize" $flags "$tmp/in-00001-of-00003.gguf" "$tmp/ks.gguf" Q4_K_M 2 >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  printf ',\n"spm-keep-split-Q4_K_M": {"model": "spm-split8", "flags": "%s", "type": "Q4_K_M", "parts": [%s]}' "$flags" \
    "$(python3 "$root/scripts/gguf_refs.py" describe "$tmp"/ks-0000?-of-00003.gguf | paste -sd,)"
  echo
  echo "}"
} >refs.json
echo "wrote $out/refs.json (${#cases[@]} cases)"
