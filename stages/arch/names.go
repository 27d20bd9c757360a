package arch

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// modelID is what gguf-py's Metadata heuristics read from a model id such
// as "meta-llama/Llama-3.2-1B-Instruct" or a folder name: the full name,
// organization, base name, fine-tune, version and size label ("" = none).
type modelID struct {
	full, org, basename, finetune, version, sizeLabel string
}

var (
	reVersion  = regexp.MustCompile(`(?i)^(v|iter)?\d+([.]\d+)*$`)
	reQuant    = regexp.MustCompile(`(?i)^(i?q\d(_\w)*|b?fp?(16|32))$`)
	reSize     = regexp.MustCompile(`(?i)^(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)$`)
	reFinetune = regexp.MustCompile(`(?i)^(chat|instruct|vision|lora)$`)
	reNoTitle  = regexp.MustCompile(`^(v\d+(?:\.\d+)*|\d.*)`)
)

// parseModelID annotates the dash-separated parts of a model id the way
// Metadata.get_model_id_components does; totalParams rules out size-like
// parts that are really context lengths ("-32k").
func parseModelID(id string, totalParams int64) modelID {
	if id == "" {
		return modelID{}
	}
	if strings.Contains(id, " ") {
		return modelID{full: id}
	}
	var m modelID
	full := id
	if org, rest, ok := strings.Cut(id, "/"); ok {
		m.org, full = org, rest
		if strings.HasPrefix(org, ".") {
			m.org = ""
		}
	}
	m.full = full
	var parts []string
	for _, p := range strings.Split(full, "-") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	types := make([]map[string]bool, len(parts))
	for i, part := range parts {
		t := map[string]bool{}
		types[i] = t
		switch {
		case reVersion.MatchString(part):
			t["version"] = true
		case reQuant.MatchString(part):
			t["type"] = true
			parts[i] = strings.ToUpper(part)
		case i > 0 && reSize.MatchString(part):
			parts[i] = sizePart(part, totalParams, t)
		case i > 0 && reFinetune.MatchString(part):
			if totalParams < 0 && strings.ToLower(part) == "lora" {
				t["type"] = true
			} else {
				t["finetune"] = true
			}
		}
	}
	numericSize := false
	for i, p := range parts {
		if types[i]["size_label"] && strings.IndexFunc(p, unicode.IsDigit) >= 0 {
			numericSize = true
		}
	}
	if numericSize {
		for i, p := range parts {
			if types[i]["size_label"] && strings.IndexFunc(p, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
				delete(types[i], "size_label")
			}
		}
	}
	atStart := true
	for i, p := range parts {
		t := types[i]
		if atStart && ((len(t) == 0 && unicode.IsLetter([]rune(p)[0])) || t["version"]) {
			t["basename"] = true
			continue
		}
		atStart = false
		if len(t) == 0 {
			t["finetune"] = true
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if !types[i]["basename"] || len(types[i]) <= 1 {
			break
		}
		delete(types[i], "basename")
	}
	join := func(keep func(int) bool, dedupe bool) string {
		var out []string
		seen := map[string]bool{}
		for i, p := range parts {
			if keep(i) && !(dedupe && seen[p]) {
				out = append(out, p)
				seen[p] = true
			}
		}
		return strings.Join(out, "-")
	}
	m.basename = join(func(i int) bool { return types[i]["basename"] }, false)
	m.sizeLabel = join(func(i int) bool { return types[i]["size_label"] }, true)
	m.finetune = join(func(i int) bool { return types[i]["finetune"] }, false)
	m.version = join(func(i int) bool { return types[i]["version"] && !types[i]["basename"] }, false)
	if m.sizeLabel == "" && m.finetune == "" && m.version == "" {
		m.basename = ""
	}
	return m
}

// sizePart normalizes a size-like part ("7b1" -> "7.1B") and decides
// whether it is a size label or, far from the real parameter count, a
// fine-tune marker such as a context length.
func sizePart(part string, total int64, t map[string]bool) string {
	part = strings.ReplaceAll(part, "_", ".")
	n := len(part)
	if isDigit(part[n-1]) {
		part = part[:n-2] + "." + part[n-1:] + part[n-2:n-1]
	}
	n = len(part)
	if n > 1 && isDigit(part[n-2]) && strings.ContainsRune("kmbt", rune(part[n-1])) {
		part = part[:n-1] + strings.ToUpper(part[n-1:])
	}
	if total != 0 {
		if f, err := strconv.ParseFloat(part[:n-1], 64); err == nil {
			label := f * math.Pow(1000, float64(strings.Index(" KMBT", part[n-1:])))
			abs := total
			if abs < 0 {
				abs = -abs
			}
			if (total < 0 && label < float64(abs/8)) || (total > 0 && math.Abs(label-float64(total)) > float64(7*total/8)) {
				t["finetune"] = true
				part = part[:n-1] + strings.ToLower(part[n-1:])
			}
		}
	}
	if len(t) == 0 {
		t["size_label"] = true
	}
	return part
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// idToTitle is Metadata.id_to_title: dashes become spaces and all-lowercase
// words are title-cased, except versions and words starting with a digit.
func idToTitle(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	for i, w := range words {
		if isLower(w) && !reNoTitle.MatchString(w) {
			words[i] = pyTitle(w)
		}
	}
	return strings.Join(words, " ")
}

// isLower is Python's str.islower: some cased letter and none upper case.
func isLower(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsUpper(r) || unicode.IsTitle(r) {
			return false
		}
		if unicode.IsLower(r) {
			cased = true
		}
	}
	return cased
}

// pyTitle is Python's str.title: a letter after a non-letter is upper-cased,
// every other letter lower-cased ("gpt2xl" -> "Gpt2Xl").
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			if prevCased {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToTitle(r))
			}
			prevCased = true
			continue
		}
		b.WriteRune(r)
		prevCased = false
	}
	return b.String()
}
