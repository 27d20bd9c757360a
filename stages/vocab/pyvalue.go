package vocab

import (
	"encoding/json"
	"reflect"
	"strconv"
)

// Helpers that give generically decoded JSON the Python semantics the
// converter's code relies on (truthiness, isinstance(x, int), ==, .get).

// truthy is Python's bool(v) for a value decoded from JSON.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// pyInt is isinstance(v, int) and its value: JSON integers, and booleans,
// which Python counts as ints.
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case int:
		return int64(x), true
	}
	return 0, false
}

// pyEq is Python's == for decoded JSON values.
func pyEq(a, b any) bool { return reflect.DeepEqual(a, b) }

// get is d.get(key) when v is a dict, and None otherwise (where Python
// would raise, the converter's input was malformed; we read it as absent).
func get(v any, key string) any {
	if d, ok := v.(map[string]any); ok {
		return d[key]
	}
	return nil
}

// str returns v as a string when it is one.
func str(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// ordered is an insertion-ordered map, like a Python dict: setting an
// existing key keeps its position.
type ordered[V any] struct {
	keys []string
	vals map[string]V
}

func (o *ordered[V]) set(k string, v V) {
	if o.vals == nil {
		o.vals = map[string]V{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *ordered[V]) has(k string) bool { _, ok := o.vals[k]; return ok }
