// Prints the token ids llama.cpp's tokenizer gives texts, from a GGUF loaded
// vocabulary-only: the check that a converted tokenizer (its
// tokenizer.ggml.pre above all) tokenizes as transformers does
// (stages/vocab TestRealTokenizersInLlamaCpp). Texts come on stdin, each
// ended by a NUL byte; one line of space-separated ids is printed per text.
// add_special is off (no BOS/EOS added); special and added tokens written in
// the text are matched, as transformers matches them.
//   cc -O2 -I$SRC/include -I$SRC/ggml/include llama_tokenize.c -L$LIB -lllama -o llama_tokenize
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *ud) { (void)level; (void)text; (void)ud; }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s vocab.gguf < NUL-ended texts\n", argv[0]); return 2; }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "%s: llama.cpp could not load the vocabulary\n", argv[1]); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int ncap = 1 << 16;
    llama_token *ids = malloc(sizeof(llama_token) * ncap);
    if (!text || !ids) { fprintf(stderr, "out of memory\n"); return 1; }
    for (int c; (c = getchar()) != EOF;) {
        if (c != 0) {
            if (len + 1 >= cap && !(text = realloc(text, cap *= 2))) { fprintf(stderr, "out of memory\n"); return 1; }
            text[len++] = (char)c;
            continue;
        }
        int n = llama_tokenize(vocab, text, (int32_t)len, ids, ncap, false, true);
        if (n < 0) { fprintf(stderr, "text of %zu bytes: more than %d tokens\n", len, ncap); return 1; }
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        len = 0;
    }
    if (len) { fprintf(stderr, "stdin: the last text is not ended by a NUL byte\n"); return 1; }
    llama_model_free(model);
    return 0;
}
