package arch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// rule is one compiled (HF pattern, suffix) of a TensorRule.
type rule struct {
	src        *TensorRule
	re         *regexp.Regexp
	bid, xid   int // capture indices, 0 when absent
	gguf       string
	sfx        string
	transforms [][2]string
	parts      [][][2]string // each split part's transforms
}

func compileRule(t *Table, tr *TensorRule) ([]*rule, error) {
	if len(tr.HF) == 0 || (tr.GGUF == "") == (tr.Split == nil) {
		return nil, fmt.Errorf("need hf and either gguf or split")
	}
	ts, err := compileTransforms(t, tr.Transforms)
	if err != nil {
		return nil, err
	}
	parts, err := compileSplit(t, tr)
	if err != nil {
		return nil, err
	}
	if st := tr.Stack; st != nil {
		if _, ok := t.Params[st.Count]; !ok {
			return nil, fmt.Errorf("stack: unknown count param %q", st.Count)
		}
		if st.Group != "" {
			if _, ok := t.Groups[st.Group]; !ok {
				return nil, fmt.Errorf("stack: unknown group %q", st.Group)
			}
		}
	}
	suffixes := tr.Suffixes
	if len(suffixes) == 0 {
		suffixes = strList{"weight", "bias"}
	}
	var out []*rule
	for _, hf := range tr.HF {
		if tr.Stack != nil && !strings.Contains(hf, "{xid}") {
			return nil, fmt.Errorf("stacked pattern %q has no {xid}", hf)
		}
		for _, sfx := range suffixes {
			r := &rule{src: tr, transforms: ts, sfx: sfx, parts: parts}
			if tr.GGUF != "" { // a split rule has no name of its own, so gguf-to-hf finds no tensor made by it
				r.gguf = withSuffix(tr.GGUF, sfx)
			}
			pat := regexp.QuoteMeta(withSuffix(hf, sfx))
			for _, ph := range []string{"{bid}", "{xid}"} {
				pat = strings.Replace(pat, regexp.QuoteMeta(ph), `(\d+)`, 1)
			}
			re, err := regexp.Compile("^" + pat + "$")
			if err != nil {
				return nil, err
			}
			r.re = re
			bi, xi := strings.Index(hf, "{bid}"), strings.Index(hf, "{xid}")
			switch {
			case bi >= 0 && xi >= 0 && bi < xi:
				r.bid, r.xid = 1, 2
			case bi >= 0 && xi >= 0:
				r.bid, r.xid = 2, 1
			case bi >= 0:
				r.bid = 1
			case xi >= 0:
				r.xid = 1
			}
			if strings.Contains(r.gguf, "{bid}") && r.bid == 0 {
				return nil, fmt.Errorf("gguf name %q uses {bid} but %q has none", tr.GGUF, hf)
			}
			if tr.Split != nil {
				for _, p := range tr.Split.Parts {
					if strings.Contains(p.GGUF, "{bid}") && r.bid == 0 {
						return nil, fmt.Errorf("split part %q uses {bid} but %q has none", p.GGUF, hf)
					}
				}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// withSuffix appends ".sfx"; an empty suffix (a name the table spells
// whole, as DeepSeek's e_score_correction_bias) appends nothing.
func withSuffix(name, sfx string) string {
	if sfx == "" {
		return name
	}
	return name + "." + sfx
}

// match is one HF name resolved against the table.
type match struct {
	r        *rule
	bid, xid int64
	name     string // GGUF name
}

// defaultSkips are the buffers the converter drops for every architecture.
var defaultSkips = []string{".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq"}

// lookup maps an HF name; skip reports a name dropped on purpose.
func (a *Arch) lookup(name string) (m match, skip bool, ok bool) {
	for _, s := range defaultSkips {
		if strings.HasSuffix(name, s) {
			return m, true, false
		}
	}
	name = a.rename(name)
	for _, re := range a.skips {
		if re.MatchString(name) {
			return m, true, false
		}
	}
	for _, r := range a.rules {
		sm := r.re.FindStringSubmatch(name)
		if sm == nil {
			continue
		}
		m = match{r: r, name: r.gguf}
		if r.bid > 0 {
			m.bid, _ = strconv.ParseInt(sm[r.bid], 10, 64)
			m.name = strings.ReplaceAll(m.name, "{bid}", sm[r.bid])
		}
		if r.xid > 0 {
			m.xid, _ = strconv.ParseInt(sm[r.xid], 10, 64)
		}
		return m, false, true
	}
	return m, false, false
}

// droppedBlock reports a tensor of a block the table drops (SkipBlocksFrom),
// or one its rule drops for this config (drop_if).
func (a *Arch) droppedBlock(h *hparams, m match) bool {
	if droppedByRule(h, m) {
		return true
	}
	if a.SkipBlocksFrom == "" || m.r.bid == 0 {
		return false
	}
	n, err := h.intParam(a.SkipBlocksFrom)
	return err == nil && m.bid >= n
}

// rename applies the first matching prefix rewrite.
func (a *Arch) rename(name string) string {
	for _, r := range a.Rename {
		if rest, ok := strings.CutPrefix(name, r.From); ok {
			return r.To + rest
		}
	}
	return name
}

// RemapOptions carries what Remap cannot learn from the config.
type RemapOptions struct {
	// VocabTokens is the tokenizer's real vocabulary size, for the
	// truncate_vocab transform (Gemma 3); 0 keeps embeddings whole.
	VocabTokens int64
}

// Remap renames HF tensors to GGUF and applies the table's transforms, in
// the converter's output order: generated tensors first, then the input
// order, a stacked tensor where its last member appears. A name no rule
// maps, an incomplete stack or two tensors mapped to one name are errors.
func (a *Arch) Remap(cfg map[string]any, tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	return a.RemapWith(cfg, tensors, RemapOptions{})
}

// RemapWith is Remap with options.
func (a *Arch) RemapWith(cfg map[string]any, tensors []*tensor.Desc, opts RemapOptions) ([]*tensor.Desc, error) {
	c := &tctx{h: a.hparamsOf(cfg), opts: opts}
	var out []*tensor.Desc
	var errs []string
	for _, g := range a.Generate {
		ds, err := generators[g].gen(c.h)
		if err != nil {
			errs = append(errs, err.Error())
		}
		out = append(out, ds...)
	}
	st := newStacker(a, c.h)
	for _, d := range tensors {
		m, skip, ok := a.lookup(d.Name)
		if skip || (ok && a.droppedBlock(c.h, m)) {
			continue
		}
		if !ok {
			errs = append(errs, fmt.Sprintf("tensor %q maps to no %s tensor", d.Name, a.Arch))
			continue
		}
		if m.r.src.Split != nil {
			parts, err := a.split(c, m, d)
			if err != nil {
				errs = append(errs, err.Error())
			}
			out = append(out, parts...)
			continue
		}
		nd, err := a.apply(c, m, d)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if m.r.src.Stack == nil {
			out = append(out, nd)
			continue
		}
		done, err := st.add(m, nd)
		if err != nil {
			errs = append(errs, err.Error())
		}
		out = append(out, done...)
	}
	errs = append(errs, st.leftover()...)
	seen := map[string]bool{}
	for _, d := range out {
		if seen[d.Name] {
			errs = append(errs, fmt.Sprintf("two tensors map to %s", d.Name))
		}
		seen[d.Name] = true
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s remap: %s", a.Arch, strings.Join(errs, "; "))
	}
	return out, nil
}

func (a *Arch) apply(c *tctx, m match, d *tensor.Desc) (*tensor.Desc, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	nd := d.Clone()
	for _, t := range m.r.transforms {
		var err error
		if nd, err = transforms[t[0]].build(c, nd, t[1]); err != nil {
			return nil, err
		}
	}
	nd.Name = m.name
	return nd, nil
}
