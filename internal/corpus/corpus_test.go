package corpus

import (
	"fmt"
	"testing"
)

// outcome records whether a helper skipped or failed the test it was given.
// The methods stop the helper with a panic, as Skip and Fatal stop a test.
type outcome struct {
	testing.TB
	how string
}

func (o *outcome) Helper()                      {}
func (o *outcome) Fatal(args ...any)            { o.stop("fail", fmt.Sprint(args...)) }
func (o *outcome) Fatalf(f string, args ...any) { o.stop("fail", fmt.Sprintf(f, args...)) }
func (o *outcome) Skipf(f string, args ...any)  { o.stop("skip", fmt.Sprintf(f, args...)) }
func (o *outcome) stop(how, msg string)         { o.how = how; panic(o) }

// run calls Dir with a corpus folder that lacks the README and says what it did.
func run(t *testing.T) string {
	t.Helper()
	t.Setenv("MLMF_CORPUS", t.TempDir())
	o := &outcome{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != o {
				panic(r)
			}
		}()
		Dir(o)
		o.how = "returned"
	}()
	return o.how
}

// TestMissingCorpus: any non-empty CI fails the test; only an unset or empty CI skips it.
func TestMissingCorpus(t *testing.T) {
	for ci, want := range map[string]string{"true": "fail", "1": "fail", "yes": "fail", "": "skip"} {
		t.Run(fmt.Sprintf("CI=%q", ci), func(t *testing.T) {
			t.Setenv("CI", ci)
			if got := run(t); got != want {
				t.Errorf("missing corpus with CI=%q: %s, want %s", ci, got, want)
			}
		})
	}
}
