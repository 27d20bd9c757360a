#!/usr/bin/env bash
# callgrind-quant.sh: instructions each quantizer executes on 1 MiB of
# float32 weights (BenchmarkQuantizeSmall, one pass), counted by callgrind:
# repeatable on a shared machine, where timings are not. Prints one line per
# type: the instructions of a run of 1+PASSES passes less those of a run of
# one, divided by PASSES, so the benchmark's setup and most of the runtime's
# noise (GC, scheduler) are not counted (callgrind's --toggle-collect
# loses Go's calls when a goroutine's stack grows).
#
#   scripts/callgrind-quant.sh                 # Q8_0 Q4_K Q5_K Q6_K
#   TYPES="Q4_K" scripts/callgrind-quant.sh
#   GOFLAGS=-tags=purego scripts/callgrind-quant.sh   # the pure-Go paths
#   BENCH=BenchmarkQuantizeRowsSmall TYPES="Q4_K/imatrix Q4_K/ref" scripts/callgrind-quant.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TYPES=${TYPES:-"Q8_0 Q4_K Q5_K Q6_K"}
BENCH=${BENCH:-BenchmarkQuantizeSmall}
PASSES=${PASSES:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/callgrind-quant.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/quant.test" ./tensor/quant/
# Go's asynchronous preemption signals crash callgrind; no GC and one P keep
# the runtime's own work out of the difference.
count() {
	GOGC=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
		"$tmp/quant.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,
}
for t in $TYPES; do
	n=$((($(count "$BENCH/$t\$" $((PASSES + 1))x) - $(count "$BENCH/$t\$" 1x)) / PASSES))
	echo "$t: $n instructions a pass of $BENCH"
done
