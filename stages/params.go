package stages

import "sort"

// Helpers for writing parameter schemas compactly in stage specs.

type props map[string]any

func obj(p props, required ...string) map[string]any {
	req := make([]any, len(required))
	for i, r := range required {
		req[i] = r
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any(p), "required": req}
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

func boolean(desc string) map[string]any {
	return map[string]any{"type": "boolean", "description": desc}
}

func integer(desc string, min int) map[string]any {
	return map[string]any{"type": "integer", "minimum": min, "description": desc}
}

func enum(desc string, vals ...string) map[string]any {
	vs := make([]any, len(vals))
	for i, v := range vals {
		vs[i] = v
	}
	return map[string]any{"type": "string", "enum": vs, "description": desc}
}

func strMap(desc string) map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "description": desc}
}

func sortStrings(s []string) { sort.Strings(s) }
