package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"gopkg.in/yaml.v3"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// TestSchemaCommandAcceptsEveryShippedRecipe compiles what `mlmf-run schema`
// prints, as an editor would, and validates each shipped recipe against it.
func TestSchemaCommandAcceptsEveryShippedRecipe(t *testing.T) {
	code, out, errs := runCLI("schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("the printed schema does not compile: %v", err)
	}
	root, _ := corpus.ModuleRoot()
	files, _ := filepath.Glob(filepath.Join(root, "recipes", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no recipes")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(doc)
		var v any
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		dec.Decode(&v)
		if err := s.Validate(v); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	bad := map[string]any{"version": json.Number("1"), "stages": []any{map[string]any{"id": "a", "kind": "load", "with": map[string]any{"pth": "x"}}}}
	if err := s.Validate(bad); err == nil {
		t.Error("the schema accepts an unknown load parameter")
	}
}

func TestValidateGraphStagesCommands(t *testing.T) {
	root, _ := corpus.ModuleRoot()
	recipe := filepath.Join(root, "recipes", "hf-to-gguf.yaml")
	model := filepath.Join(root, "testdata", "tiny-llama")

	if code, out, errs := runCLI("validate", recipe, "--set", "model="+model, "--set", "out=x.gguf"); code != 0 || !strings.Contains(out, "ok (5 stages)") {
		t.Errorf("validate: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := runCLI("validate", recipe, "--set", "out=x.gguf"); code != exitUsage || !strings.Contains(errs, `var "model" is not set`) {
		t.Errorf("validate without model: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI("validate", recipe, "--set", "model="+filepath.Join(root, "nope"), "--set", "out=x.gguf"); code != exitUsage || !strings.Contains(errs, `stage "src"`) {
		t.Errorf("validate of a missing model must fail at plan time naming the stage: exit %d, %q", code, errs)
	}
	code, dot, _ := runCLI("graph", recipe, "--set", "model=m", "--set", "out=o.gguf")
	if code != 0 || !strings.Contains(dot, `"src" -> "arch";`) || !strings.Contains(dot, `"quant" -> "gguf";`) {
		t.Errorf("graph dot: exit %d\n%s", code, dot)
	}
	code, mm, _ := runCLI("graph", "--format", "mermaid", recipe, "--set", "model=m", "--set", "out=o.gguf")
	if code != 0 || !strings.HasPrefix(mm, "flowchart LR\n") || !strings.Contains(mm, "names --> quant") {
		t.Errorf("graph mermaid: exit %d\n%s", code, mm)
	}
	code, st, _ := runCLI("stages", "--json")
	var specs []struct{ Kind string }
	if code != 0 || json.Unmarshal([]byte(st), &specs) != nil {
		t.Fatalf("stages --json: exit %d", code)
	}
	kinds := map[string]bool{}
	for _, s := range specs {
		kinds[s.Kind] = true
	}
	for _, k := range []string{"load", "detect", "remap", "unmap", "quantize", "merge-lora", "export", "export-lora", "shard"} {
		if !kinds[k] {
			t.Errorf("stages --json lacks %s", k)
		}
	}
}
