#!/usr/bin/env bash
# Peak memory and time of converting a generated >=2 GB checkpoint, against
# the memory budget and against a plain copy of the same bytes.
#
#   bash scripts/bench-memory.sh            # budget 512MiB, 2 threads
#   MEMORY=128MiB LAYERS=75 bash scripts/bench-memory.sh   # the 3.5B model (6.9 GB)
#
# Generates a TinyLlama-1.1B-shaped BF16 model (2.2 GB; LAYERS=75 makes it
# 3.5 B parameters, 6.9 GB) with the project's generator, converts it HF ->
# GGUF at BF16 (pass-through), F16 (re-encoded) and Q8_0, then its BF16 GGUF
# to Q8_0, then HF -> {Q8_0, Q6_K, Q4_K_M, Q2_K} in one run, under
# /usr/bin/time -v, and fails if any run's peak RSS exceeds the budget +
# 200 MiB. Everything it writes is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MEMORY=${MEMORY:-512MiB}
THREADS=${THREADS:-2}
LAYERS=${LAYERS:-22}
MATRIX=${MATRIX:-Q8_0,Q6_K,Q4_K_M,Q2_K}
work=$(mktemp -d "${TMPDIR:-/tmp}/mlmf-bench-mem.XXXXXX")
trap 'rm -rf "$work"' EXIT

go build -o "$work/mlmf-run" ./cmd/mlmf-run
go run ./testdata/gen -preset 1b -layers "$LAYERS" -out "$work/llama-1b" >/dev/null
model="$work/llama-1b"
bytes=$(stat -c %s "$model/model.safetensors")
budget=$("$work/mlmf-run" version >/dev/null; python3 -c "
import re,sys
s='$MEMORY'; m=re.match(r'([0-9.]+)\s*([A-Za-z]*)$', s)
u={'':1,'B':1,'K':1<<10,'M':1<<20,'G':1<<30,'KIB':1<<10,'MIB':1<<20,'GIB':1<<30,'KB':1e3,'MB':1e6,'GB':1e9}[m.group(2).upper()]
print(int(float(m.group(1))*u))")
limit_kb=$(( (budget + 200*1024*1024) / 1024 ))

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; load $(cut -d' ' -f1 /proc/loadavg)"
echo "input: $model, $(( bytes / 1000000 )) MB BF16 safetensors; budget --memory $MEMORY, threads $THREADS"
cat "$model/model.safetensors" >/dev/null   # warm the page cache for every run alike

measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$work/time.txt")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
  printf '%-34s wall %-9s peak RSS %6d MiB\n' "$name" "$wall" $((rss / 1024))
  if [[ $name == mlmf-run* ]] && (( rss > limit_kb )); then
    echo "FAIL: $name peak RSS $((rss/1024)) MiB exceeds budget + 200 MiB ($((limit_kb/1024)) MiB)"; exit 1
  fi
}

measure "cp (plain copy of the same bytes)" cp "$model/model.safetensors" "$work/copy.bin"
rm -f "$work/copy.bin"
for t in BF16 F16 Q8_0; do
  measure "mlmf-run convert --type $t" "$work/mlmf-run" convert "$model" -o "$work/out-$t.gguf" --type "$t" -q -j "$THREADS" --memory "$MEMORY"
  [[ $t == BF16 ]] || rm -f "$work/out-$t.gguf"*
done
cat > "$work/gguf-q.yaml" <<'YAML'
version: 1
vars: {model: null, out: null}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: q, kind: quantize, inputs: [src], with: {type: Q8_0}}
  - {id: out, kind: export, inputs: [q], with: {path: "${out}"}}
YAML
cat "$work/out-BF16.gguf" >/dev/null
measure "mlmf-run BF16 GGUF -> Q8_0" "$work/mlmf-run" "$work/gguf-q.yaml" --set model="$work/out-BF16.gguf" --set out="$work/q8.gguf" -q -j "$THREADS" --memory "$MEMORY"
rm -f "$work/out-BF16.gguf"* "$work/q8.gguf"*
measure "mlmf-run convert --type $MATRIX" "$work/mlmf-run" convert "$model" -o "$work/m-{type}.gguf" --type "$MATRIX" -q -j "$THREADS" --memory "$MEMORY"
echo "all mlmf-run runs stayed within --memory $MEMORY + 200 MiB"
