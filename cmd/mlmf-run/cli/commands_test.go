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
	root := corpus.Root(t)
	files, _ := filepath.Glob(filepath.Join(root, "recipes", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no recipes")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("%s as JSON: %v", filepath.Base(f), err)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s as JSON: %v", filepath.Base(f), err)
		}
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
	root := corpus.Root(t)
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
	code, dot, errs := runCLI("graph", recipe, "--set", "model=m", "--set", "out=o.gguf")
	if code != 0 || !strings.Contains(dot, `"src" -> "arch";`) || !strings.Contains(dot, `"quant" -> "gguf";`) {
		t.Errorf("graph dot: exit %d %s\n%s", code, errs, dot)
	}
	code, mm, errs := runCLI("graph", "--format", "mermaid", recipe, "--set", "model=m", "--set", "out=o.gguf")
	if code != 0 || !strings.HasPrefix(mm, "flowchart LR\n") || !strings.Contains(mm, "names --> quant") {
		t.Errorf("graph mermaid: exit %d %s\n%s", code, errs, mm)
	}
	code, st, errs := runCLI("stages", "--json")
	var specs []struct{ Kind string }
	if code != 0 {
		t.Fatalf("stages --json: exit %d: %s", code, errs)
	}
	if err := json.Unmarshal([]byte(st), &specs); err != nil {
		t.Fatalf("stages --json: %v", err)
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
