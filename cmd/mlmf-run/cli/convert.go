package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/recipes"
)

// convertCmd is a shortcut for the shipped hf-to-gguf recipe, run from the
// copy embedded in the binary so it behaves exactly like the reviewed file.
func convertCmd(stdout, stderr io.Writer) *cobra.Command {
	var o runFlags
	var out, typ, pre string
	c := &cobra.Command{
		Use:   "convert MODEL -o OUT.gguf [--type T | --type T1,T2,... -o 'OUT-{type}.gguf']",
		Short: "Convert a Hugging Face folder to GGUF (runs recipes/hf-to-gguf.yaml, or hf-to-gguf-matrix.yaml for several types)",
		Long: `Convert a Hugging Face folder to GGUF at one type, or at several types in one
pass: --type Q8_0,Q6_K,Q4_K_M -o 'out/model-{type}.gguf' reads the model once
and writes one file per type, {type} in the path standing for each.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if out == "" {
				return usageError{fmt.Errorf("-o/--out is required")}
			}
			vals, err := parseSets(o.sets)
			if err != nil {
				return err
			}
			name, err := convertRecipe(typ, out, vals)
			if err != nil {
				return usageError{err}
			}
			raw, err := recipes.FS.ReadFile(name)
			if err != nil {
				return err
			}
			vals["model"] = args[0]
			if pre != "" {
				vals["pre"] = pre
			}
			r, err := pipeline.Parse(recipes.Label(strings.TrimSuffix(name, ".yaml")), raw, vals, registry())
			if err != nil {
				return err
			}
			mem, err := ParseSize(o.memory)
			if err != nil {
				return usageError{fmt.Errorf("--memory: %w", err)}
			}
			return execute(cmd.Context(), r, o, mem, stdout, stderr)
		},
	}
	o.register(c)
	c.Flags().StringVarP(&out, "out", "o", "", "output GGUF path")
	c.Flags().StringVar(&typ, "type", "F16", "F32, F16, BF16, Q8_0, Q4_0..Q5_1, or a mix such as Q4_K_M; several, comma-separated, with {type} in -o")
	c.Flags().StringVar(&pre, "pre", "", "tokenizer.ggml.pre for BPE tokenizers mlmf-run cannot name")
	return c
}

// convertRecipe picks the embedded recipe for --type and -o and sets their
// vars: several types go through the matrix recipe, one read for all, and
// need {type} in the output path so each gets its own file.
func convertRecipe(typ, out string, vals map[string]string) (string, error) {
	types := strings.Split(typ, ",")
	if len(types) == 1 {
		if strings.Contains(out, "{type}") {
			out = strings.ReplaceAll(out, "{type}", typ)
		}
		vals["out"], vals["type"] = out, typ
		return "hf-to-gguf.yaml", nil
	}
	if !strings.Contains(out, "{type}") {
		return "", fmt.Errorf("-o %q: with several types (%s) the output path needs {type}, e.g. -o 'model-{type}.gguf'", out, typ)
	}
	vals["out"], vals["types"] = strings.ReplaceAll(out, "{type}", "${type}"), typ
	return "hf-to-gguf-matrix.yaml", nil
}
