#!/usr/bin/env bash
# Builds, here, what proves the GPU path on a machine with an NVIDIA GPU
# (docs/gpu.md): static test binaries with -tags cuda (no cgo, no CUDA
# toolkit), into DIR (default bin/gpu-check). Then, on the GPU machine, from
# the repository root with DIR and the corpus beside it:
#
#   MLMF_GPU_REQUIRED=1 DIR/gpu.test -test.run 'OnGPU' -test.v      # 10^7 blocks a type, LoRA
#   MLMF_GPU_REQUIRED=1 DIR/gpu.test -test.run '^$' -test.bench Encode
#   MLMF_CORPUS=... DIR/conformance.test -test.run 'Quantize|Matrix|MergeLora'  # corpus, on the GPU (auto)
#   DIR/mlmf-run convert MODEL --type Q4_K_M -o out.gguf --device cuda
#
# gpu.test must be run from gpu/ (its tests read kernels/ and testdata/).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bin/gpu-check}
mkdir -p "$dir"
CGO_ENABLED=0 go test -tags cuda -c -o "$dir/gpu.test" ./gpu/
CGO_ENABLED=0 go test -tags cuda -c -o "$dir/conformance.test" ./conformance/
CGO_ENABLED=0 go build -tags cuda -o "$dir/mlmf-run" ./cmd/mlmf-run
ls -la "$dir"
