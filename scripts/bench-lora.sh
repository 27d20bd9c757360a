#!/usr/bin/env bash
# Time and peak memory of merging an r=16 LoRA adapter on every projection
# (q, k, v, o, gate, up, down of all 22 layers) into a generated
# TinyLlama-1.1B-shaped BF16 model, streaming to a BF16 safetensors file.
#
#   bash scripts/bench-lora.sh             # budget 512MiB, 2 threads
#   MEMORY=256MiB THREADS=2 bash scripts/bench-lora.sh
#   BASE=/path/to/llama-1b bash scripts/bench-lora.sh   # reuse a generated base
#
# The base comes from the project's generator (testdata/gen, 2.2 GB); the
# adapter (random A and B, F32, PEFT key layout) is written below with the
# Python standard library. Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MEMORY=${MEMORY:-512MiB}
THREADS=${THREADS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/mlmf-bench-lora.XXXXXX")
trap 'rm -rf "$work"' EXIT

go build -o "$work/mlmf-run" ./cmd/mlmf-run
base=${BASE:-$work/base}
[ -n "${BASE:-}" ] || go run ./testdata/gen -preset 1b -out "$base" >/dev/null
python3 - "$work/lora" <<'EOF'
import json, os, random, struct, sys
from array import array
out = sys.argv[1]; os.makedirs(out)
H, F, KV, L, R = 2048, 5632, 256, 22, 16
shapes = {"self_attn.q_proj": (H, H), "self_attn.k_proj": (KV, H), "self_attn.v_proj": (KV, H),
          "self_attn.o_proj": (H, H), "mlp.gate_proj": (F, H), "mlp.up_proj": (F, H), "mlp.down_proj": (H, F)}
rnd = random.Random(1)
pool = array("f", [rnd.uniform(-0.02, 0.02) for _ in range(1 << 20)])
def floats(n, off):
    a = array("f")
    while len(a) < n:
        a.extend(pool[off % len(pool):][: n - len(a)]); off += 7919
    return a
tensors = {}
for l in range(L):
    for m, (o, i) in shapes.items():
        k = f"base_model.model.model.layers.{l}.{m}"
        tensors[k + ".lora_A.weight"] = (R, i)
        tensors[k + ".lora_B.weight"] = (o, R)
header, off = {"__metadata__": {"format": "pt"}}, 0
for k in sorted(tensors):
    n = tensors[k][0] * tensors[k][1] * 4
    header[k] = {"dtype": "F32", "shape": list(tensors[k]), "data_offsets": [off, off + n]}; off += n
h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * (-len(h) % 8)
with open(os.path.join(out, "adapter_model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for j, k in enumerate(sorted(tensors)):
        f.write(floats(tensors[k][0] * tensors[k][1], j * 104729).tobytes())
json.dump({"peft_type": "LORA", "r": R, "lora_alpha": 32, "target_modules": [m.split(".")[1] for m in shapes],
           "fan_in_fan_out": False, "use_rslora": False, "use_dora": False}, open(os.path.join(out, "adapter_config.json"), "w"))
EOF
base_bytes=$(stat -c %s "$base/model.safetensors")
lora_bytes=$(stat -c %s "$work/lora/adapter_model.safetensors")
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; load $(cut -d' ' -f1 /proc/loadavg)"
echo "base: $(( base_bytes / 1000000 )) MB BF16; adapter: $(( lora_bytes / 1000000 )) MB F32 (r=16, 154 modules); budget --memory $MEMORY, threads $THREADS"
cat "$base/model.safetensors" >/dev/null   # warm the page cache
for i in $(seq "${REPEAT:-3}"); do
  rm -f "$work"/merged.safetensors*
  /usr/bin/time -v "$work/mlmf-run" -q --memory "$MEMORY" -j "$THREADS" recipes/merge-lora.yaml \
    --set base="$base" --set adapter="$work/lora" --set out="$work/merged.safetensors" 2>"$work/time.txt"
  wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$work/time.txt")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
  cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$work/time.txt")
  echo "merge-lora run $i: wall $wall, CPU $cpu, peak RSS $((rss / 1024)) MiB, output $(( $(stat -c %s "$work/merged.safetensors") / 1000000 )) MB, load $(cut -d' ' -f1 /proc/loadavg)"
done
