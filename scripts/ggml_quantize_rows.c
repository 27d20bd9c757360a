// ggml_quantize_rows: quantize float32 rows with ggml's own
// ggml_quantize_chunk, the kernel llama-quantize calls per tensor, and write
// the encoded bytes. The byte-identity tests of tensor/quant (iqref_test.go)
// build it against the ggml libraries of ../shared/tools/build-llama-tools.sh
// and compare our quantizers with it row by row.
//   ggml_quantize_rows TYPE N_PER_ROW ROWS.f32 WEIGHTS.f32|- [TYPE N_PER_ROW ROWS.f32 WEIGHTS.f32|-]... > OUT.bin
// Each quadruple is one call, the outputs concatenated (one process for
// all: ggml's IQ1 tables take seconds to build). ROWS.f32 holds whole rows
// of little-endian float32; WEIGHTS.f32 holds N_PER_ROW importance weights
// shared by every row (an imatrix entry), "-" none. TYPE is a ggml type name
// as ggml_type_name spells it (iq4_nl, iq2_xxs, ...). A TYPE written
// dequant:TYPE decodes instead: ROWS holds TYPE's bytes, the output is
// float32 from ggml's to_float, and WEIGHTS must be "-".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml.h"

static void *slurp_bytes(const char *path, long *size);

static float *slurp(const char *path, long *n) {
    long size = 0;
    float *buf = slurp_bytes(path, &size);
    *n = size / (long)sizeof(float);
    return buf;
}

static void *slurp_bytes(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(size ? size : 1);
    if (!buf || fread(buf, 1, size, f) != (size_t)size) { fprintf(stderr, "%s: short read\n", path); fclose(f); return NULL; }
    fclose(f);
    *n = size;
    return buf;
}

static int parse_type(const char *s) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char *name = ggml_type_name((enum ggml_type)t);
        if (name && strcmp(name, s) == 0) return t;
    }
    fprintf(stderr, "unknown ggml type %s\n", s);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 5 || (argc - 1) % 4 != 0) {
        fprintf(stderr, "usage: %s TYPE N_PER_ROW ROWS.f32 WEIGHTS.f32|- ...\n", argv[0]);
        return 2;
    }
    for (int a = 1; a < argc; a += 4) {
        if (strncmp(argv[a], "dequant:", 8) == 0) {
            int type = parse_type(argv[a] + 8);
            if (type < 0) return 2;
            long n = atol(argv[a+1]), nb = 0;
            void *q = slurp_bytes(argv[a+2], &nb);
            if (!q) return 1;
            size_t rs = ggml_row_size((enum ggml_type)type, n);
            if (n <= 0 || nb % rs != 0) { fprintf(stderr, "%ld bytes are not whole rows of %ld %s\n", nb, n, argv[a]); return 2; }
            long nel = nb / rs * n;
            float *y = malloc(sizeof(float) * (nel ? nel : 1));
            ggml_get_type_traits((enum ggml_type)type)->to_float(q, y, nel);
            fwrite(y, sizeof(float), nel, stdout);
            free(q); free(y);
            continue;
        }
        int type = parse_type(argv[a]);
        if (type < 0) return 2;
        long n = atol(argv[a+1]), nx = 0, nw = 0;
        float *x = slurp(argv[a+2], &nx), *w = NULL;
        if (!x) return 1;
        if (strcmp(argv[a+3], "-") != 0 && !(w = slurp(argv[a+3], &nw))) return 1;
        if (n <= 0 || nx % n != 0 || (w && nw != n)) {
            fprintf(stderr, "%ld floats are not whole rows of %ld, or %ld weights\n", nx, n, nw);
            return 2;
        }
        long nrows = nx / n;
        size_t size = ggml_row_size((enum ggml_type)type, n) * nrows;
        void *q = malloc(size ? size : 1);
        ggml_quantize_init((enum ggml_type)type);
        size_t got = ggml_quantize_chunk((enum ggml_type)type, x, q, 0, nrows, n, w);
        if (got != size) { fprintf(stderr, "ggml wrote %zu bytes, want %zu\n", got, size); return 1; }
        fwrite(q, 1, size, stdout);
        free(q); free(x); free(w);
    }
    return 0;
}
