#!/usr/bin/env bash
# logits-table.sh: how far is each quantized type from the reference?
#
# Converts the corpus's tiny LLaMA (tiny-llama-spm, a real checkpoint with
# transformers' reference logits) with `mlmf-run convert --type T` for each
# type, runs it in llama.cpp (the logits harness from
# ../shared/tools/setup-llama.sh) and prints a Markdown table of the largest
# logit difference (absolute, and relative to the reference's logit range)
# and how many positions agree on the argmax token.
#
#   scripts/logits-table.sh
#   TYPES="Q8_0 Q4_K_M" scripts/logits-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

TYPES=${TYPES:-"F16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_S Q4_K_M Q5_K_M Q6_K"}
corpus=${MLMF_CORPUS:-$root/../shared/testdata/corpus}
model=$corpus/tiny-llama-spm
tmp=$(mktemp -d "${TMPDIR:-/tmp}/logits-table.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

eval "$(bash "$root/../shared/tools/setup-llama.sh")"
go build -o "$tmp/mlmf-run" ./cmd/mlmf-run

echo "| type | file bytes | max abs diff | rel diff | argmax agree |"
echo "|---|---:|---:|---:|---:|"
for ty in $TYPES; do
	out=$tmp/$ty.gguf
	"$tmp/mlmf-run" convert "$model" -o "$out" --type "$ty" -q
	line=$(python3 "$root/../shared/tools/logits_check.py" "$LLAMA_LOGITS" "$out" "$model/reference_logits.json")
	case $line in
	maxdiff=*) ;;
	*) echo "| $ty | $(stat -c %s "$out") | $line | | |"; continue ;;
	esac
	set -- $line
	echo "| $ty | $(stat -c %s "$out") | ${1#maxdiff=} | ${2#rel=} | ${3#argmax_agree=} |"
	rm -f "$out" "$out.manifest.json"
done
