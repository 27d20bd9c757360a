// Package recipes embeds the shipped recipes, so that users run them by name
// from anywhere (`mlmf-run hf-to-gguf --set ...`) and shortcuts such as
// `mlmf-run convert` run the very same recipe the repository reviews.
package recipes

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

// FS holds every shipped recipe (*.yaml).
//
//go:embed *.yaml
var FS embed.FS

const ext = ".yaml"

// Names lists the shipped recipes by name (file name without .yaml), sorted;
// a recipe added to this folder is listed without further code.
func Names() []string {
	ents, err := fs.ReadDir(FS, ".")
	if err != nil {
		return nil // cannot happen: the embed pattern matched at build time
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ext); ok && !e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out) // by name: "a" before "a-b", which file order reverses
	return out
}

// Read returns the shipped recipe called name, and whether there is one.
func Read(name string) ([]byte, bool) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ext) {
		return nil, false
	}
	b, err := FS.ReadFile(name + ext)
	return b, err == nil
}

// Label is how positions in the shipped recipe called name are reported: it
// names no file, since the user may have none.
func Label(name string) string { return name + " (embedded)" }
