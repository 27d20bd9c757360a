package pipeline

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a recipe or its plan, at a position.
type Problem struct {
	File  string
	Line  int
	Col   int
	Stage string // stage id, "" for recipe-level problems
	Msg   string
}

func (p Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", p.File, p.Line, p.Col)
	if p.Stage != "" {
		fmt.Fprintf(&b, "stage %q: ", p.Stage)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found, sorted by position; it is an error when
// non-empty, printing one problem per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
	return ps
}

// AsProblems extracts the problems of an error returned by this package.
func AsProblems(err error) (Problems, bool) {
	var ps Problems
	if errors.As(err, &ps) {
		return ps, true
	}
	return nil, false
}

// splitJoined unwraps errors.Join so each joined error becomes one problem.
// Other errors with several causes stay whole: a format error unwraps to
// its sentinels (gguf.FormatError to ErrFormat and ErrLimit, say) while its
// message holds the file, offset and expectation, and fmt.Errorf with two
// %w has text of its own. An error is split only when its message is the
// parts' messages joined by newlines, as errors.Join writes it, so that
// splitting loses nothing.
func splitJoined(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	parts := j.Unwrap()
	msgs := make([]string, 0, len(parts))
	for _, e := range parts {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 || strings.Join(msgs, "\n") != err.Error() {
		return []error{err}
	}
	var out []error
	for _, e := range parts {
		if e != nil {
			out = append(out, splitJoined(e)...)
		}
	}
	return out
}
