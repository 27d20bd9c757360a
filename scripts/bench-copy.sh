#!/usr/bin/env bash
# bench-copy.sh: BF16 pass-through conversion against a plain copy of the
# same bytes, interleaved, REPEAT runs each, fresh output files, medians.
# Both sides read the same warm safetensors file and write to the same
# folder; `cp` is followed by `sync` of its output, since mlmf-run fsyncs
# what it writes before renaming it into place. mlmf-run runs with and
# without its manifest (the manifest hashes the input and the output).
#
#   MODEL=/tmp/llama-1b scripts/bench-copy.sh    # REPEAT=5 THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-5}
THREADS=${THREADS:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-copy.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mlmf-run" ./cmd/mlmf-run
model=${MODEL:-}
if [ -z "$model" ]; then
	go run ./testdata/gen -preset 1b -out "$tmp/llama-1b" >/dev/null
	model=$tmp/llama-1b
fi
f=$model/model.safetensors
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); input $f, $(stat -c %s "$f") bytes"
cat "$f" >/dev/null
run() { # name cmd...
	local name=$1
	shift
	rm -f "$tmp"/out*
	/usr/bin/time -f "%e" -o "$tmp/t" "$@" >/dev/null
	echo "$(cat "$tmp/t")" >>"$tmp/$name"
	echo "  $name: $(cat "$tmp/t") s, load $(cut -d' ' -f1 /proc/loadavg)"
}
for i in $(seq "$REPEAT"); do
	run cp bash -c "cp '$f' '$tmp/out.bin' && sync '$tmp/out.bin'"
	run bf16 "$tmp/mlmf-run" convert "$model" -o "$tmp/out.gguf" --type BF16 -q -j "$THREADS"
	run bf16-no-manifest "$tmp/mlmf-run" convert "$model" -o "$tmp/out.gguf" --type BF16 -q -j "$THREADS" --no-manifest
done
for n in cp bf16 bf16-no-manifest; do
	echo "$n: median $(sort -n "$tmp/$n" | awk '{w[NR] = $1} END {print w[int((NR + 1) / 2)]}') s of $REPEAT ($(sort -n "$tmp/$n" | tr '\n' ' '))"
done
