#!/usr/bin/env bash
# bench-quant.sh: is mlmf-run's quantization as fast as llama-quantize?
#
# Generates a TinyLlama-1.1B-shaped BF16 checkpoint with our own generator
# (2.2 GB, deleted on exit) and times, with THREADS threads each (pinned with
# taskset when there is one) and /usr/bin/time for wall time and peak RSS:
#   one pass     mlmf-run convert HF -> TYPE
#   two steps    mlmf-run convert HF -> BF16 GGUF, then llama-quantize
#                BF16 -> TYPE (llama.cpp's Python converter cannot run here,
#                so step 1 is ours: its time is mlmf-run's, not Python's)
#   quantize     llama-quantize BF16 GGUF -> TYPE next to mlmf-run doing the
#                same from the same BF16 GGUF (load gguf -> quantize -> export)
# A type spelled TYPE+imatrix (Q4_K_M+imatrix, IQ4_XS+imatrix) is quantized
# with the importance matrix IMATRIX on both sides (convert --imatrix, the
# quantize stage's imatrix:, the harness's fifth argument as llama-quantize
# --imatrix passes it). MODEL=DIR takes an existing Hugging Face checkpoint
# (BF16 or F32) instead of the generated one, e.g. the corpus' tiny models
# for a check of the script itself.
# Every command runs REPEAT times; best and median are printed. Outputs are
# compared tensor by tensor (name, type, shape, sha256 of the data).
# llama-quantize is llama_model_quantize from the npm-prebuilt libllama
# (../shared/tools/setup-llama.sh), driven by scripts/llama_quantize.c.
#
#   scripts/bench-quant.sh                   # TYPES="Q4_K_M Q8_0" REPEAT=3 THREADS=2
#   KERNELS=0 scripts/bench-quant.sh         # skip the one-thread quantizer comparison
#   TWOSTEP=0 scripts/bench-quant.sh         # skip the two-step rows (HF->BF16, then llama-quantize)
#   LOAD_MAX=1.5 scripts/bench-quant.sh      # before each run, wait (up to 10 min) for load < 1.5
#   IMATRIX=imatrix.gguf TYPES="Q4_K_M+imatrix IQ4_XS+imatrix" scripts/bench-quant.sh
#   MODEL=../shared/testdata/corpus/tiny-llama-spm IMATRIX=testdata/imatrix/tiny-llama-spm.imatrix.gguf \
#     TYPES="Q4_K_M+imatrix IQ4_XS" REPEAT=1 KERNELS=0 scripts/bench-quant.sh   # a check of the script
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

TYPES=${TYPES:-"Q4_K_M Q8_0"}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
LOAD_MAX=${LOAD_MAX:-}
IMATRIX=${IMATRIX:-}
MODEL=${MODEL:-}
for ty in $TYPES; do
	case $ty in *+imatrix)
		[ -n "$IMATRIX" ] || { echo "bench-quant.sh: type $ty needs IMATRIX=path" >&2; exit 2; }
		;;
	esac
done
if [ -n "$IMATRIX" ]; then IMATRIX=$(realpath "$IMATRIX"); fi
if [ -n "$MODEL" ]; then MODEL=$(realpath "$MODEL"); fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-quant.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

eval "$(bash "$root/../shared/tools/setup-llama.sh")"
ref=${MLMF_REF_CACHE:-$HOME/.cache/mlmf-ref}
cc -O2 -I "$ref/src/include" -I "$ref/src/ggml/include" scripts/llama_quantize.c -L "$GGML_BACKEND_DIR" \
	-l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -Wl,-rpath,"$GGML_BACKEND_DIR" -lm -o "$tmp/llama_quantize"
go build -o "$tmp/mlmf-run" ./cmd/mlmf-run
mlmf=$tmp/mlmf-run
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge "$THREADS" ]; then pin=(taskset -c "0-$((THREADS - 1))"); fi

# The recipe for quantizing a GGUF (recipes/hf-to-gguf.yaml starts from HF).
cat >"$tmp/gguf-quant.yaml" <<'EOF'
version: 1
description: quantize a GGUF with llama-quantize's rules
vars: {model: null, out: null, type: Q4_K_M}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: q, kind: quantize, inputs: [src], with: {type: "${type}"}}
  - {id: gguf, kind: export, inputs: [q], with: {format: gguf, path: "${out}"}}
EOF
sed 's/with: {type: "${type}"}/with: {type: "${type}", imatrix: "${imatrix}"}/; s/type: Q4_K_M}/type: Q4_K_M, imatrix: null}/' \
	"$tmp/gguf-quant.yaml" >"$tmp/gguf-quant-imatrix.yaml"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), $(go version | cut -d' ' -f3-)"
if [ -n "$MODEL" ]; then
	model=$MODEL
else
	go run ./testdata/gen -preset 1b -out "$tmp/llama-1b"
	model=$tmp/llama-1b
fi
input=$(cat "$model"/*.safetensors | wc -c)
echo "input: $model/*.safetensors, $input bytes (safetensors headers included)"
df -h "$tmp" | tail -1

# quiet waits until the 1-minute load average is under LOAD_MAX (if set),
# at most 10 minutes: the previous run's own load decays in a minute or so.
quiet() {
	[ -n "$LOAD_MAX" ] || return 0
	for _ in $(seq 40); do
		awk -v m="$LOAD_MAX" '{exit !($1 < m)}' /proc/loadavg && return 0
		sleep 15
	done
}

# measure NAME CMD...: runs CMD REPEAT times, prints each run and the best
# and median wall time, peak RSS and GB/s of BF16 input.
measure() {
	local name=$1 walls=() i
	shift
	cat "$model"/*.safetensors >/dev/null # same warm cache for every command
	for i in $(seq "$REPEAT"); do
		quiet
		local load
		load=$(cut -d' ' -f1 /proc/loadavg)
		/usr/bin/time -f "%e %M" -o "$tmp/time" "${pin[@]}" "$@" >/dev/null
		read -r wall rss <"$tmp/time"
		walls+=("$wall")
		echo "$name run $i: $wall s, peak RSS $((rss / 1024)) MiB, load $load"
		echo "$wall $rss" >>"$tmp/$name.runs"
	done
	sort -n "$tmp/$name.runs" | awk -v n="$name" -v b="$input" -v sum="$tmp/$name.sum" '
		{w[NR] = $1; if ($2 > r) r = $2}
		END {m = w[int((NR + 1) / 2)]
			printf "%s %s\n", w[1], m >sum
			printf "%s: best %.2f s (%.3f GB/s), median %.2f s (%.3f GB/s), peak RSS %d MiB (largest of the runs)\n", n, w[1], b / w[1] / 1e9, m, b / m / 1e9, r / 1024}'
}

# twostep TYPE: step 1 (HF -> BF16 GGUF) plus step 2 (llama-quantize), best
# plus best and median plus median.
twostep() {
	cat "$tmp/mlmf-HF-to-BF16.sum" "$tmp/llama-quantize-BF16-to-$1.sum" | awk -v n="two-step-HF-to-$1" -v b="$input" '
		{best += $1; med += $2}
		END {printf "%s: best %.2f s (%.3f GB/s), median %.2f s (%.3f GB/s)\n", n, best, b / best / 1e9, med, b / med / 1e9}'
}

# tensors FILE: name, type, shape and data sha256 of every tensor, by name.
tensors() {
	"$mlmf" inspect --json --hash "$1" | python3 -c '
import json, sys
for t in sorted(json.load(sys.stdin)["tensors"], key=lambda t: t["name"]):
    print(t["name"], t["dtype"], t["shape"], t["sha256"])'
}

measure "mlmf-HF-to-BF16" "$mlmf" convert "$model" -o "$tmp/bf16.gguf" --type BF16 -j "$THREADS" -q
for ty in $TYPES; do
	# qt: the quantization type; im, imconv, imset: the imatrix arguments
	# of the harness, convert and the recipe (none without +imatrix).
	qt=${ty%+imatrix} recipe=$tmp/gguf-quant.yaml im=() imconv=() imset=()
	if [ "$qt" != "$ty" ]; then
		recipe=$tmp/gguf-quant-imatrix.yaml im=("$IMATRIX") imconv=(--imatrix "$IMATRIX") imset=(--set imatrix="$IMATRIX")
	fi
	measure "mlmf-HF-to-$ty" "$mlmf" convert "$model" -o "$tmp/mlmf-hf-$ty.gguf" --type "$qt" "${imconv[@]}" -j "$THREADS" -q
	measure "llama-quantize-BF16-to-$ty" "$tmp/llama_quantize" "$tmp/bf16.gguf" "$tmp/llama-$ty.gguf" "$qt" "$THREADS" "${im[@]}"
	measure "mlmf-BF16-to-$ty" "$mlmf" "$recipe" --set model="$tmp/bf16.gguf" --set out="$tmp/mlmf-gguf-$ty.gguf" --set type="$qt" "${imset[@]}" -j "$THREADS" -q
	# llama-quantize hashes nothing; this is mlmf-run without its manifest's sha256s.
	measure "mlmf-BF16-to-$ty-no-manifest" "$mlmf" "$recipe" --set model="$tmp/bf16.gguf" --set out="$tmp/mlmf-gguf-nm-$ty.gguf" --set type="$qt" "${imset[@]}" -j "$THREADS" -q --no-manifest
	if [ "${TWOSTEP:-1}" = 1 ]; then twostep "$ty"; fi
	tensors "$tmp/llama-$ty.gguf" >"$tmp/llama-$ty.txt"
	for m in hf gguf; do
		if tensors "$tmp/mlmf-$m-$ty.gguf" | cmp -s - "$tmp/llama-$ty.txt"; then
			echo "$ty: mlmf-run ($m input) and llama-quantize tensors identical ($(wc -l <"$tmp/llama-$ty.txt") tensors, sha256 of data)"
		else
			echo "$ty: mlmf-run ($m input) and llama-quantize tensors DIFFER"
		fi
	done
	rm -f "$tmp"/*-"$ty".gguf
	df -h "$tmp" | tail -1
done

# The quantizers alone, one thread, same-sized random input on both sides.
if [ "${KERNELS:-1}" = 1 ]; then
	quiet
	echo "kernels, one thread, load $(cut -d' ' -f1 /proc/loadavg):"
	"${pin[@]}" "$tmp/llama_quantize" --kernels
	"${pin[@]}" go test -run '^$' -bench 'BenchmarkQuantize/(Q8_0|Q4_K|Q6_K)$' -benchtime 3x ./tensor/quant/ | grep '^Benchmark'
fi
