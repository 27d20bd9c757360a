package gguf

import (
	"fmt"
	"testing"
)

// stopper records whether corpusFiles skipped or failed, stopping it with a
// panic as Skip and Fatal stop a test.
type stopper struct {
	testing.TB
	how string
}

func (s *stopper) Helper()                      {}
func (s *stopper) Fatalf(f string, args ...any) { s.how = "fail"; panic(s) }
func (s *stopper) Skipf(f string, args ...any)  { s.how = "skip"; panic(s) }

// TestCorpusFilesMissing: with no GGUF in the corpus, any non-empty CI fails
// the test, as internal/corpus does; only an unset or empty CI skips it.
func TestCorpusFilesMissing(t *testing.T) {
	for ci, want := range map[string]string{"true": "fail", "1": "fail", "": "skip"} {
		t.Run(fmt.Sprintf("CI=%q", ci), func(t *testing.T) {
			t.Setenv("CI", ci)
			t.Setenv("MLMF_CORPUS", t.TempDir())
			s := &stopper{TB: t, how: "returned"}
			func() {
				defer func() {
					if r := recover(); r != nil && r != s {
						panic(r)
					}
				}()
				corpusFiles(s)
			}()
			if s.how != want {
				t.Errorf("no corpus GGUFs with CI=%q: %s, want %s", ci, s.how, want)
			}
		})
	}
}
