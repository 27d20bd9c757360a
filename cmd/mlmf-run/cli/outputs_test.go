package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An output that is an existing folder, or ends in a slash, is a recipe
// problem found when planning: exit 2 from a run, --dry-run and validate,
// with nothing written.
func TestOutputFolderExits2BeforeRunning(t *testing.T) {
	dir := t.TempDir()
	model, recipe := copyTiny(t, dir, "hf-to-gguf.yaml")
	folder := filepath.Join(dir, "existing.gguf")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	// The problem is reported at the export stage's line, wherever the
	// recipe has it.
	b, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Count(string(b[:strings.Index(string(b), "- id: gguf")]), "\n") + 1
	at := fmt.Sprintf("%s:%d:5: stage \"gguf\": ", recipe, line)
	for out, want := range map[string]string{
		folder:                               "output " + folder + " is an existing folder: expected a file path",
		filepath.Join(dir, "new.gguf") + "/": "output " + filepath.Join(dir, "new.gguf") + "/ ends in a slash",
	} {
		for _, args := range [][]string{{recipe}, {recipe, "--dry-run"}, {"validate", recipe}} {
			args = append(args, "--set", "model="+model, "--set", "out="+out)
			code, _, errs := runCLI(args...)
			if code != exitUsage || !strings.Contains(errs, at+want) {
				t.Errorf("%v: exit %d, %s", args, code, errs)
			}
		}
		if names := leftoversIn(t, folder); len(names) != 0 {
			t.Errorf("%s holds %v", folder, names)
		}
	}
}
