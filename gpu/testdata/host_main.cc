// Host harness for gpu/host_test.go: runs one kernel of gpu/kernels on the
// CPU, one "thread" at a time. Usage: host_main KERNEL NBLOCKS OUTBYTES
// < input > output, or host_main merge ... (see merge). Built with -ffp-contract=off, so the arithmetic is the
// kernels' own, as nvcc -fmad=false compiles it for the GPU.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

long long mlmf_thread;

#include "../kernels/convert.cu"
#include "../kernels/kquants.cu"
#include "../kernels/legacy.cu"
#include "../kernels/lora.cu"

typedef void (*kernel)(const u8*, u8*, i64);

#define K3(N) {#N "_from_f32", N##_from_f32}, {#N "_from_f16", N##_from_f16}, {#N "_from_bf16", N##_from_bf16}
static const struct {
  const char* name;
  kernel fn;
} kernels[] = {K3(f32),  K3(f16),  K3(bf16), K3(q4_0), K3(q4_1), K3(q5_0), K3(q5_1),
               K3(q8_0), K3(q2_k), K3(q3_k), K3(q4_k), K3(q5_k), K3(q6_k)};

static std::vector<u8> readAll() {
  std::vector<u8> in;
  u8 buf[1 << 16];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, stdin)) > 0) in.insert(in.end(), buf, buf + got);
  return in;
}

static kernel find(const char* name) {
  for (auto& k : kernels)
    if (!strcmp(k.name, name)) return k.fn;
  fprintf(stderr, "no kernel %s\n", name);
  exit(2);
}

// merge SRC OUT ROWS COLS NDELTA < base rows, then per delta: int32 rank,
// float32 scale, float32 weight, int32 round, int32 apply_weight, L, R.
// Runs what the GPU worker launches: decode to float32, each delta, encode.
static int merge(char** argv) {
  long long rows = atoll(argv[4]), cols = atoll(argv[5]), nd = atoll(argv[6]), n = rows * cols;
  std::vector<u8> in = readAll();
  std::vector<u8> acc(4 * n);
  kernel dec = find((std::string("f32_from_") + argv[2]).c_str());
  size_t inBytes = n * (strcmp(argv[2], "f32") ? 2 : 4);
  for (mlmf_thread = 0; mlmf_thread < n; mlmf_thread++) dec(in.data(), acc.data(), n);
  size_t at = inBytes;
  for (long long d = 0; d < nd; d++) {
    int hdr[5];
    memcpy(hdr, &in[at], 20);
    at += 20;
    float scale, weight;
    memcpy(&scale, &hdr[1], 4);
    memcpy(&weight, &hdr[2], 4);
    const float* L = (const float*)&in[at];
    at += 4 * rows * hdr[0];
    const float* R = (const float*)&in[at];
    at += 4 * (size_t)hdr[0] * cols;
    for (mlmf_thread = 0; mlmf_thread < n; mlmf_thread++)
      lora_delta((float*)acc.data(), L, R, rows, cols, hdr[0], scale, weight, hdr[3], hdr[4]);
  }
  std::vector<u8> out(n * (strcmp(argv[3], "f32") ? 2 : 4));
  if (!strcmp(argv[3], "f32")) {
    out = acc;
  } else {
    kernel enc = find((std::string(argv[3]) + "_from_f32").c_str());
    for (mlmf_thread = 0; mlmf_thread < n; mlmf_thread++) enc(acc.data(), out.data(), n);
  }
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 7 && !strcmp(argv[1], "merge")) return merge(argv);
  if (argc != 4) {
    fprintf(stderr, "usage: %s KERNEL NBLOCKS OUTBYTES < in > out\n", argv[0]);
    return 2;
  }
  kernel fn = find(argv[1]);
  long long n = atoll(argv[2]), outBytes = atoll(argv[3]);
  std::vector<u8> in = readAll();
  std::vector<u8> out(outBytes);
  for (mlmf_thread = 0; mlmf_thread < n; mlmf_thread++) fn(in.data(), out.data(), n);
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
