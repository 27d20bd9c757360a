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
// the keys our file adds by design, each checked against the model's own
// config.json:
//   - {arch}.attention.sliding_window_pattern, written where the layer_types
//     differ from the pattern llama.cpp assumes and the converter writes
//     none (arch.Table.LlamaSWAPeriod): layer by layer what layer_types (or
//     text_config's) say;
//   - exaone.attention.layer_norm_rms_epsilon, which llama.cpp's exaone
//     requires and the converter does not write: layer_norm_epsilon.
//
// It reports whether the sliding-window pattern was there.
func matchesConverter(t *testing.T, out, ref, model string, ignore ...string) bool {
	t.Helper()
	key := swaPatternBeyond(t, out, ref, model)
	if key != "" {
		ignore = append(ignore, key)
	}
	if k := exaoneEpsBeyond(t, out, ref, model); k != "" {
		ignore = append(ignore, k)
	}
	matchesReference(t, out, ref, ignore...)
	return key != ""
}

// exaoneEpsBeyond checks the RMS epsilon an EXAONE 3 file of ours carries
// beyond the converter's and returns its key ("" when there is none).
func exaoneEpsBeyond(t *testing.T, out, ref, model string) string {
	t.Helper()
	const key = "exaone.attention.layer_norm_rms_epsilon"
	v, ok := extraKey(t, out, ref, func(*gguf.Meta) string { return key })
	if !ok {
		return ""
	}
	var cfg struct {
		Eps *float64 `json:"layer_norm_epsilon"`
	}
	readConfig(t, model, &cfg)
	if got, ok := v.V.(float32); !ok || cfg.Eps == nil || got != float32(*cfg.Eps) {
		t.Errorf("%s = %v; config.json's layer_norm_epsilon %v", key, v.V, cfg.Eps)
	}
	return key
}

func swaPatternBeyond(t *testing.T, out, ref, model string) string {
	t.Helper()
	var key string
	v, ok := extraKey(t, out, ref, func(m *gguf.Meta) string {
		arch, _ := m.Str("general.architecture")
		key = arch + ".attention.sliding_window_pattern"
		return key
	})
	if !ok {
		return ""
	}
	var cfg struct {
		LayerTypes []string `json:"layer_types"`
		Text       struct {
			LayerTypes []string `json:"layer_types"`
		} `json:"text_config"`
	}
	readConfig(t, model, &cfg)
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

// extraKey is our file's value of the key (named from our metadata) when
// the converter's reference lacks it; ok is false otherwise.
func extraKey(t *testing.T, out, ref string, name func(*gguf.Meta) string) (gguf.Value, bool) {
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
	key := name(f.Meta)
	v, ours := f.Meta.Get(key)
	if _, conv := r.KV[key]; conv || !ours {
		return gguf.Value{}, false
	}
	return v, true
}

func readConfig(t *testing.T, model string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
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
