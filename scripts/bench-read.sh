#!/usr/bin/env bash
# bench-read.sh: how fast does a safetensors.Set read a checkpoint, next to
# `cat FILE >/dev/null` on the same file?
#
# Writes a file of random BF16 tensors (SIZE bytes of tensor data, default
# 1.1 GB) with our own generator, warms the page cache, then times cat and a
# Go reader that opens the file with safetensors.Open (mmap) and pulls every
# tensor through ReadRows in 4 MiB chunks. Best of REPEAT runs each. The file
# is deleted on exit. Both readers are measured on a warm cache: this is the
# cost of the reading path, not of the disk.
#
#   scripts/bench-read.sh            # SIZE=1100000000 REPEAT=3
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${SIZE:-1100000000}
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-read.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
file="$tmp/model.safetensors"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -c -o "$tmp/st.test" ./tensor/safetensors
MLMF_BENCH_WRITE="$file" MLMF_BENCH_SIZE="$SIZE" "$tmp/st.test" -test.run '^TestBenchWriteFile$' >/dev/null
bytes=$(stat -c %s "$file")
echo "file: $bytes bytes"

cat "$file" >/dev/null # warm-up
best=
for i in $(seq "$REPEAT"); do
	start=$(date +%s%N)
	cat "$file" >/dev/null
	ns=$(($(date +%s%N) - start))
	echo "cat run $i: $(awk -v ns="$ns" 'BEGIN {printf "%.3f s", ns / 1e9}')"
	if [ -z "$best" ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
done
awk -v ns="$best" -v b="$bytes" 'BEGIN {printf "cat best: %d bytes in %.3f s = %.2f GB/s\n", b, ns / 1e9, b / ns}'

MLMF_BENCH_READ="$file" MLMF_BENCH_REPEAT="$REPEAT" "$tmp/st.test" -test.run '^TestBenchRead$' | grep '^go-set'
