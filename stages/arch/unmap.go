package arch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// Unmap turns a GGUF model of this architecture back into Hugging Face
// names and layout: config.json values from the metadata (see Config), and
// each tensor renamed through the table with its transforms undone in
// reverse order: Q/K permutations and Falcon's QKV regrouping by the
// inverse row map, Gemma's norm + 1 by subtracting 1 in float32, GPT-2's
// transposition by transposing back, and stacked experts (or StableLM's
// per-head norms) split into their members. Generated tensors
// (rope_freqs) are dropped: the config regenerates them. Transforms that
// need element access (norms, transposition) need a plain element type:
// dequantize first. A GGUF tensor no rule names is an error.
func (a *Arch) Unmap(meta *gguf.Meta, tensors []*tensor.Desc) (map[string]any, []*tensor.Desc, error) {
	if err := a.checkGGUF(meta, tensors); err != nil {
		return nil, nil, err
	}
	cfg := a.Config(meta, tensors)
	c := &tctx{h: a.hparamsOf(cfg)}
	names := map[string]bool{}
	for _, d := range tensors {
		names[d.Name] = true
	}
	var out []*tensor.Desc
	var errs []string
	for _, d := range tensors {
		if a.generated(d.Name) {
			continue
		}
		nds, err := a.unmapTensor(c, d, names)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, nds...)
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s unmap: %s", a.Arch, strings.Join(errs, "; "))
	}
	// The folder must pass what hf-to-gguf asks of a checkpoint.
	if err := a.Check(cfg, out); err != nil {
		return nil, nil, fmt.Errorf("the config.json written from the GGUF metadata contradicts the tensors: %w", err)
	}
	return cfg, out, nil
}

func (a *Arch) generated(name string) bool {
	for _, g := range a.Generate {
		if slices.Contains(generators[g].names, name) {
			return true
		}
	}
	return false
}

// ggufMatch finds the rules producing a GGUF name; the block number is the
// {bid} capture ("" for none).
func (a *Arch) ggufMatch(name string) (rules []*rule, bid string) {
	for _, r := range a.rules {
		pat := strings.ReplaceAll(regexpQuote(r.gguf), `\{bid\}`, `(\d+)`)
		sm := compileCached(pat).FindStringSubmatch(name)
		if sm == nil {
			continue
		}
		if len(sm) > 1 {
			bid = sm[1]
		}
		rules = append(rules, r)
	}
	return rules, bid
}

// hfName is the HF name of a rule for one block and member: the rule's own
// pattern (a rule is compiled from one of its table entry's HF patterns).
func hfName(r *rule, bid string, xid int) string {
	pat := r.src.HF[0]
	for _, h := range r.src.HF {
		if rulePattern(withSuffix(h, r.sfx)) == r.re.String() {
			pat = h
			break
		}
	}
	name := strings.ReplaceAll(withSuffix(pat, r.sfx), "{bid}", bid)
	return strings.ReplaceAll(name, "{xid}", fmt.Sprint(xid))
}

// rulePattern is the regexp compileRule builds for an HF name pattern.
func rulePattern(hf string) string {
	pat := regexpQuote(hf)
	for _, ph := range []string{"{bid}", "{xid}"} {
		pat = strings.Replace(pat, regexpQuote(ph), `(\d+)`, 1)
	}
	return "^" + pat + "$"
}

func (a *Arch) unmapTensor(c *tctx, d *tensor.Desc, names map[string]bool) ([]*tensor.Desc, error) {
	rules, bid := a.ggufMatch(d.Name)
	if len(rules) == 0 {
		return nil, fmt.Errorf("tensor %s maps to no HF tensor", d.Name)
	}
	r := rules[0]
	if a.Arch == "falcon" && len(rules) > 1 && names["blk."+bid+".attn_norm_2.weight"] {
		r = rules[1] // the new decoder layout: ln_mlp is attn_norm, ln_attn attn_norm_2
	}
	if r.src.Stack == nil {
		nd, err := undo(c, r, d)
		if err != nil {
			return nil, err
		}
		nd.Name = hfName(r, bid, 0)
		return []*tensor.Desc{nd}, nil
	}
	members, err := unstack(d)
	if err != nil {
		return nil, err
	}
	for x, m := range members {
		if members[x], err = undo(c, r, m); err != nil {
			return nil, err
		}
		members[x].Name = hfName(r, bid, x)
	}
	return members, nil
}

// undo applies the inverses of a rule's transforms, last first.
func undo(c *tctx, r *rule, d *tensor.Desc) (*tensor.Desc, error) {
	nd := d.Clone()
	for i := len(r.transforms) - 1; i >= 0; i-- {
		t := r.transforms[i]
		var err error
		switch t[0] {
		case "permute_qk", "falcon_qkv":
			nd, err = invertRowMap(c, nd, t)
		case "norm_plus_one":
			nd, err = normMinusOne(nd)
		case "transpose":
			nd, err = transpose(c, nd, "")
		case "truncate_vocab":
			// the dropped padding rows are gone; the vocabulary is what remains
		default:
			err = fmt.Errorf("tensor %s: transform %s cannot be undone", d.Name, t[0])
		}
		if err != nil {
			return nil, err
		}
	}
	return nd, nil
}
