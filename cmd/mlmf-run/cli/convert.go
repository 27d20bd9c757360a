package cli

import (
	"fmt"
	"io"

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
		Use:   "convert MODEL -o OUT.gguf [--type T]",
		Short: "Convert a Hugging Face folder to GGUF (runs recipes/hf-to-gguf.yaml)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{fmt.Errorf("-o/--out is required")}
			}
			raw, err := recipes.FS.ReadFile("hf-to-gguf.yaml")
			if err != nil {
				return err
			}
			vals, err := parseSets(o.sets)
			if err != nil {
				return err
			}
			vals["model"], vals["out"], vals["type"] = args[0], out, typ
			if pre != "" {
				vals["pre"] = pre
			}
			r, err := pipeline.Parse("recipes/hf-to-gguf.yaml", raw, vals, registry())
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
	c.Flags().StringVar(&typ, "type", "F16", "F32, F16, BF16, Q8_0, Q4_0..Q5_1, or a mix such as Q4_K_M")
	c.Flags().StringVar(&pre, "pre", "", "tokenizer.ggml.pre for BPE tokenizers mlmf-run cannot name")
	return c
}
