package lora

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

func TestScale(t *testing.T) {
	cfg := `{"r": 8, "lora_alpha": 16, "use_rslora": %s,
		"rank_pattern": {"layers.0.self_attn.q_proj": 4, "q_proj": 2},
		"alpha_pattern": {"proj": 100, "^model.layers.1.mlp.down_proj": 3}}`
	cases := []struct {
		rslora, module string
		rank           int
		alpha, scale   float64
	}{
		{"false", "model.layers.0.self_attn.q_proj", 4, 16, 4},       // first rank key wins
		{"false", "model.layers.1.self_attn.q_proj", 2, 16, 8},       // second key
		{"false", "model.layers.0.self_attn.v_proj", 8, 16, 2},       // "proj" only at a dot boundary
		{"false", "model.layers.1.mlp.down_proj", 8, 3, 3.0 / 8},     // anchored pattern
		{"false", "model.layers.11.mlp.down_proj", 8, 16, 2},         // ... that does not match layer 11
		{"true", "model.layers.0.self_attn.q_proj", 4, 16, 16 / 2.0}, // alpha / sqrt(r)
		{"true", "model.layers.0.mlp.up_proj", 8, 16, 16 / math.Sqrt(8)},
	}
	for _, c := range cases {
		conf, err := ParseConfig([]byte(strings.Replace(cfg, "%s", c.rslora, 1)), "test")
		if err != nil {
			t.Fatal(err)
		}
		rank, alpha, scale := conf.Scale(c.module)
		if rank != c.rank || alpha != c.alpha || math.Abs(scale-c.scale) > 1e-12 {
			t.Errorf("rslora=%s %s: rank %d alpha %g scale %g, want %d %g %g", c.rslora, c.module, rank, alpha, scale, c.rank, c.alpha, c.scale)
		}
	}
}

func TestTargets(t *testing.T) {
	list, err := ParseConfig([]byte(`{"r": 1, "lora_alpha": 1, "target_modules": ["q_proj", "mlp.up_proj"]}`), "t")
	if err != nil {
		t.Fatal(err)
	}
	re, err := ParseConfig([]byte(`{"r": 1, "lora_alpha": 1, "target_modules": ".*layers\\.1\\..*proj"}`), "t")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		c      *Config
		module string
		want   bool
	}{
		{list, "model.layers.0.self_attn.q_proj", true},
		{list, "model.layers.0.self_attn.qq_proj", false},
		{list, "model.layers.0.mlp.up_proj", true},
		{list, "q_proj", true},
		{re, "model.layers.1.self_attn.k_proj", true},
		{re, "model.layers.0.self_attn.k_proj", false},
	}
	for _, c := range cases {
		if got := c.c.Targets(c.module); got != c.want {
			t.Errorf("Targets(%s) = %v, want %v", c.module, got, c.want)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"lora_alpha": 1}`, "r: expected a positive integer rank"},
		{`{"r": 0, "lora_alpha": 1}`, "r: expected a positive integer rank"},
		{`{"r": 2.5, "lora_alpha": 1}`, "r: expected a positive integer rank"},
		{`{"r": 2}`, "lora_alpha: expected a finite number"},
		{`{"r": 2, "lora_alpha": 1, "peft_type": "IA3"}`, `"IA3" adapters cannot be merged as LoRA`},
		{`{"r": 2, "lora_alpha": 1, "rank_pattern": {"q": 0}}`, "rank_pattern: \"q\": rank 0"},
		{`{"r": 2, "lora_alpha": 1, "rank_pattern": {"(": 2}}`, "rank_pattern: \"(\""},
		{`{"r": 2, "lora_alpha": 1, "alpha_pattern": ["q"]}`, "alpha_pattern: expected an object"},
		{`{"r": 2, "lora_alpha": 1, "target_modules": 3}`, "target_modules: expected a string"},
		{`{"r": 2, "lora_alpha": 1, "trainable_token_indices": [1]}`, "trainable_token_indices: is set"},
		{`{"r": 2, `, "unexpected end"},
		// A finite alpha whose scale overflows float32, where merging
		// computes: every merged weight would be Inf.
		{`{"r": 8, "lora_alpha": 1e308}`, "lora_alpha: 1e+308 is out of range, expected |alpha| <= 1048576"},
		{`{"r": 8, "lora_alpha": -3e6}`, "lora_alpha: -3e+06 is out of range, expected |alpha| <= 1048576"},
		{`{"r": 8, "lora_alpha": 16, "alpha_pattern": {"q_proj": 1e39}}`, `alpha_pattern: "q_proj": 1e+39 is out of range, expected |alpha| <= 1048576`},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.json), "adapter_config.json")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "adapter_config.json") {
			t.Errorf("%s: error %v, want one naming the file and saying %q", c.json, err, c.want)
		}
	}
}

func TestIDToTitle(t *testing.T) {
	for in, want := range map[string]string{
		"tiny-llama-spm-lora":           "Tiny Llama Spm Lora",
		"tmp/corpus-dev/tiny-llama-spm": "Tmp/Corpus Dev/Tiny Llama Spm",
		"Llama-3.2-1B-v2":               "Llama 3.2 1B v2",
		"my_adapter-GPT":                "My_Adapter GPT",
	} {
		if got := idToTitle(in); got != want {
			t.Errorf("idToTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	// The corpus adapter's config when the corpus is there (testdata/fuzz
	// holds a copy): the target runs without it rather than skip.
	if dir, ok := corpus.Find(); ok {
		b, err := os.ReadFile(filepath.Join(dir, "tiny-llama-spm-lora", ConfigName))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"r": 4, "lora_alpha": 8, "rank_pattern": {"q_proj": 2}, "alpha_pattern": {"k": 1}, "target_modules": "x.*"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b, "fuzz")
		if err != nil {
			return
		}
		if c.R < 1 {
			t.Fatalf("accepted rank %d", c.R)
		}
		c.Scale("model.layers.0.self_attn.q_proj")
		c.Targets("model.layers.0.self_attn.q_proj")
	})
}
