package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"gopkg.in/yaml.v3"
)

// Violation is one schema violation at a YAML position.
type Violation struct {
	Pointer string // JSON pointer into the recipe, e.g. /stages/2/with/type
	Line    int
	Col     int
	Msg     string
}

// Value converts a YAML node into the JSON value the validator takes
// (numbers as json.Number, so integers stay integers).
func Value(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return Value(n.Content[0])
	case yaml.AliasNode:
		return Value(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := Value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := Value(c)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		if n.ShortTag() == "!!int" {
			var i int64
			if err := n.Decode(&i); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	return n.Value, nil
}

// Validate checks a recipe document node and returns every violation, each
// placed at the most specific YAML node it concerns.
func Validate(s *jsonschema.Schema, doc map[string]any, root *yaml.Node, raw any) []Violation {
	err := s.Validate(raw)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Line: 1, Col: 1, Msg: err.Error()}}
	}
	var out []Violation
	seen := map[string]bool{}
	for _, leaf := range leaves(ve) {
		v := explain(leaf, doc, root)
		key := fmt.Sprintf("%d:%d:%s", v.Line, v.Col, v.Msg)
		if !seen[key] {
			seen[key] = true
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return out
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// explain rewrites a validator message in the recipe's terms and finds the
// node to blame.
func explain(e *jsonschema.ValidationError, doc map[string]any, root *yaml.Node) Violation {
	node := Locate(root, e.InstanceLocation)
	msg := e.Message
	kw := e.KeywordLocation[strings.LastIndex(e.KeywordLocation, "/")+1:]
	schemaPtr := e.AbsoluteKeywordLocation[strings.Index(e.AbsoluteKeywordLocation, "#")+1:]
	switch kw {
	case "additionalProperties":
		var keys []string
		if props, ok := resolve(doc, parentPointer(schemaPtr)+"/properties").(map[string]any); ok {
			for k := range props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
		if bad := quoted(msg); len(bad) > 0 { // the first unknown key
			if k := keyNode(node, bad[0]); k != nil {
				node = k
			}
			if len(keys) > 0 {
				msg = fmt.Sprintf("unknown key %q, expected one of: %s", bad[0], strings.Join(keys, ", "))
			} else {
				msg = fmt.Sprintf("unknown key %q", bad[0])
			}
		}
	case "type":
		msg = strings.Replace(msg, "expected ", "wrong type: expected ", 1)
	case "required":
		var keys []string
		for _, k := range quoted(msg) {
			keys = append(keys, strconv.Quote(k))
		}
		msg = "missing required key " + strings.Join(keys, ", ")
	case "enum":
		msg = fmt.Sprintf("%s is not allowed, %s", describe(node), strings.Replace(msg, "value must be", "expected", 1))
	}
	v := Violation{Pointer: e.InstanceLocation, Msg: msg, Line: 1, Col: 1}
	if node != nil {
		v.Line, v.Col = node.Line, node.Column
	}
	return v
}

func describe(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return "value"
	}
	return strconv.Quote(n.Value)
}

// quoted extracts the 'single-quoted' names from a validator message.
func quoted(msg string) []string {
	var out []string
	for {
		i := strings.IndexByte(msg, '\'')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(msg[i+1:], '\'')
		if j < 0 {
			return out
		}
		out = append(out, msg[i+1:i+1+j])
		msg = msg[i+2+j:]
	}
}

func parentPointer(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return ""
}

func resolve(doc any, ptr string) any {
	cur := doc
	for _, tok := range splitPointer(ptr) {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts
}

// Locate finds the YAML node a JSON pointer designates; it returns the
// deepest node it can reach, so a message always has a position.
func Locate(root *yaml.Node, ptr string) *yaml.Node {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, tok := range splitPointer(ptr) {
		if n == nil {
			return nil
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == tok {
					next = n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func keyNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}
