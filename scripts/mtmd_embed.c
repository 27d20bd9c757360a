// Encodes one fixed test image with llama.cpp's libmtmd, from a text GGUF and
// its mmproj GGUF, and writes what llama.cpp computes: the image embeddings
// (every image chunk's, float32, concatenated) and the logits of the last
// position of a short text that the text model decodes after them. Used to
// check that llama.cpp loads both files mlmf-run writes and that our mmproj
// gives the embeddings the converter's gives.
//   cc -O2 -I$LLAMA_SRC/include -I$LLAMA_SRC/ggml/include -I$LLAMA_SRC/tools/mtmd mtmd_embed.c
//      -L$LLAMA_TOOLS -lmtmd -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA_TOOLS -o mtmd_embed
//   mtmd_embed text.gguf mmproj.gguf embd.f32 logits.f32
// The image is a deterministic 64x64 RGB gradient, so no image file or
// decoder is involved.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int write_floats(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof(float), n, f) != n || fclose(f) != 0) { perror(path); return 1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s text.gguf mmproj.gguf embd.f32 logits.f32\n", argv[0]); return 2; }
    llama_log_set(quiet, NULL);
    mtmd_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "llama.cpp could not load %s\n", argv[1]); return 1; }
    struct mtmd_context_params p = mtmd_context_params_default();
    p.use_gpu = false; p.print_timings = false; p.n_threads = 1; p.warmup = false;
    mtmd_context *mctx = mtmd_init_from_file(argv[2], model, p);
    if (!mctx) { fprintf(stderr, "libmtmd could not load %s\n", argv[2]); return 1; }

    enum { W = 64, H = 64 };
    static unsigned char rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *px = rgb + 3 * (y * W + x);
            px[0] = (unsigned char)(4 * x); px[1] = (unsigned char)(4 * y); px[2] = (unsigned char)((x * y) & 255);
        }
    mtmd_bitmap *bmp = mtmd_bitmap_init(W, H, rgb);
    char prompt[256];
    snprintf(prompt, sizeof prompt, "look %s here", mtmd_default_marker());
    mtmd_input_text txt = {prompt, strlen(prompt), true, true};
    mtmd_input_chunks *chunks = mtmd_input_chunks_init();
    const mtmd_bitmap *bmps[1] = {bmp};
    if (mtmd_tokenize(mctx, chunks, &txt, bmps, 1) != 0) { fprintf(stderr, "mtmd_tokenize failed\n"); return 1; }

    int n_embd = llama_model_n_embd_inp(model);
    size_t cap = 0, n = 0;
    float *all = NULL;
    int images = 0;
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks); i++) {
        const mtmd_input_chunk *c = mtmd_input_chunks_get(chunks, i);
        if (mtmd_input_chunk_get_type(c) != MTMD_INPUT_CHUNK_TYPE_IMAGE) continue;
        if (mtmd_encode_chunk(mctx, c) != 0) { fprintf(stderr, "mtmd_encode_chunk failed\n"); return 1; }
        size_t k = (size_t)n_embd * mtmd_input_chunk_get_n_tokens(c);
        if (n + k > cap) { cap = 2 * (n + k); all = realloc(all, cap * sizeof(float)); }
        memcpy(all + n, mtmd_get_output_embd(mctx), k * sizeof(float));
        n += k; images++;
    }
    if (images == 0) { fprintf(stderr, "no image chunk\n"); return 1; }
    if (write_floats(argv[3], all, n)) return 1;

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 1; cp.n_threads_batch = 1;
    struct llama_context *lctx = llama_init_from_model(model, cp);
    if (!lctx) { fprintf(stderr, "context failed\n"); return 1; }
    // Only the image chunks are decoded: the text mtmd puts around an
    // Idefics3 image (<fake_token_around_image>, <global-img>) needs tokens
    // a tiny test vocabulary may not have.
    llama_pos n_past = 0;
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks); i++) {
        const mtmd_input_chunk *c = mtmd_input_chunks_get(chunks, i);
        if (mtmd_input_chunk_get_type(c) != MTMD_INPUT_CHUNK_TYPE_IMAGE) continue;
        if (mtmd_helper_eval_chunk_single(mctx, lctx, c, n_past, 0, 512, true, &n_past) != 0) {
            fprintf(stderr, "decoding image chunk %zu failed\n", i); return 1;
        }
    }
    // Image tokens yield no logits: decode a few text tokens after them and
    // keep the last position's.
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const char *after = " describe it";
    llama_token toks[32];
    int nt = llama_tokenize(vocab, after, (int32_t)strlen(after), toks, 32, false, false);
    if (nt <= 0) { fprintf(stderr, "tokenizing failed\n"); return 1; }
    struct llama_batch b = llama_batch_init(nt, 0, 1);
    for (int i = 0; i < nt; i++) {
        b.token[i] = toks[i]; b.pos[i] = n_past + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = i == nt - 1;
    }
    b.n_tokens = nt;
    if (llama_decode(lctx, b) != 0) { fprintf(stderr, "llama_decode failed\n"); return 1; }
    n_past += nt;
    llama_batch_free(b);
    int n_vocab = llama_vocab_n_tokens(vocab);
    const float *logits = llama_get_logits_ith(lctx, -1);
    if (!logits) { fprintf(stderr, "no logits\n"); return 1; }
    for (int i = 0; i < n_vocab; i++)
        if (!isfinite(logits[i])) { fprintf(stderr, "logit %d is %f\n", i, logits[i]); return 1; }
    if (write_floats(argv[4], logits, (size_t)n_vocab)) return 1;
    printf("{\"image_chunks\": %d, \"embd_floats\": %zu, \"n_embd\": %d, \"positions\": %d, \"n_vocab\": %d}\n",
           images, n, n_embd, (int)n_past, n_vocab);
    mtmd_input_chunks_free(chunks);
    mtmd_bitmap_free(bmp);
    llama_free(lctx);
    mtmd_free(mctx);
    llama_model_free(model);
    free(all);
    return 0;
}
