package arch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// eval evaluates a table expression over params and config keys:
// numbers, 'quoted' strings (no spaces), identifiers (params, config keys,
// "rope.<key>"), + - * / (true division) // (floor division), ** (power,
// right-associative and tighter than * as in Python), ==, !=, parentheses,
// int(x) (truncation), len(path) and uniform(path) (exprfuncs.go): the
// arithmetic the converter does on hyperparameters.
func (h *hparams) eval(src string) (any, error) {
	p := &exprParser{h: h, src: src, toks: tokenize(src)}
	v, err := p.compare()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("expression %q: unexpected %q", src, p.toks[p.pos])
	}
	return v, nil
}

// evalNum evaluates an expression that must give a number.
func (h *hparams) evalNum(src string) (float64, error) {
	v, err := h.eval(src)
	if err != nil {
		return 0, err
	}
	f, ok := num(v)
	if !ok {
		return 0, fmt.Errorf("expression %q = %v: not a number", src, v)
	}
	return f, nil
}

func tokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case strings.HasPrefix(s[i:], "//") || strings.HasPrefix(s[i:], "==") || strings.HasPrefix(s[i:], "!=") || strings.HasPrefix(s[i:], "**"):
			out = append(out, s[i:i+2])
			i += 2
		case strings.ContainsRune("+-*/()", rune(c)):
			out = append(out, s[i:i+1])
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t+-*/()=!", rune(s[j])) {
				j++
			}
			if j == i {
				j = i + 1
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out
}

type exprParser struct {
	h    *hparams
	src  string
	toks []string
	pos  int
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) compare() (any, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	op := p.peek()
	if op != "==" && op != "!=" {
		return l, nil
	}
	p.pos++
	r, err := p.sum()
	if err != nil {
		return nil, err
	}
	lf, lok := num(l)
	rf, rok := num(r)
	eq := fmt.Sprint(l) == fmt.Sprint(r)
	if lok && rok {
		eq = lf == rf
	}
	if op == "!=" {
		eq = !eq
	}
	if eq {
		return 1.0, nil
	}
	return 0.0, nil
}

func (p *exprParser) sum() (any, error) {
	v, err := p.product()
	if err != nil {
		return nil, err
	}
	for op := p.peek(); op == "+" || op == "-"; op = p.peek() {
		p.pos++
		r, err := p.product()
		if err != nil {
			return nil, err
		}
		if v, err = p.arith(op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (p *exprParser) product() (any, error) {
	v, err := p.power()
	if err != nil {
		return nil, err
	}
	for op := p.peek(); op == "*" || op == "/" || op == "//"; op = p.peek() {
		p.pos++
		r, err := p.power()
		if err != nil {
			return nil, err
		}
		if v, err = p.arith(op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (p *exprParser) arith(op string, l, r any) (any, error) {
	a, ok1 := num(l)
	b, ok2 := num(r)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("expression %q: %v %s %v: not numbers", p.src, l, op, r)
	}
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	}
	if b == 0 {
		return nil, fmt.Errorf("expression %q: division by zero", p.src)
	}
	if op == "//" {
		return math.Floor(a / b), nil
	}
	return a / b, nil
}

// length is len(path): the element count of the config list at a dotted
// path ("vision_config.deepstack_visual_indexes"), 0 when it is absent (as
// the converter's .get(..., []) gives).
func (p *exprParser) length() (any, error) {
	p.pos++ // (
	path := p.peek()
	if !isIdent(path) || p.pos+1 >= len(p.toks) || p.toks[p.pos+1] != ")" {
		return nil, fmt.Errorf("expression %q: len takes one config path", p.src)
	}
	p.pos += 2
	var v any = p.h.cfg
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0.0, nil
		}
		if v, ok = m[seg]; !ok || v == nil {
			return 0.0, nil
		}
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("expression %q: %s is %v, not a list", p.src, path, v)
	}
	return float64(len(l)), nil
}

func (p *exprParser) factor() (any, error) {
	t := p.peek()
	if t == "" {
		return nil, fmt.Errorf("expression %q: unexpected end", p.src)
	}
	p.pos++
	if t == "(" {
		v, err := p.compare()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("expression %q: missing )", p.src)
		}
		p.pos++
		return v, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return f, nil
	}
	if t == "len" && p.peek() == "(" {
		return p.length()
	}
	if t == "uniform" && p.peek() == "(" {
		return p.uniform()
	}
	if s, ok := quoted(t); ok {
		return s, nil
	}
	if t == "int" && p.peek() == "(" {
		v, err := p.factor()
		if err != nil {
			return nil, err
		}
		f, ok := num(v)
		if !ok {
			return nil, fmt.Errorf("expression %q: int(%v)", p.src, v)
		}
		return math.Trunc(f), nil
	}
	if !isIdent(t) {
		return nil, fmt.Errorf("expression %q: unexpected %q", p.src, t)
	}
	return p.h.get(t)
}

func isIdent(t string) bool {
	for i, c := range t {
		ok := c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return t != ""
}
