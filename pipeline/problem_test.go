package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// multiCause is shaped like gguf.FormatError: one message of its own, and
// Unwrap to sentinels that say only what kind of error it is.
type multiCause struct{ kinds []error }

func (e multiCause) Error() string   { return "m.gguf: offset 8: tensor count 2^40 exceeds the file" }
func (e multiCause) Unwrap() []error { return e.kinds }

// TestSplitJoinedKeepsMessages checks that errors.Join is split into one
// problem per part, and that other errors with several causes are kept
// whole: splitting them printed only their sentinels.
func TestSplitJoinedKeepsMessages(t *testing.T) {
	a, b := errors.New("gguf: invalid format"), errors.New("gguf: size limit exceeded")
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"errors.Join", errors.Join(errors.New("first"), nil, errors.New("second")), []string{"first", "second"}},
		{"nested errors.Join", errors.Join(errors.Join(errors.New("a"), errors.New("b")), errors.New("c")), []string{"a", "b", "c"}},
		{"format error", multiCause{[]error{a, b}}, []string{"m.gguf: offset 8: tensor count 2^40 exceeds the file"}},
		{"joined format errors", errors.Join(multiCause{[]error{a}}, errors.New("other")),
			[]string{"m.gguf: offset 8: tensor count 2^40 exceeds the file", "other"}},
		{"two %w", fmt.Errorf("reading %w: %w", a, b), []string{"reading gguf: invalid format: gguf: size limit exceeded"}},
		{"wrapped format error", fmt.Errorf("load: %w", multiCause{[]error{a, b}}), []string{"load: m.gguf: offset 8: tensor count 2^40 exceeds the file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range splitJoined(tc.err) {
				got = append(got, e.Error())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
