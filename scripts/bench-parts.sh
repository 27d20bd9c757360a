#!/usr/bin/env bash
# bench-parts.sh: what does dividing a run into parts cost? (issue 16)
#
# HF -> Q8_0 GGUF of a TinyLlama-1.1B-shaped BF16 checkpoint from our
# generator (2.2 GB), on this machine: in one process (-j THREADS), then as
# 2 and 4 parts run at once as separate processes (THREADS/N threads each,
# at least 1) followed by --finalize (-j THREADS). All parts share this
# machine's cores, so this measures the overhead of the parts (each plans
# the run, reads back and hashes what it wrote; the finalize reads every
# output once to verify it and hash it for the manifest, as one process
# hashes it), not a speed-up: on a cluster the parts run on N machines.
# Warm page cache; REPEAT runs, medians; every output compared with the
# one-process file; the load average before and after is printed.
#
#   scripts/bench-parts.sh                       # REPEAT=3 THREADS=2
#   MODEL=/tmp/llama-1b scripts/bench-parts.sh   # reuse a generated model
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
TYPE=${TYPE:-Q8_0}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-parts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/mlmf-run" ./cmd/mlmf-run
mlmf=$tmp/mlmf-run
model=${MODEL:-}
if [[ -z $model ]]; then
  model=$tmp/model
  go run ./testdata/gen -out "$model" -preset 1b >/dev/null
fi
run=(hf-to-gguf -q --set model="$model" --set type="$TYPE")
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs, model $(du -sh "$model" | cut -f1), $TYPE"
cat "$model"/*.safetensors >/dev/null # warm the page cache

now() { date +%s.%N; }
# cpu FILE...: user+sys seconds summed over /usr/bin/time outputs.
cpu() { awk '{s += $1 + $2} END {printf "%.2f", s}' "$@"; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A wall part fin cpus
for r in $(seq "$REPEAT"); do
  rm -rf "$tmp/one"
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$tmp/one.time" "$mlmf" "${run[@]}" -j "$THREADS" --set out="$tmp/one/m.gguf"
  t1=$(now)
  wall[1]+="$(echo "$t1 - $t0" | bc) "
  part[1]+="$(echo "$t1 - $t0" | bc) "
  fin[1]+="0 "
  cpus[1]+="$(cpu "$tmp/one.time") "
  for n in 2 4; do
    out=$tmp/p$n
    rm -rf "$out"
    j=$((THREADS / n > 0 ? THREADS / n : 1))
    t0=$(now)
    pids=()
    for i in $(seq 0 $((n - 1))); do
      /usr/bin/time -f "%U %S" -o "$tmp/p$n-$i.time" "$mlmf" "${run[@]}" -j "$j" --set out="$out/m.gguf" --parts "$n" --part "$i" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    t1=$(now)
    /usr/bin/time -f "%U %S" -o "$tmp/p$n-fin.time" "$mlmf" "${run[@]}" -j "$THREADS" --set out="$out/m.gguf" --parts "$n" --finalize
    t2=$(now)
    cmp "$tmp/one/m.gguf" "$out/m.gguf" || { echo "$n parts: output differs"; exit 1; }
    wall[$n]+="$(echo "$t2 - $t0" | bc) "
    part[$n]+="$(echo "$t1 - $t0" | bc) "
    fin[$n]+="$(echo "$t2 - $t1" | bc) "
    cpus[$n]+="$(cpu "$tmp"/p$n-*.time) "
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
m() { tr ' ' '\n' <<<"$1" | grep . | median; }
base=$(m "${wall[1]}")
basecpu=$(m "${cpus[1]}")
echo
echo "| parts | parts phase (s) | finalize (s) | wall (s) | vs 1 process | CPU user+sys (s) | vs 1 process |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in 1 2 4; do
  w=$(m "${wall[$n]}")
  c=$(m "${cpus[$n]}")
  printf "| %d | %.2f | %.2f | %.2f | %+.0f%% | %.2f | %+.0f%% |\n" "$n" "$(m "${part[$n]}")" "$(m "${fin[$n]}")" "$w" \
    "$(echo "($w / $base - 1) * 100" | bc -l)" "$c" "$(echo "($c / $basecpu - 1) * 100" | bc -l)"
done
echo
echo "medians of $REPEAT; $(stat -c %s "$tmp/one/m.gguf") bytes out; one process -j $THREADS, parts -j $((THREADS / 2 > 0 ? THREADS / 2 : 1)) (2) and 1 (4), finalize -j $THREADS"
