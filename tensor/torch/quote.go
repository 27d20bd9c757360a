package torch

import (
	"math"
	"strconv"
	"strings"
)

// Bounds on a pickled value quoted in an error. The value comes from the
// file, so it can be a tuple nested a million deep (whose %v overflows the
// stack), a list holding itself, or 60,000 items (a 660 KB message line);
// what a reader needs is its shape, which a few levels and items show.
const (
	quoteDepth = 4   // containers shown inside each other
	quoteItems = 16  // items shown per container
	quoteStr   = 60  // bytes shown of a str or bytes
	quoteLen   = 200 // bytes of the whole quote
)

// quote renders v roughly as Python's repr would, within the bounds above;
// what is left out is written "...".
func quote(v any) string {
	q := &quoter{}
	q.value(v, 0)
	s := q.b.String()
	if len(s) > quoteLen {
		s = s[:quoteLen] + "..."
	}
	return s
}

type quoter struct{ b strings.Builder }

// full reports whether the quote is long enough to be cut anyway, so that
// walking a huge container stops early.
func (q *quoter) full() bool { return q.b.Len() > quoteLen }

func (q *quoter) value(v any, depth int) {
	switch v := v.(type) {
	case nil:
		q.b.WriteString("None")
	case bool:
		q.b.WriteString(map[bool]string{true: "True", false: "False"}[v])
	case int64:
		q.b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		q.b.WriteString(pyFloat(v))
	case string:
		q.text("", v)
	case []byte:
		q.text("b", string(v))
	case tuple:
		q.items("(", ")", v, depth, len(v) == 1)
	case *list:
		q.items("[", "]", v.items, depth, false)
	case *dict:
		q.dict(v, depth)
	case *storage:
		q.b.WriteString("storage ")
		q.text("", v.key)
	case *torchTensor:
		q.b.WriteString("tensor " + v.dtype.String())
	default:
		q.b.WriteString(typeName(v))
	}
}

func (q *quoter) text(prefix, s string) {
	cut := len(s) > quoteStr
	if cut {
		s = s[:quoteStr]
	}
	s = strconv.Quote(s)
	if cut {
		s = s[:len(s)-1] + `..."`
	}
	q.b.WriteString(prefix + s)
}

// items writes a sequence; one1 is a 1-tuple, which Python writes "(x,)".
func (q *quoter) items(open, close string, items []any, depth int, one1 bool) {
	q.b.WriteString(open)
	if depth+1 >= quoteDepth && len(items) > 0 {
		q.b.WriteString("...")
	} else {
		for i, it := range items {
			if i > 0 {
				q.b.WriteString(", ")
			}
			if i == quoteItems || q.full() {
				q.b.WriteString("...")
				break
			}
			q.value(it, depth+1)
		}
	}
	if one1 {
		q.b.WriteString(",")
	}
	q.b.WriteString(close)
}

func (q *quoter) dict(d *dict, depth int) {
	q.b.WriteString("{")
	if depth+1 >= quoteDepth && len(d.keys) > 0 {
		q.b.WriteString("...")
	} else {
		for i := range d.keys {
			if i > 0 {
				q.b.WriteString(", ")
			}
			if i == quoteItems || q.full() {
				q.b.WriteString("...")
				break
			}
			q.value(d.keys[i], depth+1)
			q.b.WriteString(": ")
			q.value(d.vals[i], depth+1)
		}
	}
	q.b.WriteString("}")
}

// pyFloat spells a float as Python's repr does for the values Go's
// shortest form writes differently.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == math.Trunc(f) && math.Abs(f) < 1e16:
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
