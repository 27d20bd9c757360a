// llama_quantize: quantize a GGUF with llama.cpp's own llama_model_quantize,
// the code path of llama-quantize, with an importance matrix or without.
// Used by scripts/bench-quant.sh as the reference to time and compare
// against.
//   llama_quantize IN.gguf OUT.gguf TYPE NTHREADS [IMATRIX]
// IMATRIX is a GGUF imatrix (llama-imatrix's format today) or a legacy .dat
// one, applied as llama-quantize --imatrix applies it: each entry's sums
// divided by its count (per expert in a GGUF one; 1 where the count is 0),
// a legacy entry's by its ncall. Its metadata keys (quantize.imatrix.*) are
// not written: only the tensors are compared.
//   llama_quantize --kernels     one-thread MB/s of ggml's Q8_0, Q2_K, Q4_K, Q6_K
//                                quantizers on 4096x4096 N(0, 0.02) floats
// TYPE is a llama-quantize name (Q4_K_M, Q8_0, ...). Built by the script
// against the npm-prebuilt libllama (../shared/tools/setup-llama.sh).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include "llama.h"
#include "ggml-backend.h"
#include "gguf.h"

static const struct { const char *name; enum llama_ftype ftype; } types[] = {
    {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
    {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},     {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},
    {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},     {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
    {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S}, {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S},
    {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L},
    {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
    {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M},
    {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},     {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS},
    {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL},
};

// kernels times ggml_quantize_chunk (no importance matrix: the reference
// quantizers llama-quantize runs) like BenchmarkQuantize in tensor/quant.
static int kernels(void) {
    const int n = 4096 * 4096;
    float *x = malloc(sizeof(float) * n);
    void *q = malloc(sizeof(float) * n);
    if (!x || !q) return 1;
    srand(1);
    for (int i = 0; i < n; i++) {
        double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
        x[i] = (float)(0.02 * sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
    }
    const enum ggml_type ts[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    for (int k = 0; k < 4; k++) {
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            ggml_quantize_chunk(ts[k], x, q, 0, 4096, 4096, NULL);
            clock_gettime(CLOCK_MONOTONIC, &b);
            double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
            if (s < best) best = s;
        }
        printf("ggml %s: %.1f MB/s of float32 input, best of 3\n", ggml_type_name(ts[k]), 4.0 * n / best / 1e6);
    }
    return 0;
}

// imatrix holds the loaded entries, terminated by one with a NULL name, as
// llama_model_quantize_params.imatrix wants them.
static struct llama_model_imatrix_data *imatrix;
static int nimatrix;

static void add_entry(const char *name, size_t nlen, float *data, size_t size) {
    imatrix = realloc(imatrix, sizeof *imatrix * (nimatrix + 2));
    char *n = malloc(nlen + 1);
    if (!imatrix || !n) { fprintf(stderr, "out of memory\n"); exit(1); }
    memcpy(n, name, nlen);
    n[nlen] = 0;
    imatrix[nimatrix++] = (struct llama_model_imatrix_data){n, data, size};
    imatrix[nimatrix] = (struct llama_model_imatrix_data){NULL, NULL, 0};
}

static int fail(const char *path, const char *what) {
    fprintf(stderr, "%s: %s\n", path, what);
    return 1;
}

// load_legacy reads a .dat imatrix: int32 entry count, then per entry the
// name (int32 length, bytes), int32 ncall, int32 nval, nval float32 sums.
static int load_legacy(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return fail(path, "cannot open");
    int32_t n;
    if (fread(&n, 4, 1, f) != 1 || n < 1) return fail(path, "no entries");
    for (int32_t i = 0; i < n; i++) {
        int32_t len, ncall, nval;
        char name[4096];
        if (fread(&len, 4, 1, f) != 1 || len < 0 || len >= (int32_t)sizeof name || fread(name, 1, len, f) != (size_t)len ||
            fread(&ncall, 4, 1, f) != 1 || fread(&nval, 4, 1, f) != 1 || nval < 1)
            return fail(path, "truncated or malformed entry");
        float *e = malloc(sizeof(float) * nval);
        if (!e || fread(e, 4, nval, f) != (size_t)nval) return fail(path, "truncated entry data");
        if (ncall > 0)
            for (int32_t j = 0; j < nval; j++) e[j] /= (float)ncall;
        add_entry(name, len, e, nval);
    }
    fclose(f);
    return 0;
}

// load_imatrix reads a GGUF imatrix (tensors NAME.in_sum2 and NAME.counts,
// F32), or a legacy one when the file is not a GGUF.
static int load_imatrix(const char *path) {
    struct ggml_context *ctx = NULL;
    struct gguf_init_params gp = {false, &ctx};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) return load_legacy(path);
    const char *suffix = ".in_sum2";
    for (struct ggml_tensor *t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) {
        size_t len = strlen(t->name), sl = strlen(suffix);
        if (len <= sl || strcmp(t->name + len - sl, suffix) != 0) continue;
        char cname[GGML_MAX_NAME + 8];
        snprintf(cname, sizeof cname, "%.*s.counts", (int)(len - sl), t->name);
        struct ggml_tensor *c = ggml_get_tensor(ctx, cname);
        if (!c || t->type != GGML_TYPE_F32 || c->type != GGML_TYPE_F32) return fail(path, "sums without F32 counts");
        int64_t nval = ggml_nelements(t), ncounts = ggml_nelements(c), ne0 = nval / ncounts;
        float *e = malloc(sizeof(float) * nval);
        if (!e) return fail(path, "out of memory");
        for (int64_t j = 0; j < ncounts; j++) {
            float count = (float)lroundf(((const float *)c->data)[j]);
            for (int64_t i = 0; i < ne0; i++)
                e[j * ne0 + i] = count > 0 ? ((const float *)t->data)[j * ne0 + i] / count : 1;
        }
        add_entry(t->name, len - sl, e, nval);
    }
    gguf_free(g);
    ggml_free(ctx);
    if (nimatrix == 0) return fail(path, "no imatrix entries");
    return 0;
}

static void quiet(enum ggml_log_level level, const char *text, void *ud) { (void)level; (void)text; (void)ud; }

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--kernels") == 0) return kernels();
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE NTHREADS [IMATRIX]\n", argv[0]); return 2; }
    int ft = -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(argv[3], types[i].name) == 0) ft = types[i].ftype;
    if (ft < 0) { fprintf(stderr, "unknown type %s\n", argv[3]); return 2; }
    if (!getenv("LLAMA_QUANTIZE_VERBOSE")) llama_log_set(quiet, NULL);
    llama_backend_init();
    // The npm prebuilt build loads its CPU backends at run time.
    const char *dir = getenv("GGML_BACKEND_DIR");
    if (dir) ggml_backend_load_all_from_path(dir); else ggml_backend_load_all();
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (enum llama_ftype)ft;
    p.nthread = atoi(argv[4]);
    if (argc == 6) {
        if (load_imatrix(argv[5]) != 0) return 1;
        p.imatrix = imatrix;
    }
    uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    llama_backend_free();
    if (rc != 0) { fprintf(stderr, "llama_model_quantize failed: %u\n", rc); return 1; }
    return 0;
}
