package stages

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mlmf-run/mlmf-run/pipeline"
)

// TestSpecExamplesAreValidStages parses every spec's examples inside a
// recipe whose other stages provide the inputs they name: the docs and
// `mlmf-run stages --json` show these, so they must stay valid.
func TestSpecExamplesAreValidStages(t *testing.T) {
	reg := Registry()
	for _, spec := range reg.Specs() {
		if len(spec.Examples) == 0 {
			t.Errorf("%s: no example", spec.Kind)
		}
		for i, ex := range spec.Examples {
			var st struct {
				ID     string   `yaml:"id"`
				Inputs []string `yaml:"inputs"`
			}
			if err := yaml.Unmarshal([]byte(ex), &st); err != nil {
				t.Errorf("%s example %d: %v", spec.Kind, i, err)
				continue
			}
			var b strings.Builder
			b.WriteString("version: 1\nstages:\n")
			for _, in := range st.Inputs {
				fmt.Fprintf(&b, "  - {id: %s, kind: load, with: {path: x}}\n", in)
			}
			b.WriteString("  - " + strings.ReplaceAll(strings.TrimSpace(ex), "\n", "\n    ") + "\n")
			if _, err := pipeline.Parse("example.yaml", []byte(b.String()), nil, reg); err != nil {
				t.Errorf("%s example %d:\n%s\n%v", spec.Kind, i, b.String(), err)
			}
		}
	}
}
