package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// TestWrongInputSaysWhatToDo checks that handing convert or inspect
// something other than what they read gets a message that names what the
// input is and what to run instead, not a symptom from deep inside.
func TestWrongInputSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("hello, not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	gguf := corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-f16.gguf")
	adapter := corpus.Path(t, "tiny-llama-spm-lora")
	out := filepath.Join(dir, "out.gguf")
	recipe := filepath.Join(dir, "detect.yaml")
	err := os.WriteFile(recipe, []byte("version: 1\nvars: {model: null, out: null}\nstages:\n"+
		"  - {id: src, kind: load, with: {path: \"${model}\"}}\n  - {id: arch, kind: detect, inputs: [src]}\n"+
		"  - {id: names, kind: remap, inputs: [arch]}\n  - {id: gguf, kind: export, inputs: [names], with: {path: \"${out}\"}}\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"convert a GGUF", []string{"convert", gguf, "-o", out}, exitUsage,
			[]string{gguf + " is a GGUF", "mlmf-run gguf-to-hf --set model="}},
		{"convert a LoRA adapter", []string{"convert", adapter, "-o", out}, exitUsage,
			[]string{adapter + " is a PEFT LoRA adapter", "mlmf-run merge-lora", "mlmf-run lora-to-gguf"}},
		{"detect on a GGUF", []string{recipe, "--set", "model=" + gguf, "--set", "out=" + out}, exitUsage,
			[]string{`stage "arch"`, gguf + " is a GGUF", "mlmf-run gguf-to-hf --set model="}},
		{"detect on a LoRA adapter", []string{recipe, "--set", "model=" + adapter, "--set", "out=" + out}, exitUsage,
			[]string{`stage "arch"`, adapter + " is a PEFT LoRA adapter", "mlmf-run merge-lora", "mlmf-run lora-to-gguf"}},
		{"inspect a text file", []string{"inspect", notes}, exitFailed,
			[]string{notes + ": not a model file", "GGUF", "safetensors", "PyTorch zip"}},
		{"inspect a folder without weights", []string{"inspect", empty}, exitFailed,
			[]string{empty + ": no model file in the folder", "model.safetensors.index.json", "model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "*.gguf"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := runCLI(c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a refused run (stat: %v)", out, err)
			}
		})
	}
	// An adapter folder is a safetensors file inside: inspect describes it.
	code, stdout, errs := runCLI("inspect", adapter)
	if code != 0 || !strings.Contains(stdout, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") {
		t.Errorf("inspect %s: exit %d, stderr %s, stdout:\n%s", adapter, code, errs, stdout)
	}
}
