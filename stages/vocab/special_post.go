package vocab

import "fmt"

// postProcessor is SpecialVocab's crude reading of tokenizer.json's
// post_processor: RobertaProcessing adds bos/eos/sep, and a
// TemplateProcessing's "single" and "pair" templates say whether BOS, EOS and
// a separator are added, possibly renaming the EOS token (the old one then
// becomes EOT or EOM). It edits tc in place, as the converter edits its
// tokenizer_config dict, so the lookups that follow see the changes.
func (s *specialVocab) postProcessor(pp any, tc map[string]any) {
	bos, cls, eos, sep := tc["bos_token"], tc["cls_token"], tc["eos_token"], tc["sep_token"]
	if !truthy(bos) && truthy(cls) && len(tc) > 0 {
		tc["bos_token"], bos = cls, cls
	}
	if !truthy(eos) && truthy(sep) && len(tc) > 0 {
		tc["eos_token"], eos = sep, sep
	}
	if !truthy(pp) {
		return
	}
	procs, ok := get(pp, "processors").([]any)
	if !ok {
		procs = []any{pp}
	}
	for _, p := range procs {
		switch get(p, "type") {
		case "RobertaProcessing":
			s.add.set("bos", true)
			s.add.set("eos", true)
			s.add.set("sep", true)
			if !truthy(cls) && len(tc) > 0 {
				cls = firstOr(get(p, "cls"), bos)
				tc["cls_token"] = cls
			}
			if !truthy(sep) && len(tc) > 0 {
				sep = firstOr(get(p, "sep"), eos)
				tc["sep_token"] = sep
			}
		case "TemplateProcessing":
			s.template(p, tc, &bos, &cls, &eos, &sep)
		}
	}
}

// firstOr is processor.get(key, [dflt])[0].
func firstOr(v any, dflt any) any {
	if v == nil {
		return dflt
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return nil
}

func specialID(item any) any  { return get(get(item, "SpecialToken"), "id") }
func sequenceID(item any) any { return get(get(item, "Sequence"), "id") }

func (s *specialVocab) template(p any, tc map[string]any, bos, cls, eos, sep *any) {
	single, _ := get(p, "single").([]any)
	pair, _ := get(p, "pair").([]any)
	var first, last any
	if len(single) > 1 {
		if first = specialID(single[0]); truthy(first) {
			if len(tc) == 0 {
				*bos = first
			}
			known := pyEq(first, *bos) || pyEq(first, *cls)
			s.add.set("bos", known)
			if !known {
				s.warn(fmt.Sprintf("unknown leading special token %v in TemplateProcessing<single>", first))
			}
		}
		if last = specialID(single[len(single)-1]); truthy(last) {
			if len(tc) == 0 {
				*eos = last
			} else if !pyEq(last, *eos) {
				s.renameEOS(tc, *eos, last)
				tc["eos_token"], *eos = last, last
			}
			s.add.set("eos", pyEq(last, *eos))
		}
	}
	if len(pair) == 0 {
		return
	}
	start, stop := 0, len(pair)
	if truthy(first) && pyEq(specialID(pair[0]), first) {
		start = 1
	}
	if truthy(last) && pyEq(specialID(pair[len(pair)-1]), last) {
		stop = len(pair) - 1
	}
	if start >= stop {
		return
	}
	pair = pair[start:stop]
	if sequenceID(pair[0]) != "A" || sequenceID(pair[len(pair)-1]) != "B" || len(pair) < 3 {
		return
	}
	mid := pair[1 : len(pair)-1]
	addSep := false
	if e := specialID(mid[0]); truthy(e) && (pyEq(e, *sep) || pyEq(e, *eos)) && !truthy(last) {
		addSep = true
	}
	if len(mid) == 2 {
		if e := specialID(mid[1]); truthy(e) && (pyEq(e, *sep) || pyEq(e, *eos)) {
			addSep = true
		}
	}
	s.add.set("sep", addSep)
	if addSep && !truthy(*sep) && len(tc) > 0 {
		tc["sep_token"] = *eos
	}
}

// renameEOS keeps the EOS token a TemplateProcessing overrides as EOT, or
// EOM when EOT is taken, as the converter does.
func (s *specialVocab) renameEOS(tc map[string]any, oldEOS, newEOS any) {
	for _, typ := range []string{"eot", "eom"} {
		if !contains(s.types, typ) {
			s.types = append(s.types, typ)
			tc[typ+"_token"] = oldEOS
			return
		}
	}
	s.warn(fmt.Sprintf("overriding EOS token %v with %v without EOT/EOM fallback", oldEOS, newEOS))
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
