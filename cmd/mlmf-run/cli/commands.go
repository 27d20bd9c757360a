package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/schema"
)

func validateCmd(stdout io.Writer) *cobra.Command {
	var sets []string
	var plan, noPlan bool
	c := &cobra.Command{
		Use:   "validate RECIPE [--set key=value]...",
		Short: "Check a recipe (schema, graph); with --set or --plan, also its vars and a plan on metadata, reading no weights",
		Long: "Without --set, validate checks what does not depend on the vars: YAML, schema (a ${var}\n" +
			"reference is accepted where a parameter goes), stage kinds, inputs, cycles; what a\n" +
			"repository of recipes runs in its CI. With --set (or --plan), every var must have a\n" +
			"value and the recipe is also planned on its inputs' metadata (--no-plan: not planned).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(sets) == 0 && !plan {
				return validateOutline(stdout, args[0])
			}
			r, err := loadRecipe(args[0], sets)
			if err != nil {
				return err
			}
			if !noPlan {
				if _, err := pipeline.Run(cmd.Context(), r, pipeline.RunOptions{DryRun: true}); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "%s: ok (%d stages)\n", args[0], len(r.Stages))
			return nil
		},
	}
	c.Flags().StringArrayVar(&sets, "set", nil, "override a recipe var: --set key=value; every var must then have a value")
	c.Flags().BoolVar(&plan, "plan", false, "plan with the vars' defaults, as --set does with its values")
	c.Flags().BoolVar(&noPlan, "no-plan", false, "with --set: check the vars too, but do not open the inputs")
	return c
}

// validateOutline checks a recipe without its vars.
func validateOutline(stdout io.Writer, arg string) error {
	o, err := loadOutline(arg, nil)
	if err != nil {
		return err
	}
	note := "not planned: give its vars with --set (or --plan for the defaults) to plan"
	if len(o.Unset) > 0 {
		note = fmt.Sprintf("not planned: var(s) %s have no default; give them with --set to plan", strings.Join(o.Unset, ", "))
	}
	fmt.Fprintf(stdout, "%s: ok (%d stages; %s)\n", arg, len(o.Stages), note)
	return nil
}

// loadOutline reads the recipe a RECIPE argument names and checks it
// without requiring its vars.
func loadOutline(arg string, sets []string) (*pipeline.Outline, error) {
	label, raw, vals, err := recipeAndSets(arg, sets)
	if err != nil {
		return nil, err
	}
	return pipeline.ParseOutline(label, raw, vals, registry())
}

func graphCmd(stdout io.Writer) *cobra.Command {
	var sets []string
	var format string
	c := &cobra.Command{
		Use:   "graph RECIPE [--set key=value]...",
		Short: "Print the recipe's stage graph as Graphviz DOT or Mermaid; vars are optional (they decide when: conditions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := loadOutline(args[0], sets)
			if err != nil {
				return err
			}
			switch format {
			case "dot":
				fmt.Fprint(stdout, Dot(o.Stages))
			case "mermaid":
				fmt.Fprint(stdout, Mermaid(o.Stages))
			default:
				return usageError{fmt.Errorf("--format %q: expected dot or mermaid", format)}
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&sets, "set", nil, "override a recipe var: --set key=value")
	c.Flags().StringVar(&format, "format", "dot", "dot or mermaid")
	return c
}

// Dot renders the stage graph for Graphviz.
func Dot(stages []*pipeline.StageDecl) string {
	var b strings.Builder
	b.WriteString("digraph recipe {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, s := range stages {
		style := ""
		if s.Skipped {
			style = ", style=dashed, fontcolor=gray"
		}
		// \n in a DOT label is Graphviz's line break: written once, raw,
		// between two escaped parts.
		label := `"` + dotEscape(s.ID) + `\n(` + dotEscape(s.Kind) + `)"`
		fmt.Fprintf(&b, "  %s [label=%s%s];\n", dotID(s.ID), label, style)
	}
	for _, s := range stages {
		for _, in := range s.Inputs {
			fmt.Fprintf(&b, "  %s -> %s;\n", dotID(in), dotID(s.ID))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotID quotes a string as a DOT ID. Go's %q is not DOT: its \uXXXX and
// \xXX escapes mean nothing to Graphviz.
func dotID(s string) string { return `"` + dotEscape(s) + `"` }

// dotEscape escapes what a DOT quoted string and Graphviz's label escapes
// give meaning to: the quote, the backslash and line breaks.
func dotEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "").Replace(s)
}

// Mermaid renders the stage graph as a Mermaid flowchart.
func Mermaid(stages []*pipeline.StageDecl) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, s := range stages {
		skipped := ""
		if s.Skipped {
			skipped = "<br/>skipped"
		}
		fmt.Fprintf(&b, "  %s[\"%s<br/>(%s)%s\"]\n", s.ID, s.ID, s.Kind, skipped)
	}
	for _, s := range stages {
		for _, in := range s.Inputs {
			fmt.Fprintf(&b, "  %s --> %s\n", in, s.ID)
		}
	}
	return b.String()
}

func schemaCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the recipe JSON Schema for editors (${var} references accepted where parameters go)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(schema.ForEditors(pipeline.RecipeSchema(registry())))
		},
	}
}

func stagesCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "stages",
		Short: "List the stage kinds with their parameters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			specs := registry().Specs()
			if asJSON {
				var out []map[string]any
				for _, s := range specs {
					out = append(out, map[string]any{"kind": s.Kind, "summary": s.Summary, "params": s.Params, "examples": s.Examples})
				}
				return json.NewEncoder(stdout).Encode(out)
			}
			for _, s := range specs {
				fmt.Fprintf(stdout, "%s — %s\n", s.Kind, s.Summary)
				for _, p := range paramLines(s.Params) {
					fmt.Fprintln(stdout, "    "+p)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return c
}

// paramLines describes each parameter of a spec's schema on one line, and
// the fields of nested objects (an array's items, an object's properties)
// on lines of their own, as path[].field or path.field.
func paramLines(schema map[string]any) []string {
	return fieldLines("", schema)
}

func fieldLines(prefix string, schema map[string]any) []string {
	props, _ := schema["properties"].(map[string]any)
	req := map[string]bool{}
	if r, ok := schema["required"].([]any); ok {
		for _, x := range r {
			req[fmt.Sprint(x)] = true
		}
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		p, _ := props[n].(map[string]any)
		mark := ""
		if req[n] {
			mark = " (required)"
		}
		desc, _ := p["description"].(string)
		indent := strings.Repeat("  ", strings.Count(prefix, "."))
		out = append(out, fmt.Sprintf("%s%-18s %s%s  %s", indent, prefix+n, typeName(p), mark, desc))
		if items, ok := p["items"].(map[string]any); ok {
			out = append(out, fieldLines(prefix+n+"[].", items)...)
		}
		out = append(out, fieldLines(prefix+n+".", p)...)
	}
	return out
}

// typeName says what a parameter takes: its enum's values, its type(s),
// and what an array or a map holds.
func typeName(p map[string]any) string {
	if e, ok := p["enum"].([]any); ok {
		var vs []string
		for _, v := range e {
			vs = append(vs, fmt.Sprint(v))
		}
		return strings.Join(vs, "|")
	}
	var typ string
	switch t := p["type"].(type) {
	case string:
		typ = t
	case []any:
		var ts []string
		for _, x := range t {
			ts = append(ts, fmt.Sprint(x))
		}
		typ = strings.Join(ts, " or ")
	default:
		typ = "any"
	}
	if items, ok := p["items"].(map[string]any); ok && typ == "array" {
		return "array of " + typeName(items)
	}
	if add, ok := p["additionalProperties"].(map[string]any); ok && typ == "object" && p["properties"] == nil {
		return "map of " + typeName(add)
	}
	return typ
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the recipe versions this build runs",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(stdout, "mlmf-run %s (recipe versions: %v)\n", version(), pipeline.Versions)
		},
	}
}
