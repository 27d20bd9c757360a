package pipeline

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// whenSchema is the schema of a stage's `when:` condition.
var whenSchema = map[string]any{
	"type": "object", "additionalProperties": false, "required": []any{"var"},
	"description": "Run the stage only if the var's value matches (or, with not_matches, does not match) a glob where * matches anything and | separates alternatives. " +
		"Stages whose inputs are skipped are skipped too, so one recipe can branch on, say, the output's extension.",
	"properties": map[string]any{
		"var":         map[string]any{"type": "string"},
		"matches":     map[string]any{"type": "string"},
		"not_matches": map[string]any{"type": "string"},
	},
}

// skippedStages evaluates every stage's `when:` against the resolved vars
// and returns the indexes of the stages that do not run, including those
// whose inputs do not run. Malformed conditions are reported.
func skippedStages(seq *yaml.Node, vals map[string]string, stageOf func(string) string, add addFunc, unset unsetFunc) map[int]bool {
	skip := map[int]bool{}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return skip
	}
	idx := map[string]int{}
	for i, n := range seq.Content {
		if id := mapValue(n, "id"); id != nil {
			idx[id.Value] = i
		}
		w := mapValue(n, "when")
		if w == nil || w.Kind != yaml.MappingNode {
			continue
		}
		var c struct {
			Var        string `yaml:"var"`
			Matches    string `yaml:"matches"`
			NotMatches string `yaml:"not_matches"`
		}
		if err := w.Decode(&c); err != nil {
			continue // the schema reports it
		}
		v, ok := vals[c.Var]
		ptr := fmt.Sprintf("/stages/%d", i)
		switch {
		case !ok && unset == nil:
			add(w, stageOf(ptr), "when: var %q is not set", c.Var)
		case (c.Matches == "") == (c.NotMatches == ""):
			add(w, stageOf(ptr), "when: expected exactly one of matches, not_matches")
		case !ok:
			unset(w, stageOf(ptr), false, c.Var) // undecided: the stage may run
		case c.Matches != "":
			skip[i] = !globMatch(c.Matches, v)
		default:
			skip[i] = globMatch(c.NotMatches, v)
		}
	}
	// Skipping spreads downstream; iterate to a fixed point (stages may be
	// listed before their inputs).
	for changed := true; changed; {
		changed = false
		for i, n := range seq.Content {
			if skip[i] {
				continue
			}
			if in := mapValue(n, "inputs"); in != nil && in.Kind == yaml.SequenceNode {
				for _, c := range in.Content {
					if j, ok := idx[c.Value]; ok && skip[j] {
						skip[i], changed = true, true
					}
				}
			}
		}
	}
	return skip
}

// globMatch matches a whole string against a glob whose * and ? cross
// path separators, so "*.gguf" matches "out/model.gguf"; "|" separates
// alternatives, as in a shell case pattern ("*.gguf|*.safetensors").
func globMatch(glob, s string) bool {
	var b strings.Builder
	b.WriteString("^(?:")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '|':
			b.WriteString("|")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(")$")
	return regexp.MustCompile(b.String()).MatchString(s)
}
