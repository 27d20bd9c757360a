package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/recipes"
	"github.com/mlmf-run/mlmf-run/stages"
)

// convertCmd is a shortcut for the shipped hf-to-gguf recipe (reshard for
// a .safetensors output), run from the copy embedded in the binary so it
// behaves exactly like the reviewed file.
func convertCmd(stdout, stderr io.Writer) *cobra.Command {
	var o runFlags
	var q quantFlags
	var out, typ, pre string
	c := &cobra.Command{
		Use:   "convert MODEL -o OUT.gguf [--type T | --type T1,T2,... -o 'OUT-{type}.gguf'] | -o OUT.safetensors",
		Short: "Convert a Hugging Face folder to GGUF (runs recipes/hf-to-gguf.yaml, or hf-to-gguf-matrix.yaml for several types), or to one .safetensors file",
		Long: `Convert a Hugging Face folder to GGUF at one type, or at several types in one
pass: --type Q8_0,Q6_K,Q4_K_M -o 'out/model-{type}.gguf' reads the model once
and writes one file per type, {type} (or ${type}) in the path standing for each.
-o NAME.safetensors writes one safetensors file instead, the checkpoint's
dtypes kept (recipes/reshard.yaml): a pytorch_model.bin becomes safetensors.`,
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
			name, err := convertRecipe(cmd, args[0], typ, out, vals)
			if err != nil {
				return usageError{err}
			}
			raw, err := recipes.FS.ReadFile(name)
			if err != nil {
				return err
			}
			if err := q.set(cmd, name, vals); err != nil {
				return usageError{err}
			}
			vals["model"] = args[0]
			if pre != "" {
				vals["pre"] = pre
			}
			r, err := pipeline.Parse(recipes.Label(strings.TrimSuffix(name, ".yaml")), raw, vals, registry())
			if err != nil {
				return err
			}
			mem, err := memoryBudget(o.memory)
			if err != nil {
				return usageError{err}
			}
			return execute(cmd.Context(), r, o, mem, stdout, stderr)
		},
	}
	o.register(c)
	c.Flags().StringVarP(&out, "out", "o", "", "output path: .gguf, or .safetensors (one file, the checkpoint's dtypes)")
	c.Flags().StringVar(&typ, "type", "F16", "F32, F16, BF16, Q8_0, Q4_0..Q5_1, or a mix such as Q4_K_M; several, comma-separated, with {type} in -o")
	c.Flags().StringVar(&pre, "pre", "", "tokenizer.ggml.pre for BPE tokenizers mlmf-run cannot name")
	q.register(c)
	return c
}

// convertRecipe picks the embedded recipe that writes what -o's extension
// names (so the bytes under m.safetensors are safetensors) and sets its
// vars. The safetensors route copies tensors as they are, so --type and
// --pre would be ignored there: they are refused instead.
func convertRecipe(cmd *cobra.Command, model, typ, out string, vals map[string]string) (string, error) {
	if err := stages.CheckHFSource(model); err != nil {
		return "", err
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".gguf":
		return ggufRecipe(typ, out, vals)
	case ".safetensors":
		for _, f := range []string{"type", "pre"} {
			if cmd.Flags().Changed(f) {
				return "", fmt.Errorf("--%s applies to GGUF output; a .safetensors output keeps the checkpoint's dtypes", f)
			}
		}
		vals["out"] = out
		return "reshard.yaml", nil
	}
	return "", fmt.Errorf("-o %s: convert writes a .gguf or a .safetensors file and tells which by the extension; "+
		"for a Hugging Face folder run `mlmf-run reshard` (or `mlmf-run gguf-to-hf` from a GGUF)", out)
}

// ggufRecipe picks the GGUF recipe for --type and -o and sets their vars:
// several types go through the matrix recipe, one read for all, and need
// {type} in the output path so each gets its own file. ${type}, the
// matrix recipe's own spelling, is taken as {type} (else it named files
// m-$Q8_0.gguf).
func ggufRecipe(typ, out string, vals map[string]string) (string, error) {
	out = strings.ReplaceAll(out, "${type}", "{type}")
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
