package quant

// overrideNames reports whether a --tensor-type pattern names
// per_layer_token_embd.weight: llama-quantize lets that large table of its
// own follow --token-embedding-type only when no pattern names it.
func (p *planner) overrideNames(name string) bool {
	if name != "per_layer_token_embd.weight" {
		return false
	}
	for _, o := range p.opt.Overrides {
		if o.Pattern.MatchString(name) {
			return true
		}
	}
	return false
}
