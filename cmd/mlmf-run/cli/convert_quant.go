package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// quantFlags are llama-quantize's options on convert, under its names,
// passed to the recipe's vars of the same meaning.
type quantFlags struct {
	imatrix, tensorTypeFile, outputType, embeddingType, prune string
	include, exclude, tensorTypes, overrideKV                 []string
	leaveOutput, pure, keepSplit                              bool
}

func (q *quantFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&q.imatrix, "imatrix", "", "importance matrix from llama-imatrix (.gguf or legacy .dat), as llama-quantize --imatrix")
	f.StringArrayVar(&q.include, "include-weights", nil, "use the imatrix only for tensors whose name contains this (repeatable)")
	f.StringArrayVar(&q.exclude, "exclude-weights", nil, "do not use the imatrix for tensors whose name contains this (repeatable)")
	f.StringArrayVar(&q.tensorTypes, "tensor-type", nil, "PATTERN=TYPE: quantize tensors whose name the regex matches to TYPE (repeatable; first match wins)")
	f.StringVar(&q.tensorTypeFile, "tensor-type-file", "", "file of PATTERN=TYPE entries separated by whitespace")
	f.StringVar(&q.outputType, "output-tensor-type", "", "type for output.weight")
	f.StringVar(&q.embeddingType, "token-embedding-type", "", "type for the token embeddings")
	f.BoolVar(&q.leaveOutput, "leave-output-tensor", false, "leave output.weight unquantized")
	f.BoolVar(&q.pure, "pure", false, "no per-tensor rules: every quantized tensor in the mix's base type")
	f.StringVar(&q.prune, "prune-layers", "", "comma-separated block numbers to drop (the others renumbered)")
	f.StringArrayVar(&q.overrideKV, "override-kv", nil, "KEY=TYPE:VALUE metadata in the output, TYPE int, float, bool or str (repeatable)")
	f.BoolVar(&q.keepSplit, "keep-split", false, "refused here: convert reads a Hugging Face folder, not a split GGUF (see recipes/quantize-gguf.yaml)")
}

// set puts the flags given into the recipe's vars (the GGUF recipes, one
// type or several, have them all); for another recipe they are refused
// rather than ignored.
func (q *quantFlags) set(c *cobra.Command, recipe string, vals map[string]string) error {
	if q.keepSplit {
		return fmt.Errorf("--keep-split keeps the files of a split GGUF input, and convert reads a Hugging Face folder: " +
			"split the output with --set split_max_size=... or --set split_max_tensors=..., or quantize a split GGUF with recipes/quantize-gguf.yaml --set keep_split=true")
	}
	list := func(v []string, sep string) string { return strings.Join(v, sep) }
	for _, f := range []struct{ flag, key, val string }{
		{"imatrix", "imatrix", q.imatrix},
		{"include-weights", "include_weights", list(q.include, " ")},
		{"exclude-weights", "exclude_weights", list(q.exclude, " ")},
		{"tensor-type", "tensor_types", list(q.tensorTypes, " ")},
		{"tensor-type-file", "tensor_type_file", q.tensorTypeFile},
		{"output-tensor-type", "output_tensor_type", q.outputType},
		{"token-embedding-type", "token_embedding_type", q.embeddingType},
		{"leave-output-tensor", "leave_output_tensor", strconv.FormatBool(q.leaveOutput)},
		{"pure", "pure", strconv.FormatBool(q.pure)},
		{"prune-layers", "prune_layers", q.prune},
		{"override-kv", "override_kv", list(q.overrideKV, "\n")},
	} {
		if !c.Flags().Changed(f.flag) {
			continue
		}
		if recipe != "hf-to-gguf.yaml" && recipe != "hf-to-gguf-matrix.yaml" {
			return fmt.Errorf("--%s applies to a GGUF output", f.flag)
		}
		vals[f.key] = f.val
	}
	return nil
}
