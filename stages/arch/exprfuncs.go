package arch

import (
	"fmt"
	"math"
	"strings"
)

// power is factor ['**' power]: Python's exponentiation, right-associative
// and binding tighter than * and / (Hunyuan's NTK-alpha rope base,
// base * alpha ** (dim / (dim - 2))).
func (p *exprParser) power() (any, error) {
	v, err := p.factor()
	if err != nil || p.peek() != "**" {
		return v, err
	}
	p.pos++
	e, err := p.power()
	if err != nil {
		return nil, err
	}
	a, ok1 := num(v)
	b, ok2 := num(e)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("expression %q: %v ** %v: not numbers", p.src, v, e)
	}
	r := math.Pow(a, b)
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil, fmt.Errorf("expression %q: %v ** %v is not a finite number", p.src, a, b)
	}
	return r, nil
}

// quoted reads a 'string' literal token (it cannot hold spaces or
// operator characters, which end a token).
func quoted(t string) (string, bool) {
	if len(t) >= 2 && t[0] == '\'' && t[len(t)-1] == '\'' {
		return t[1 : len(t)-1], true
	}
	return "", false
}

// uniform is uniform(path): the one value of a config list whose elements
// are all equal (Hunyuan-MoE's per-layer moe_topk, which the converter
// asserts uniform and writes as moe_topk[0]); a number is its own value.
// An empty list, unequal elements or an absent path are errors (the last
// an unresolved one, so an optional key is left out).
func (p *exprParser) uniform() (any, error) {
	p.pos++ // (
	path := p.peek()
	if !isIdent(path) || p.pos+1 >= len(p.toks) || p.toks[p.pos+1] != ")" {
		return nil, fmt.Errorf("expression %q: uniform takes one config path", p.src)
	}
	p.pos += 2
	var v any = p.h.cfg
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &errUnresolved{[]string{path}}
		}
		if v, ok = m[seg]; !ok || v == nil {
			return nil, &errUnresolved{[]string{path}}
		}
	}
	l, ok := v.([]any)
	if !ok {
		if _, isNum := num(v); isNum {
			return v, nil
		}
		return nil, fmt.Errorf("expression %q: %s is %v, not a list or a number", p.src, path, v)
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("expression %q: %s is an empty list", p.src, path)
	}
	for i, x := range l[1:] {
		if fmt.Sprint(x) != fmt.Sprint(l[0]) {
			return nil, fmt.Errorf("expression %q: %s differs between entries (%v at 0, %v at %d); llama.cpp takes one value for every layer", p.src, path, l[0], x, i+1)
		}
	}
	return l[0], nil
}
