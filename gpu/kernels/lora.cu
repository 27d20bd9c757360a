// LoRA delta merge into float32 rows, as stages/lora merges on the CPU: for
// each element, ΔW[r][i] = Σ_k L[r][k]·R[k][i] accumulated in k order with
// one fused multiply-add per step, computed in double and rounded to float
// (math.FMA of float32 operands, then float32()), times scale, rounded to
// the adapter's dtype, times the recipe weight when it is not 1, and added
// to the row. One element per thread; several deltas are several launches,
// in order. Transposed deltas (embeddings, fan_in_fan_out) arrive with L
// and R already transposed, as the CPU's factors are.
#include "common.cuh"

#define ROUND_F32 0
#define ROUND_F16 1
#define ROUND_BF16 2

KDEV float round_to(int t, float v) {
  if (t == ROUND_BF16) return u2f((u32)bf16(v) << 16);
  if (t == ROUND_F16) return f16_load(f16(v));
  return v;
}

// lora_delta adds one delta to rows x rows of cols float32 values in acc;
// L is rows x rank (this batch's rows), R rank x cols.
KERNEL lora_delta(float* acc, const float* L, const float* R, i64 rows, i64 cols, int rank, float scale,
                  float weight, int round, int apply_weight) {
  i64 e = THREAD_ID;
  if (e >= rows * cols) return;
  i64 r = e / cols, i = e % cols;
  float d = 0;
  for (int k = 0; k < rank; k++) d = (float)kfma((double)L[r * rank + k], (double)R[(i64)k * cols + i], (double)d);
  float v = round_to(round, d * scale);
  if (apply_weight) v = v * weight;
  acc[e] = acc[e] + v;
}
