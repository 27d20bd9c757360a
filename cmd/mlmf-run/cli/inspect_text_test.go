package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// hostileName holds a terminal escape (set the window title, then red)
// and a bidi override, the kind a crafted file smuggles into names.
const hostileName = "blk.0\x1b]0;pwned\x07\x1b[31m.w\u202e"

// hostileQuoted is how inspect must print it: Go-quoted, every control
// and format character escaped (written by hand, not by strconv).
const hostileQuoted = `"blk.0\x1b]0;pwned\a\x1b[31m.w\u202e"`

func oneF32(name string) *tensor.Desc {
	return &tensor.Desc{Name: name, DType: tensor.F32, Shape: []int64{1, 2},
		Src: &tensor.Bytes{Data: make([]byte, 8), RowBytes: 8, What: "zeros"}}
}

// TestInspectQuotesControlCharacters checks that the text view of inspect
// never sends a file's control characters to the terminal: tensor names,
// metadata keys and string values (scalars and array items) are quoted.
func TestInspectQuotesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	meta := &gguf.Meta{}
	meta.Set("general.architecture", gguf.String("llama"))
	meta.Set("general.name", gguf.String(hostileName))
	meta.Set("x.tokens", gguf.Strings([]string{"ok", hostileName}))
	meta.Set(hostileName, gguf.Uint32(1))
	var g bytes.Buffer
	if err := gguf.Write(&g, meta, []*tensor.Desc{oneF32(hostileName)}); err != nil {
		t.Fatal(err)
	}
	var s bytes.Buffer
	if err := safetensors.Write(&s, []*tensor.Desc{oneF32(hostileName)}, map[string]string{"note": hostileName}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"m.gguf": g.Bytes(), "m.safetensors": s.Bytes()}
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI("inspect", p)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if i := strings.IndexAny(out, "\x1b\x07\u202e"); i >= 0 {
				t.Errorf("raw control character at byte %d of the output:\n%q", i, out)
			}
			if !strings.Contains(out, hostileQuoted) {
				t.Errorf("output lacks the quoted name %s:\n%s", hostileQuoted, out)
			}
		})
	}
}
