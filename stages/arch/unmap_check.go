package arch

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// checkGGUF holds a GGUF's metadata against its tensors before anything
// is unmapped, as Check holds a config.json against its checkpoint: what
// config.json gets from the metadata must describe the tensors, or
// transformers builds a different model (or none) from the folder. The
// blocks present are exactly 0..block_count-1, the embedding width is
// token_embd's row length, head counts are positive, special token ids
// fall inside the embedding, and no float is NaN or infinite.
func (a *Arch) checkGGUF(meta *gguf.Meta, tensors []*tensor.Desc) error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	emb, maxBid := scanGGUF(tensors)
	if emb == nil {
		bad("no token_embd.weight: a model without its token embedding (2-D) is not one transformers can load")
	}
	if k := a.fullKey("block_count"); hasKey(meta, k) {
		if n, ok := meta.Uint(k); !ok || int64(n) != maxBid+1 {
			bad("%s is %s but the tensors have blocks 0..%d", k, show(meta, k), maxBid)
		}
	}
	if k := a.fullKey("embedding_length"); hasKey(meta, k) && emb != nil {
		if n, ok := meta.Uint(k); !ok || int64(n) != emb.Shape[1] {
			bad("%s is %s but token_embd.weight has rows of %d", k, show(meta, k), emb.Shape[1])
		}
	}
	for _, k := range []string{a.fullKey("attention.head_count"), a.fullKey("attention.head_count_kv")} {
		if n, ok := meta.Uint(k); hasKey(meta, k) && (!ok || n == 0) {
			bad("%s is %s, expected a positive count", k, show(meta, k))
		}
	}
	for _, kv := range meta.All() {
		switch {
		case strings.HasPrefix(kv.Key, "tokenizer.ggml.") && strings.HasSuffix(kv.Key, "_token_id") && emb != nil:
			if n, ok := meta.Uint(kv.Key); !ok || n >= uint64(emb.Shape[0]) {
				bad("%s is %s, past the %d rows of token_embd.weight", kv.Key, show(meta, kv.Key), emb.Shape[0])
			}
		case strings.HasPrefix(kv.Key, a.Arch+"."):
			if f, ok := nonFinite(kv.Value); ok {
				bad("%s is %v, expected a finite number", kv.Key, f)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: the GGUF metadata contradicts its tensors: %s", a.Arch, strings.Join(errs, "; "))
	}
	return nil
}

// scanGGUF finds the 2-D token embedding and the highest block number.
func scanGGUF(tensors []*tensor.Desc) (emb *tensor.Desc, maxBid int64) {
	maxBid = -1
	for _, d := range tensors {
		if d.Name == "token_embd.weight" && len(d.Shape) == 2 {
			emb = d
		}
		if rest, ok := strings.CutPrefix(d.Name, "blk."); ok {
			num, _, _ := strings.Cut(rest, ".")
			if b, err := strconv.ParseInt(num, 10, 64); err == nil && b > maxBid {
				maxBid = b
			}
		}
	}
	return emb, maxBid
}

func hasKey(meta *gguf.Meta, k string) bool {
	_, ok := meta.Get(k)
	return ok
}

func show(meta *gguf.Meta, k string) string {
	v, _ := meta.Get(k)
	return fmt.Sprint(v.V)
}

// nonFinite returns the first NaN or infinity in a float value or array.
func nonFinite(v gguf.Value) (float64, bool) {
	var fs []float64
	switch x := v.V.(type) {
	case float32:
		fs = []float64{float64(x)}
	case float64:
		fs = []float64{x}
	case []float32:
		for _, f := range x {
			fs = append(fs, float64(f))
		}
	case []float64:
		fs = x
	}
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}
