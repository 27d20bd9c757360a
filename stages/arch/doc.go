package arch

//go:generate go test -run ^TestArchitecturesDocIsCurrent$ . -args -update

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Doc renders docs/architectures.md from the embedded tables: per GGUF
// architecture, the config.json names that select it, what the table says of
// its converter class (its leading comment), and which references it is
// tested against (tested maps a GGUF architecture name to their names). The
// page is generated so that it cannot drift from the tables.
func Doc(tested map[string][]string) []byte {
	var b bytes.Buffer
	b.WriteString("# Architectures\n\n")
	b.WriteString("Generated from `stages/arch/tables/*.yaml` by `go generate ./stages/arch` (a test fails when it is stale).\n")
	b.WriteString("Each table maps a Hugging Face checkpoint to the GGUF that llama.cpp's `convert_hf_to_gguf.py` writes.\n")
	b.WriteString("\"Tested\" names the references a conversion is compared with, key by key and byte by byte:\n")
	b.WriteString("the conformance corpus (`../shared/testdata/corpus`, checkpoints written by transformers) and the tiny\n")
	b.WriteString("checkpoints of `testdata/arch` (made by `scripts/make-arch-refs.py`, converted at BF16, F16 and Q8_0;\n")
	b.WriteString("see `testdata/arch/README.md` for how they differ from the corpus), and those of `testdata/arch-hf`\n")
	b.WriteString("(\"transformers\": written by transformers 5.17 with the architecture's own classes by\n")
	b.WriteString("`scripts/make-arch-refs-hf.py`, converted at BF16, F16 and Q8_0, and run in llama.cpp against transformers'\n")
	b.WriteString("logits). A table without one is converted from its mapping alone.\n\n")
	b.WriteString("Two deliberate differences from the converter, both keys llama.cpp reads and the converter omits: for the\n")
	b.WriteString("tables with `llama_swa_period` (Gemma 2 and 3, Command-R 2, gpt-oss) the converter writes no sliding-window\n")
	b.WriteString("pattern and llama.cpp assumes every n-th layer global; a config whose `layer_types` say otherwise gets\n")
	b.WriteString("`{arch}.attention.sliding_window_pattern`, so llama.cpp runs it as transformers does (checkpoints with the\n")
	b.WriteString("usual pattern stay byte-identical). EXAONE 3's RMS-norm epsilon is also written as\n")
	b.WriteString("`exaone.attention.layer_norm_rms_epsilon`, without which llama.cpp refuses the file. Where llama.cpp\n")
	b.WriteString("computes another function than transformers and no key can change it, the plan warns (stages/arch/caveats.go:\n")
	b.WriteString("SmolLM3 `no_rope_layers` off llama.cpp's every-fourth pattern, an EXAONE 4 window below 64 layers, Phi-3.5-MoE,\n")
	b.WriteString("a BitNet whose `hidden_act` is not SiLU: microsoft's 2B4T uses relu2).\n\n")
	b.WriteString("| GGUF architecture | config.json `architectures` | `model_type` | converter, and what the table does | tested against |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, name := range Known() {
		a := builtin[name]
		t := tested[name]
		if len(t) == 0 {
			t = []string{"none"}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", name, codeList(a.HFArchitectures), codeList(a.ModelTypes),
			cell(tableComment(name)), strings.Join(t, ", "))
	}
	return b.Bytes()
}

// tableComment is the leading comment of an embedded table, as one line.
func tableComment(arch string) string {
	raw, err := tableFS.ReadFile("tables/" + fileOf[arch])
	if err != nil {
		return ""
	}
	var parts []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		parts = append(parts, strings.TrimSpace(strings.TrimPrefix(line, "#")))
	}
	return strings.Join(parts, " ")
}

func codeList(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return "`" + strings.Join(l, "`, `") + "`"
}

// cell escapes a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
