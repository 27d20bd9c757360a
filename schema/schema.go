// Package schema builds the recipe JSON Schema from the stage specs and
// validates YAML recipes against it, reporting every violation at the YAML
// line and column it concerns. It knows nothing of stages beyond the schema
// fragments handed to it, so the pipeline can depend on it without a cycle.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// ID is the schema's $id; editors key their association on it.
const ID = "https://mlmf-run.dev/schema/recipe-v1.json"

// StageKind is what the schema needs from one stage spec.
type StageKind struct {
	Kind    string
	Summary string
	Params  map[string]any
}

// Build assembles the recipe schema: the recipe envelope, and for each stage
// kind an if/then that applies its parameter schema to `with` when `kind`
// names it. The if/then form (rather than oneOf) is what makes violations
// point at the offending parameter instead of at the whole stage.
// extra are engine-level stage keys (when:, for_each:) and their schemas.
func Build(kinds []StageKind, versions []int, extra map[string]any) map[string]any {
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].Kind < kinds[j].Kind })
	names := make([]any, len(kinds))
	var conds []any
	for i, k := range kinds {
		names[i] = k.Kind
		params := k.Params
		if params == nil {
			params = map[string]any{"type": "object", "additionalProperties": false}
		}
		conds = append(conds, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"kind": map[string]any{"const": k.Kind}}, "required": []any{"kind"}},
			"then": map[string]any{"properties": map[string]any{"with": params}},
		})
	}
	vs := make([]any, len(versions))
	for i, v := range versions {
		vs[i] = v
	}
	stage := map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"id", "kind"},
		"properties": map[string]any{
			"id":          map[string]any{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]*$", "description": "Unique stage name; other stages list it in their inputs."},
			"kind":        map[string]any{"type": "string", "enum": names, "description": "Stage kind (see `mlmf-run stages`)."},
			"inputs":      map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "Ids of the stages whose models this stage consumes."},
			"with":        map[string]any{"type": "object", "description": "Parameters of the stage kind."},
			"description": map[string]any{"type": "string"},
		},
		"allOf": conds,
	}
	for k, v := range extra {
		stage["properties"].(map[string]any)[k] = v
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  ID,
		"title":                "mlmf-run recipe",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"version", "stages"},
		"properties": map[string]any{
			"version":     map[string]any{"type": "integer", "enum": vs, "description": "Recipe format version."},
			"description": map[string]any{"type": "string"},
			"vars": map[string]any{
				"type":        "object",
				"description": "Variables referenced as ${name}; --set name=value overrides. A null default means the var must be set.",
				"additionalProperties": map[string]any{"anyOf": []any{
					map[string]any{"type": []any{"string", "number", "boolean", "null"}},
					map[string]any{"type": "array", "items": map[string]any{"type": []any{"string", "number"}}, "description": "A list, for for_each; --set takes it comma-separated."},
				}},
			},
			"stages": map[string]any{"type": "array", "minItems": 1, "items": stage},
		},
	}
}

// Compile turns a built schema into a validator.
func Compile(doc map[string]any) (*jsonschema.Schema, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(ID, bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("recipe schema: %w", err)
	}
	return c.Compile(ID)
}
