#!/usr/bin/env bash
# Peak memory and time of converting a generated >=2 GB checkpoint, against
# the memory budget and against a plain copy of the same bytes.
#
#   bash scripts/bench-memory.sh            # budget 512MiB, 2 threads
#   MEMORY=256MiB THREADS=2 bash scripts/bench-memory.sh
#
# Generates a TinyLlama-1.1B-shaped BF16 model (2.2 GB) with the project's
# generator, converts it HF -> GGUF at BF16 (pass-through), F16 (re-encoded)
# and Q8_0 under /usr/bin/time -v, and fails if any run's peak RSS exceeds
# the budget + 200 MiB. Everything it writes is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MEMORY=${MEMORY:-512MiB}
THREADS=${THREADS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/mlmf-bench-mem.XXXXXX")
trap 'rm -rf "$work"' EXIT

go build -o "$work/mlmf-run" ./cmd/mlmf-run
go run ./testdata/gen -preset 1b -out "$work/llama-1b" >/dev/null
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
  rm -f "$work/out-$t.gguf"*
done
echo "all mlmf-run runs stayed within --memory $MEMORY + 200 MiB"
