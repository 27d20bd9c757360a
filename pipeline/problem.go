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
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}
