package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// matchesConverter is matchesReference against a converter's file, allowing
// the one key our file adds by design: {arch}.attention.sliding_window_pattern,
// written where the model's layer_types differ from the pattern llama.cpp
// assumes and the converter writes none (arch.Table.LlamaSWAPeriod). The
// key must then say, layer by layer, what model's config.json says (its
// layer_types, or its text_config's). It reports whether the key was there.
func matchesConverter(t *testing.T, out, ref, model string, ignore ...string) bool {
	t.Helper()
	key := swaPatternBeyond(t, out, ref, model)
	if key != "" {
		ignore = append(ignore, key)
	}
	matchesReference(t, out, ref, ignore...)
	return key != ""
}

func swaPatternBeyond(t *testing.T, out, ref, model string) string {
	t.Helper()
	r, err := corpus.LoadReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	f, c, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	arch, _ := f.Meta.Str("general.architecture")
	key := arch + ".attention.sliding_window_pattern"
	v, ours := f.Meta.Get(key)
	if _, conv := r.KV[key]; conv || !ours {
		return ""
	}
	var cfg struct {
		LayerTypes []string `json:"layer_types"`
		Text       struct {
			LayerTypes []string `json:"layer_types"`
		} `json:"text_config"`
	}
	b, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	lt := cfg.LayerTypes
	if lt == nil {
		lt = cfg.Text.LayerTypes
	}
	got, _ := v.V.([]bool)
	want := make([]bool, len(lt))
	for i, s := range lt {
		want[i] = s == "sliding_attention"
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
		t.Errorf("%s = %v; config.json's layer_types %v", key, got, lt)
	}
	return key
}

// withoutKey writes a copy of the GGUF in without key: our file as the
// converter writes it, for comparisons with what llama.cpp computed from
// the converter's own file.
func withoutKey(t *testing.T, in, key string) string {
	t.Helper()
	f, c, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := f.Meta.Clone()
	m.Delete(key)
	out := filepath.Join(t.TempDir(), filepath.Base(in))
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := gguf.Write(w, m, f.Tensors); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
