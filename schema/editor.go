package schema

// varRefSchema matches a whole-value ${name} reference, which the engine
// substitutes before it validates.
var varRefSchema = map[string]any{"type": "string", "pattern": `^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`}

// ForEditors returns a copy of a built schema for validating recipes as
// written, before substitution: wherever a stage parameter's value goes,
// a ${var} reference is accepted too. The engine itself validates the
// substituted recipe against the strict schema.
func ForEditors(doc map[string]any) map[string]any {
	return rewrite(doc, false).(map[string]any)
}

// rewrite deep-copies v; inside a stage's `with` (inWith) every property,
// item and additional-property schema also accepts a var reference.
func rewrite(v any, inWith bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			switch {
			case k == "properties":
				props := map[string]any{}
				for name, p := range val.(map[string]any) {
					sub := rewrite(p, inWith || name == "with")
					if inWith {
						sub = orVar(sub)
					}
					props[name] = sub
				}
				out[k] = props
			case inWith && (k == "items" || k == "additionalProperties"):
				if m, ok := val.(map[string]any); ok {
					out[k] = orVar(rewrite(m, true))
				} else {
					out[k] = val
				}
			default:
				out[k] = rewrite(val, inWith)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rewrite(e, inWith)
		}
		return out
	}
	return v
}

func orVar(s any) any {
	return map[string]any{"anyOf": []any{s, varRefSchema}}
}
