package stages

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor"
)

const (
	remapArchMap    = "arch_map"
	remapDropSource = "drop_source"
	remapRules      = "rules"
	remapOrder      = "order"
)

var remapRule = map[string]any{
	"type": "object", "additionalProperties": false, "required": []any{"match"},
	"properties": map[string]any{
		"match":  str("regular expression over the whole tensor name (Go RE2 syntax)"),
		"rename": str("replacement, with $1.. for captures"),
		"drop":   boolean("remove matching tensors"),
		"keep":   boolean("keep matching tensors as they are; later rules are not consulted"),
	},
}

var remapSpec = &pipeline.Spec{
	Kind:    "remap",
	Summary: "Rename tensors from Hugging Face to GGUF names with the architecture's transforms, then apply recipe rules",
	Params: obj(props{
		remapArchMap:    boolean("apply the detected architecture's HF->GGUF table and transforms (default true)"),
		remapDropSource: map[string]any{"type": "array", "items": str("regex"), "description": "drop source tensors matching these before the table applies"},
		remapRules:      map[string]any{"type": "array", "items": remapRule, "description": "rules applied in order to each name after the table; the first match decides"},
		remapOrder: enum("tensor order: source keeps the checkpoint's (as convert_hf_to_gguf.py does); canonical sorts block by block, then by name, "+
			"so the output does not depend on how the source was saved", "source", "canonical"),
	}),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: names\nkind: remap\ninputs: [arch]\nwith:\n  rules:\n    - {match: '^blk\\.(\\d+)\\.ffn_gate\\.weight$', rename: 'blk.$1.ffn_gate_proj.weight'}"},
	New:      newRemap,
}

type userRule struct {
	Match  string `json:"match"`
	Rename string `json:"rename"`
	Drop   bool   `json:"drop"`
	Keep   bool   `json:"keep"`
	re     *regexp.Regexp
}

type remapStage struct {
	ArchMap    *bool       `json:"arch_map"`
	DropSource []string    `json:"drop_source"`
	Rules      []*userRule `json:"rules"`
	Order      string      `json:"order"`
	drops      []*regexp.Regexp
}

func newRemap(p pipeline.Params) (pipeline.Stage, error) {
	s := &remapStage{}
	if err := p.Decode(s); err != nil {
		return nil, err
	}
	var errs []error
	for i, d := range s.DropSource {
		re, err := regexp.Compile("^(?:" + d + ")$")
		if err != nil {
			errs = append(errs, fmt.Errorf("drop_source[%d]: %w", i, err))
		}
		s.drops = append(s.drops, re)
	}
	for i, r := range s.Rules {
		var err error
		if r.re, err = regexp.Compile("^(?:" + r.Match + ")$"); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d].match: %w", i, err))
		}
		if n := btoi(r.Drop) + btoi(r.Keep) + btoi(r.Rename != ""); n != 1 {
			errs = append(errs, fmt.Errorf("rules[%d]: expected exactly one of rename, drop, keep", i))
		}
	}
	return s, errors.Join(errs...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *remapStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
	var kept []*tensor.Desc
	for _, t := range m.Tensors {
		if !matchAny(s.drops, t.Name) {
			kept = append(kept, t)
		}
	}
	m.Tensors = kept
	if s.ArchMap == nil || *s.ArchMap {
		if m.Naming != "hf" {
			return nil, fmt.Errorf("tensors are already named for %s; set arch_map: false to apply only rules", m.Naming)
		}
		a, ok := m.Facts[FactArch].(*arch.Arch)
		if !ok {
			return nil, fmt.Errorf("no architecture known: put a detect stage before remap, or set arch_map: false")
		}
		ts, err := a.Remap(m.Config, m.Tensors)
		if err != nil {
			return nil, err
		}
		m.Tensors, m.Naming = ts, "gguf"
	}
	if err := s.applyRules(m); err != nil {
		return nil, err
	}
	if s.Order == "canonical" {
		sortCanonical(m.Tensors)
	}
	return m, nil
}

// sortCanonical orders tensors outside blocks first, then block by block,
// by name within each group.
func sortCanonical(ts []*tensor.Desc) {
	block := func(name string) int {
		var b int
		if _, err := fmt.Sscanf(name, "blk.%d.", &b); err == nil {
			return b
		}
		return -1
	}
	sort.SliceStable(ts, func(i, j int) bool {
		bi, bj := block(ts[i].Name), block(ts[j].Name)
		if bi != bj {
			return bi < bj
		}
		return ts[i].Name < ts[j].Name
	})
}

// applyRules renames, drops or keeps each tensor by the first matching rule;
// a rename that collides with another tensor is an error, never an overwrite.
func (s *remapStage) applyRules(m *pipeline.Model) error {
	if len(s.Rules) == 0 {
		return nil
	}
	var out []*tensor.Desc
	seen := map[string]bool{}
	for _, t := range m.Tensors {
		name, drop := t.Name, false
		for _, r := range s.Rules {
			if !r.re.MatchString(name) {
				continue
			}
			switch {
			case r.Drop:
				drop = true
			case r.Rename != "":
				name = r.re.ReplaceAllString(name, r.Rename)
			}
			break
		}
		if drop {
			continue
		}
		if seen[name] {
			return fmt.Errorf("rules map two tensors to %q", name)
		}
		seen[name] = true
		c := t.Clone()
		c.Name = name
		out = append(out, c)
	}
	m.Tensors = out
	return nil
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
