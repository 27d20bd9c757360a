#!/usr/bin/env bash
# bench-fanout.sh: what does one run with several outputs cost, against the
# separate runs it replaces? (issue 11)
#
#   cheap set   mlmf-run convert --type BF16,F16,Q8_0 (one run, one read)
#               against three mlmf-run convert runs, one type each
#   K set       mlmf-run convert --type Q8_0,Q6_K,Q4_K_M,Q2_K (one run)
#               against mlmf-run HF -> BF16 GGUF (the conversion step; the
#               Python converter cannot run here) plus four llama-quantize
#               runs from that GGUF; the quantize runs alone are the
#               "summed quantize compute"
# on a TinyLlama-1.1B-shaped BF16 checkpoint from our generator (2.2 GB),
# THREADS threads each (pinned with taskset), each output written to a
# fresh path (deleted before every run), REPEAT runs, medians printed.
# llama-quantize is llama.cpp's own tool, built from the source the npm
# package carries (../shared/tools/build-llama-tools.sh, cached). The one-run
# outputs are compared tensor by tensor with llama-quantize's.
#
#   scripts/bench-fanout.sh                    # REPEAT=3 THREADS=2, warm page cache
#   MODEL=/tmp/llama-1b scripts/bench-fanout.sh  # reuse a generated model
#   COLD=1 SETS=cheap scripts/bench-fanout.sh    # drop the page cache before every
#                                                # command (root), as for a model
#                                                # larger than RAM; only the cheap set
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
COLD=${COLD:-0}
SETS=${SETS:-"cheap k"}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-fanout.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

eval "$(bash "$root/../shared/tools/build-llama-tools.sh")"
go build -o "$tmp/mlmf-run" ./cmd/mlmf-run
mlmf=$tmp/mlmf-run
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge "$THREADS" ]; then pin=(taskset -c "0-$((THREADS - 1))"); fi

model=${MODEL:-}
if [ -z "$model" ]; then
	go run ./testdata/gen -preset 1b -out "$tmp/llama-1b" >/dev/null
	model=$tmp/llama-1b
fi
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), $(go version | cut -d' ' -f3-)"
echo "input: $model/model.safetensors, $(stat -c %s "$model/model.safetensors") bytes BF16; threads $THREADS; runs $REPEAT"

# timed NAME CMD...: one run; appends "wall rss" to $tmp/NAME.runs.
timed() {
	local name=$1
	shift
	if [ "$COLD" = 1 ]; then
		sync
		echo 3 >/proc/sys/vm/drop_caches
	fi
	/usr/bin/time -f "%e %M" -o "$tmp/time" "${pin[@]}" "$@" >/dev/null
	read -r wall rss <"$tmp/time"
	echo "$wall $rss" >>"$tmp/$name.runs"
	echo "  $name: $wall s, peak RSS $((rss / 1024)) MiB, load $(cut -d' ' -f1 /proc/loadavg)"
}

# median NAME: the median wall time of NAME's runs.
median() { sort -n "$tmp/$1.runs" | awk '{w[NR] = $1} END {print w[int((NR + 1) / 2)]}'; }

cat "$model/model.safetensors" >/dev/null # the same warm cache for every command
for i in $(seq "$REPEAT"); do
	echo "round $i"
	rm -f "$tmp"/*.gguf "$tmp"/*.manifest.json
	if [[ " $SETS " == *" cheap "* ]]; then
		timed cheap-one "$mlmf" convert "$model" -o "$tmp/one-{type}.gguf" --type BF16,F16,Q8_0 -j "$THREADS" -q
		for ty in BF16 F16 Q8_0; do
			timed "cheap-$ty" "$mlmf" convert "$model" -o "$tmp/sep-$ty.gguf" --type "$ty" -j "$THREADS" -q
		done
		rm -f "$tmp"/*.gguf "$tmp"/*.manifest.json
	fi
	if [[ " $SETS " == *" k "* ]]; then
		timed k-one "$mlmf" convert "$model" -o "$tmp/one-{type}.gguf" --type Q8_0,Q6_K,Q4_K_M,Q2_K -j "$THREADS" -q
		timed k-convert "$mlmf" convert "$model" -o "$tmp/bf16.gguf" --type BF16 -j "$THREADS" -q --no-manifest
		for ty in Q8_0 Q6_K Q4_K_M Q2_K; do
			timed "k-$ty" "$LLAMA_TOOLS/llama-quantize" "$tmp/bf16.gguf" "$tmp/llama-$ty.gguf" "$ty" "$THREADS"
		done
	fi
done

tensors() {
	"$mlmf" inspect --json --hash "$1" | python3 -c '
import json, sys
for t in sorted(json.load(sys.stdin)["tensors"], key=lambda t: t["name"]):
    print(t["name"], t["dtype"], t["shape"], t["sha256"])'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
if [[ " $SETS " == *" cheap "* ]]; then
	one=$(median cheap-one)
	sep=$(awk -v a="$(median cheap-BF16)" -v b="$(median cheap-F16)" -v c="$(median cheap-Q8_0)" 'BEGIN {print a + b + c}')
	echo "cheap set {BF16, F16, Q8_0}: one run median $one s; three runs, sum of medians $sep s; ratio $(ratio "$one" "$sep")"
fi
if [[ " $SETS " == *" k "* ]]; then
	for ty in Q8_0 Q6_K Q4_K_M Q2_K; do
		if cmp -s <(tensors "$tmp/one-$ty.gguf") <(tensors "$tmp/llama-$ty.gguf"); then
			echo "$ty: the one run's tensors equal llama-quantize's (sha256 of every tensor's data)"
		else
			echo "$ty: the one run's tensors DIFFER from llama-quantize's"
		fi
	done
	kone=$(median k-one)
	kq=$(awk -v a="$(median k-Q8_0)" -v b="$(median k-Q6_K)" -v c="$(median k-Q4_K_M)" -v d="$(median k-Q2_K)" 'BEGIN {print a + b + c + d}')
	kconv=$(median k-convert)
	echo "K set {Q8_0, Q6_K, Q4_K_M, Q2_K}: one run median $kone s; llama-quantize x4, sum of medians $kq s (+ conversion $kconv s = $(awk -v a="$kq" -v b="$kconv" 'BEGIN {print a + b}') s); one run / quantize compute $(ratio "$kone" "$kq")"
fi
