package arch

import (
	"regexp"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// alwaysF32 are the GGUF tensors the converter keeps in float32 whatever the
// output type (prepare_tensors' list, which mirrors llama-quantize's):
// router gates, position and token-type embeddings, SSM/RWKV/convolution
// parameters.
var alwaysF32 = regexp.MustCompile(`^(blk\.\d+\.(ffn_gate_inp|ffn_gate_inp_shexp|ssm_conv1d|shortconv\.conv|time_mix_first|time_mix_w1|time_mix_w2|time_mix_decay_w1|time_mix_decay_w2|time_mix_lerp_fused|altup_correct_coef|altup_predict_coef|ssm_conv1d_q|ssm_conv1d_k|ssm_conv1d_v)|position_embd|token_types|posnet\.\d+\.norm[12]|v\.position_embd|a\.position_embd)\.weight$`)

// OutType is the GGUF type the converter writes a tensor in when asked for
// requested (F32, F16, BF16 or Q8_0): 1-D tensors, norms, biases and the
// alwaysF32 list stay float32; a Q8_0 row length that is not a multiple of
// 32 falls back to F16 as gguf-py's quantizer does. Other requested types
// are returned unchanged (they are llama-quantize's business).
func OutType(name string, shape []int64, requested tensor.DType) tensor.DType {
	return outType(name, shape, requested, nil)
}

// OutType is the package OutType plus the table's extra float32 patterns.
func (a *Arch) OutType(name string, shape []int64, requested tensor.DType) tensor.DType {
	return outType(name, shape, requested, a.F32)
}

func outType(name string, shape []int64, requested tensor.DType, extra []string) tensor.DType {
	if len(shape) <= 1 || strings.HasSuffix(name, "_norm.weight") {
		return tensor.F32
	}
	if alwaysF32.MatchString(name) || !strings.HasSuffix(name, ".weight") && !strings.HasSuffix(name, ".lora_a") && !strings.HasSuffix(name, ".lora_b") {
		return tensor.F32
	}
	for _, p := range extra {
		if globRegexp(p).MatchString(name) {
			return tensor.F32
		}
	}
	if requested == tensor.Q8_0 && shape[len(shape)-1]%32 != 0 {
		return tensor.F16
	}
	return requested
}

// FileType is general.file_type (llama.cpp's LlamaFileType) for a
// converter output type; ok is false for types the converter cannot write.
func FileType(t tensor.DType) (ft uint32, ok bool) {
	switch t {
	case tensor.F32:
		return 0, true
	case tensor.F16:
		return 1, true
	case tensor.Q8_0:
		return 7, true
	case tensor.BF16:
		return 32, true
	}
	return 0, false
}
