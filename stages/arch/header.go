package arch

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// HeaderOptions are the converter's inputs that are not in config.json.
type HeaderOptions struct {
	// Dir is the model folder; its base name is the fallback model id
	// (general.name "Tiny Llama Spm" for "tiny-llama-spm").
	Dir string
	// Name overrides general.name, like the converter's --model-name.
	Name string
	// OutType is the requested output type: F32, F16, BF16 or Q8_0.
	OutType tensor.DType
}

// Header returns every non-tokenizer key the converter writes, in its
// order: general.architecture and type, the model-card keys its metadata
// heuristics derive from config.json's _name_or_path and the folder name
// (name, version, finetune, basename, size_label), the architecture
// hyperparameters with general.file_type among them, and
// general.quantization_version. tensors are the remapped GGUF tensors; their
// element counts give the size label. README model cards are not read.
func (a *Arch) Header(cfg map[string]any, tensors []*tensor.Desc, opt HeaderOptions) (*gguf.Meta, error) {
	ft, ok := FileType(opt.OutType)
	if !ok {
		return nil, fmt.Errorf("%s header: output type %v is not one the converter writes (F32, F16, BF16, Q8_0)", a.Arch, opt.OutType)
	}
	ft = mxfp4FileType(ft, tensors)
	total, shared, expert, count := paramCounts(tensors)
	m := &gguf.Meta{}
	m.Set("general.architecture", gguf.String(a.Arch))
	m.Set("general.type", gguf.String("model"))

	var md modelID
	if np, ok := cfg["_name_or_path"].(string); ok && strings.Count(np, "/") <= 1 {
		fill(&md, parseModelID(np, total))
	}
	if opt.Dir != "" {
		fill(&md, parseModelID(filepath.Base(filepath.Clean(opt.Dir)), total))
	}
	name := idToTitle(md.full)
	if opt.Name != "" {
		name = opt.Name
	}
	if name == "" {
		name = filepath.Base(filepath.Clean(opt.Dir))
	}
	m.Set("general.name", gguf.String(name))
	for _, kv := range [][2]string{{"general.version", md.version}, {"general.organization", titleOrEmpty(md.org)},
		{"general.finetune", md.finetune}, {"general.basename", md.basename}} {
		if kv[1] != "" {
			m.Set(kv[0], gguf.String(kv[1]))
		}
	}
	if md.sizeLabel == "" && total > 0 {
		md.sizeLabel = SizeLabel(total, shared, expert, count)
	}
	if md.sizeLabel != "" {
		m.Set("general.size_label", gguf.String(md.sizeLabel))
	}
	hp, err := a.hparamKeys(a.hparamsOf(cfg), &ft)
	if err != nil {
		return nil, err
	}
	for _, kv := range hp.All() {
		m.Set(kv.Key, kv.Value)
	}
	m.Set("general.quantization_version", gguf.Uint32(2))
	return m, nil
}

func titleOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return idToTitle(s)
}

// fill sets the fields of dst that are still empty, as Metadata.load does
// with each source in turn.
func fill(dst *modelID, src modelID) {
	for _, p := range [][2]*string{{&dst.full, &src.full}, {&dst.org, &src.org}, {&dst.basename, &src.basename},
		{&dst.finetune, &src.finetune}, {&dst.version, &src.version}, {&dst.sizeLabel, &src.sizeLabel}} {
		if *p[0] == "" {
			*p[0] = *p[1]
		}
	}
}

// paramCounts is GGUFWriter.get_total_parameter_count over output tensors:
// tensors named *_exps.* count one expert each into expert, the rest into
// shared; count is the mean expert count.
func paramCounts(ts []*tensor.Desc) (total, shared, expert, count int64) {
	var sum, n int64
	for _, d := range ts {
		size := d.Elems()
		if strings.Contains(d.Name, "_exps.") && len(d.Shape) >= 3 && d.Shape[len(d.Shape)-3] > 0 {
			e := d.Shape[len(d.Shape)-3]
			expert += size / e
			sum += e
			n++
		} else {
			shared += size
		}
		total += size
	}
	if n > 0 {
		count = sum / n
	}
	return
}

// SizeLabel is gguf-py's size_label: "1.4M", "7.2B", or "8x7.2B" for
// mixtures of experts (shared plus one expert's parameters).
func SizeLabel(total, shared, expert, count int64) string {
	if count > 0 {
		return fmt.Sprintf("%dx%s", count, roundedCount(abs64(shared)+abs64(expert), 2))
	}
	return roundedCount(abs64(total), 2)
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// roundedCount is model_weight_count_rounded_notation: scale to K/M/B/T and
// keep at least minDigits significant digits.
func roundedCount(n int64, minDigits int) string {
	f := float64(n)
	var scaled float64
	var suffix string
	switch {
	case f > 1e12:
		scaled, suffix = f*1e-12, "T"
	case f > 1e9:
		scaled, suffix = f*1e-9, "B"
	case f > 1e6:
		scaled, suffix = f*1e-6, "M"
	default:
		scaled, suffix = f*1e-3, "K"
	}
	intDigits := len(strings.TrimLeft(strconv.FormatFloat(math.RoundToEven(scaled), 'f', 0, 64), "0"))
	fix := max(minDigits-intDigits, 0)
	return strconv.FormatFloat(scaled, 'f', fix, 64) + suffix
}
