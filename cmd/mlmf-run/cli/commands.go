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
	var noPlan bool
	c := &cobra.Command{
		Use:   "validate RECIPE",
		Short: "Check a recipe (schema, graph, vars) and plan it on metadata, reading no weights",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	c.Flags().StringArrayVar(&sets, "set", nil, "override a recipe var: --set key=value")
	c.Flags().BoolVar(&noPlan, "no-plan", false, "check the recipe only; do not open its inputs")
	return c
}

func graphCmd(stdout io.Writer) *cobra.Command {
	var sets []string
	var format string
	c := &cobra.Command{
		Use:   "graph RECIPE",
		Short: "Print the recipe's stage graph as Graphviz DOT or Mermaid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := loadRecipe(args[0], sets)
			if err != nil {
				return err
			}
			switch format {
			case "dot":
				fmt.Fprint(stdout, Dot(r))
			case "mermaid":
				fmt.Fprint(stdout, Mermaid(r))
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
func Dot(r *pipeline.Recipe) string {
	var b strings.Builder
	b.WriteString("digraph recipe {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, s := range r.Stages {
		style := ""
		if s.Skipped {
			style = ", style=dashed, fontcolor=gray"
		}
		fmt.Fprintf(&b, "  %q [label=%q%s];\n", s.ID, s.ID+"\\n("+s.Kind+")", style)
	}
	for _, s := range r.Stages {
		for _, in := range s.Inputs {
			fmt.Fprintf(&b, "  %q -> %q;\n", in, s.ID)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// Mermaid renders the stage graph as a Mermaid flowchart.
func Mermaid(r *pipeline.Recipe) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, s := range r.Stages {
		skipped := ""
		if s.Skipped {
			skipped = "<br/>skipped"
		}
		fmt.Fprintf(&b, "  %s[\"%s<br/>(%s)%s\"]\n", s.ID, s.ID, s.Kind, skipped)
	}
	for _, s := range r.Stages {
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

// paramLines describes each parameter of a spec's schema on one line.
func paramLines(schema map[string]any) []string {
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
		typ := fmt.Sprint(p["type"])
		if e, ok := p["enum"].([]any); ok {
			var vs []string
			for _, v := range e {
				vs = append(vs, fmt.Sprint(v))
			}
			typ = strings.Join(vs, "|")
		}
		mark := ""
		if req[n] {
			mark = " (required)"
		}
		desc, _ := p["description"].(string)
		out = append(out, fmt.Sprintf("%-18s %s%s  %s", n, typ, mark, desc))
	}
	return out
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
