package conformance

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// hostileCase is a lying copy of a tiny checkpoint: config.json entries set
// (a dotted path; nil deletes), tensors reshaped or refilled, tensors
// dropped; the run must fail with an error holding every string of want
// and leave no output behind.
type hostileCase struct {
	name, src string
	cfg       map[string]any
	pre       map[string]any     // preprocessor_config.json entries, as cfg
	tok       map[string]any     // tokenizer_config.json entries, as cfg
	shape     map[string][]int64 // tensor -> new shape (bytes repeated to fit)
	nan       []string           // tensors filled with NaN (BF16/F32)
	drop      []string           // tensors removed
	want      []string
}

// stTensor is one safetensors header entry.
type stTensor struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// mutateCheckpoint copies the folder src to dst with c's lies applied.
func mutateCheckpoint(t *testing.T, src, dst string, c hostileCase) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	editJSON(t, filepath.Join(dst, "config.json"), c.cfg)
	editJSON(t, filepath.Join(dst, "preprocessor_config.json"), c.pre)
	editJSON(t, filepath.Join(dst, "tokenizer_config.json"), c.tok)
	if c.shape == nil && c.nan == nil && c.drop == nil {
		return
	}
	p := filepath.Join(dst, "model.safetensors")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	data := b[8+n:]
	names := make([]string, 0, len(hdr))
	ts := map[string]*stTensor{}
	for k, raw := range hdr {
		if k == "__metadata__" {
			continue
		}
		var e stTensor
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		ts[k] = &e
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return ts[names[i]].Offsets[0] < ts[names[j]].Offsets[0] })
	size := map[string]int64{"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "I8": 1}
	out := map[string]any{}
	var blob []byte
	for _, k := range names {
		e := ts[k]
		if dropped(k, c.drop) {
			continue
		}
		by := data[e.Offsets[0]:e.Offsets[1]]
		if s, ok := c.shape[k]; ok {
			e.Shape = s
			want := size[e.DType]
			for _, d := range s {
				want *= d
			}
			nb := make([]byte, want)
			for i := range nb {
				nb[i] = by[i%len(by)]
			}
			by = nb
		}
		for _, q := range c.nan {
			if q == k {
				nb := make([]byte, len(by))
				for i := 0; i+1 < len(nb); i += 2 {
					nb[i], nb[i+1] = 0xc0, 0x7f // BF16 NaN, or the high half of an F32 NaN
				}
				by = nb
			}
		}
		out[k] = map[string]any{"dtype": e.DType, "shape": e.Shape, "data_offsets": []int{len(blob), len(blob) + len(by)}}
		blob = append(blob, by...)
	}
	hb, _ := json.Marshal(out)
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	res := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	res = append(append(res, hb...), blob...)
	if err := os.WriteFile(p, res, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editJSON sets entries of a JSON object file (a dotted path; nil deletes).
func editJSON(t *testing.T, p string, set map[string]any) {
	t.Helper()
	if set == nil {
		return
	}
	var cfg map[string]any
	b, err := os.ReadFile(p)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		o, parts := cfg, strings.Split(k, ".")
		for _, q := range parts[:len(parts)-1] {
			o = o[q].(map[string]any)
		}
		if v == nil {
			delete(o, parts[len(parts)-1])
		} else {
			o[parts[len(parts)-1]] = v
		}
	}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func dropped(name string, drop []string) bool {
	for _, d := range drop {
		if strings.Contains(name, d) {
			return true
		}
	}
	return false
}

// runHostile runs each case through recipe (hf-to-gguf or vlm-to-gguf) and
// wants its error and an empty output folder.
func runHostile(t *testing.T, recipe string, cases []hostileCase) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			model, out := filepath.Join(dir, "model"), filepath.Join(dir, "out")
			mutateCheckpoint(t, filepath.Join(root, "testdata", c.src), model, c)
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"model": model, "out": filepath.Join(out, "x.gguf")}
			if strings.HasPrefix(recipe, "vlm") {
				vars["mmproj"] = filepath.Join(out, "mmproj.gguf")
			}
			err := runRecipeErr(t, recipe, vars)
			if err == nil {
				t.Fatalf("ran, want an error holding %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if left, _ := os.ReadDir(out); len(left) > 0 {
				t.Errorf("left %d files in the output folder, first %s", len(left), left[0].Name())
			}
		})
	}
}

// TestHostileText: lying configs and tensors of the text architectures added
// with gpt-oss, BitNet, InternLM2 and Hunyuan MoE, each refused at detection
// with the tensor and the config value that disagree.
func TestHostileText(t *testing.T) {
	runHostile(t, "hf-to-gguf.yaml", []hostileCase{
		{name: "gpt-oss hidden_size 0", src: "arch/gpt-oss", cfg: map[string]any{"hidden_size": 0},
			want: []string{"model.embed_tokens.weight", "n_embd = 0"}},
		{name: "gpt-oss block 1 has 3 experts", src: "arch/gpt-oss", shape: map[string][]int64{
			"model.layers.1.mlp.experts.down_proj_blocks": {3, 64, 2, 16},
			"model.layers.1.mlp.experts.down_proj_scales": {3, 64, 2}},
			want: []string{"model.layers.1.mlp.experts.down_proj.weight", "n_expert = 4"}},
		{name: "bitnet heads do not divide", src: "arch/bitnet", cfg: map[string]any{"num_attention_heads": 3},
			want: []string{"model.layers.0.self_attn.q_proj.weight", "n_head * head_dim = 48"}},
		{name: "bitnet hidden_size 0", src: "arch/bitnet", cfg: map[string]any{"hidden_size": 0},
			want: []string{"n_embd = 0"}},
		{name: "bitnet q rows", src: "arch/bitnet", shape: map[string][]int64{"model.layers.1.self_attn.q_proj.weight": {63, 64}},
			want: []string{"model.layers.1.self_attn.q_proj.weight has 63"}},
		{name: "bitnet no sub-norm", src: "arch/bitnet", drop: []string{"model.layers.1.self_attn.inner_attn_ln.weight"},
			want: []string{"no model.layers.1.self_attn.inner_attn_ln.weight"}},
		{name: "bitnet packed without scale", src: "arch/bitnet-packed", drop: []string{"model.layers.0.self_attn.q_proj.weight_scale"},
			want: []string{"model.layers.0.self_attn.q_proj.weight has 16"}},
		{name: "bitnet packed rows", src: "arch/bitnet-packed", shape: map[string][]int64{"model.layers.0.self_attn.q_proj.weight": {15, 64}},
			want: []string{"model.layers.0.self_attn.q_proj.weight has 60"}},
		{name: "internlm2 missing wqkv", src: "arch/internlm2", drop: []string{"model.layers.1.attention.wqkv.weight"},
			want: []string{"no model.layers.1.attention.wqkv.weight"}},
		{name: "hunyuan heads", src: "arch/hunyuan-moe", cfg: map[string]any{"num_attention_heads": 3},
			want: []string{"model.layers.0.self_attn.q_proj.weight", "= 384"}},
		{name: "gpt-oss vocab_size lies", src: "arch/gpt-oss", cfg: map[string]any{"vocab_size": 100},
			want: []string{"model.embed_tokens.weight has 512 in dimension 0", "vocab_size = 100"}},
		{name: "internlm2 vocab_size lies", src: "arch/internlm2", cfg: map[string]any{"vocab_size": 100},
			want: []string{"model.tok_embeddings.weight has 512 in dimension 0", "vocab_size = 100"}},
		{name: "gpt-oss MXFP4 down_proj [experts, in, out]", src: "arch/gpt-oss", shape: map[string][]int64{
			"model.layers.1.mlp.experts.down_proj_blocks": {4, 32, 4, 16},
			"model.layers.1.mlp.experts.down_proj_scales": {4, 32, 4}},
			want: []string{"model.layers.1.mlp.experts.down_proj.weight has 32 in dimension 1", "n_embd = 64"}},
		{name: "gpt-oss BF16 down_proj [experts, out, in]", src: "arch/gpt-oss-bf16", shape: map[string][]int64{
			"model.layers.1.mlp.experts.down_proj": {4, 32, 128}},
			want: []string{"model.layers.1.mlp.experts.down_proj has 32 in dimension 1", "n_ff_exp = 64"}},
		{name: "internlm2 chat EOS past the vocabulary", src: "arch/internlm2", tok: map[string]any{
			"added_tokens_decoder": map[string]any{"99999": map[string]any{"content": "<|im_end|>", "special": true}}},
			want: []string{"tokenizer.ggml.eos_token_id", "<|im_end|> has id 99999, outside config.json's vocab_size 512"}},
		{name: "hunyuan expert width", src: "arch/hunyuan-moe", cfg: map[string]any{"moe_intermediate_size": []int{64, 64}},
			want: []string{"model.layers.0.mlp.experts.0.down_proj.weight", "= 64"}},
	})
}

// TestHostileQwen2VL: Qwen2-VL and Qwen2.5-VL vision configs and tensors that
// lie, refused before anything is written.
func TestHostileQwen2VL(t *testing.T) {
	runHostile(t, "vlm-to-gguf.yaml", []hostileCase{
		{name: "qkv bias of the wrong height", src: "vlm/qwen2vl", shape: map[string][]int64{"visual.blocks.1.attn.qkv.bias": {96}},
			want: []string{"visual.blocks.1.attn.q.bias has 32", "n_embd = 48"}},
		{name: "num_heads does not divide", src: "vlm/qwen2vl", cfg: map[string]any{"vision_config.num_heads": 5},
			want: []string{"visual.blocks.0.attn.q.weight", "num_heads"}},
		{name: "num_heads 0", src: "vlm/qwen2vl", cfg: map[string]any{"vision_config.num_heads": 0},
			want: []string{"division by zero"}},
		{name: "spatial_merge_size 3", src: "vlm/qwen2vl", cfg: map[string]any{"vision_config.spatial_merge_size": 3},
			want: []string{"visual.merger.mlp.0.weight has 192", "= 432"}},
		{name: "patch_size 0", src: "vlm/qwen2vl", cfg: map[string]any{"vision_config.patch_size": 0},
			want: []string{"visual.patch_embed.proj.weight has 14", "patch_size = 0"}},
		{name: "no merger output", src: "vlm/qwen2vl", drop: []string{"visual.merger.mlp.2.weight"},
			want: []string{"no visual.merger.mlp.2.weight"}},
		{name: "no patch embedding", src: "vlm/qwen2vl", drop: []string{"visual.patch_embed"},
			want: []string{"no visual.patch_embed.proj.weight"}},
		{name: "one image_mean", src: "vlm/qwen2vl", pre: map[string]any{"image_mean": []float64{0.5}},
			want: []string{"preprocessor_config.json image_mean has 1 entries: want 3"}},
		{name: "image_std 0", src: "vlm/qwen2vl", pre: map[string]any{"image_std": []float64{0, 0, 0}},
			want: []string{"preprocessor_config.json image_std[0] = 0"}},
		{name: "mlp_ratio lies", src: "vlm/qwen2vl", cfg: map[string]any{"vision_config.mlp_ratio": 2},
			want: []string{"visual.blocks.0.mlp.fc1.weight has 192", "n_embd * mlp_ratio = 96"}},
		{name: "qwen2.5-vl intermediate_size lies", src: "vlm/qwen25vl", cfg: map[string]any{"vision_config.intermediate_size": 128},
			want: []string{"visual.blocks.0.mlp.gate_proj.weight has 64", "intermediate_size = 128"}},
		{name: "qwen2.5-vl block 2 without down_proj", src: "vlm/qwen25vl", drop: []string{"visual.blocks.2.mlp.down_proj.weight"},
			want: []string{"no visual.blocks.2.mlp.down_proj.weight"}},
		{name: "negative full-attention block", src: "vlm/qwen25vl", cfg: map[string]any{"vision_config.fullatt_block_indexes": []int{-1}},
			want: []string{"fullatt_block_indexes[0] = -1"}},
		{name: "window_size 0", src: "vlm/qwen25vl", cfg: map[string]any{"vision_config.window_size": 0},
			want: []string{"window_size = 0"}},
	})
}

// TestHostileVisionFamilies: Gemma 3, Pixtral/Mistral 3 and InternVL vision
// configs and tensors that lie (in any block, in either InternVL layout),
// refused before anything is written.
func TestHostileVisionFamilies(t *testing.T) {
	runHostile(t, "vlm-to-gguf.yaml", []hostileCase{
		{name: "gemma3 heads do not divide", src: "vlm/gemma3", cfg: map[string]any{"vision_config.num_attention_heads": 3},
			want: []string{"encoder.layers.0.self_attn.q_proj.weight", "num_attention_heads"}},
		{name: "gemma3 image_size lies", src: "vlm/gemma3", cfg: map[string]any{"vision_config.image_size": 896},
			want: []string{"position_embedding.weight has 16", "= 4096"}},
		{name: "gemma3 no patch embedding", src: "vlm/gemma3", drop: []string{"patch_embedding.weight"},
			want: []string{"no vision_tower.vision_model.embeddings.patch_embedding.weight"}},
		{name: "gemma3 no soft-embedding norm", src: "vlm/gemma3", drop: []string{"mm_soft_emb_norm"},
			want: []string{"no multi_modal_projector.mm_soft_emb_norm.weight"}},
		{name: "gemma3 block 1 k_proj", src: "vlm/gemma3", shape: map[string][]int64{"vision_tower.vision_model.encoder.layers.1.self_attn.k_proj.weight": {16, 32}},
			want: []string{"encoder.layers.1.self_attn.k_proj.weight has 16"}},
		{name: "gemma3 intermediate_size lies", src: "vlm/gemma3", cfg: map[string]any{"vision_config.intermediate_size": 128},
			want: []string{"mlp.fc1.weight has 64", "intermediate_size = 128"}},
		{name: "gemma3 image_seq_length not a square", src: "vlm/gemma3", pre: map[string]any{"image_seq_length": 7},
			want: []string{"image_seq_length = 7: want a square"}},
		{name: "gemma3 more tokens than patches", src: "vlm/gemma3", pre: map[string]any{"image_seq_length": 100},
			want: []string{"image_seq_length = 100: more tokens than the 4 x 4 patches"}},
		{name: "pixtral head_dim lies", src: "vlm-b/pixtral", cfg: map[string]any{"vision_config.head_dim": 8},
			want: []string{"attention.q_proj.weight has 32", "n_vhead * head_dim = 16"}},
		{name: "pixtral patch_size 0", src: "vlm-b/pixtral", cfg: map[string]any{"vision_config.patch_size": 0},
			want: []string{"patch_conv.weight has 8", "patch_size = 0"}},
		{name: "pixtral no ln_pre", src: "vlm-b/pixtral", drop: []string{"vision_tower.ln_pre"},
			want: []string{"ln_pre.weight"}},
		{name: "pixtral block 2 k_proj", src: "vlm-b/pixtral", shape: map[string][]int64{"vision_tower.transformer.layers.2.attention.k_proj.weight": {16, 32}},
			want: []string{"layers.2.attention.k_proj.weight has 16"}},
		{name: "pixtral projector linear_2", src: "vlm-b/pixtral", shape: map[string][]int64{"multi_modal_projector.linear_2.weight": {64, 32}},
			want: []string{"multi_modal_projector.linear_2.weight has 32"}},
		{name: "internvl heads do not divide", src: "vlm-b/internvl", cfg: map[string]any{"vision_config.num_attention_heads": 3},
			want: []string{"attn.proj.weight", "num_attention_heads"}},
		{name: "internvl class embedding width", src: "vlm-b/internvl", shape: map[string][]int64{"vision_model.embeddings.class_embedding": {1, 1, 16}},
			want: []string{"vision_model.embeddings.class_embedding has 16"}},
		{name: "internvl positions", src: "vlm-b/internvl", shape: map[string][]int64{"vision_model.embeddings.position_embedding": {1, 16, 32}},
			want: []string{"position_embedding has 16", "= 17"}},
		{name: "internvl no projector output", src: "vlm-b/internvl", drop: []string{"mlp1.3"},
			want: []string{"no mlp1.3.weight or model.multi_modal_projector.linear_2.weight"}},
		{name: "internvl block 1 layer scale", src: "vlm-b/internvl", shape: map[string][]int64{"vision_model.encoder.layers.1.ls1": {16}},
			want: []string{"vision_model.encoder.layers.1.ls1 has 16"}},
		{name: "internvl transformers 5 layout, no layer scale", src: "vlm-b/internvl-hf", drop: []string{"layer.1.lambda_1"},
			want: []string{"model.vision_tower.encoder.layer.1.lambda_1"}},
	})
}

// TestHostileJoinOtherFamily: a text GGUF joined with an mmproj of another
// family (Gemma 3's projector over Qwen2-VL's language model and the
// reverse, InternVL's over Gemma 3's) is refused, naming both architectures,
// and leaves no folder, where the join used to write a folder transformers
// cannot load.
func TestHostileJoinOtherFamily(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conv := func(src, name string) (text, mm string) {
		text, mm = filepath.Join(dir, name+".gguf"), filepath.Join(dir, "mmproj-"+name+".gguf")
		runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": filepath.Join(root, "testdata", src), "out": text, "mmproj": mm})
		return text, mm
	}
	gt, gm := conv("vlm/gemma3", "gemma3")
	qt, qm := conv("vlm/qwen2vl", "qwen2vl")
	it, im := conv("vlm-b/internvl", "internvl")
	for _, c := range []struct{ text, mm, want string }{
		{gt, qm, `a qwen2vl_merger projector joins a language model of architecture qwen2vl, not "gemma3"`},
		{qt, gm, `a gemma3 projector joins a language model of architecture gemma3, not "qwen2vl"`},
		{it, gm, `a gemma3 projector joins a language model of architecture gemma3, not "qwen2"`},
		{gt, im, `a internvl projector joins a language model of architecture qwen2 or qwen3`},
	} {
		out := filepath.Join(dir, "hf")
		err := runRecipeFile(filepath.Join(root, "recipes", "vlm-gguf-to-hf.yaml"), map[string]string{
			"model": c.text, "mmproj": c.mm, "out": out, "image_token_id": "5"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s + %s: err = %v\nwant %q", filepath.Base(c.text), filepath.Base(c.mm), err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s + %s: a refused join left its folder", filepath.Base(c.text), filepath.Base(c.mm))
			os.RemoveAll(out)
		}
	}
}

// TestHostileBitnetNaN: a NaN among a BitNet checkpoint's weights (or as a
// packed checkpoint's weight_scale) would make the whole tensor NaN, as the
// converter's torch arithmetic does; the run stops naming the tensor and
// leaves no file.
func TestHostileBitnetNaN(t *testing.T) {
	runHostile(t, "hf-to-gguf.yaml", []hostileCase{
		{name: "NaN weights", src: "arch/bitnet", nan: []string{"model.layers.1.self_attn.q_proj.weight"},
			want: []string{"model.layers.1.self_attn.q_proj.weight: mean |w| is NaN"}},
		{name: "NaN scale", src: "arch/bitnet-packed", nan: []string{"model.layers.0.mlp.up_proj.weight_scale"},
			want: []string{"model.layers.0.mlp.up_proj.weight_scale is NaN: want a finite, nonzero scale"}},
	})
}

// TestHostileExpertsUsed: a config whose router picks more experts than the
// model has, or none, is refused naming both keys.
func TestHostileExpertsUsed(t *testing.T) {
	runHostile(t, "hf-to-gguf.yaml", []hostileCase{
		{name: "hunyuan top-k 9 of 4", src: "arch/hunyuan-moe", cfg: map[string]any{"moe_topk": []int{9, 9}},
			want: []string{"hunyuan-moe.expert_used_count = 9: want 1 to hunyuan-moe.expert_count = 4"}},
		{name: "hunyuan top-k 0", src: "arch/hunyuan-moe", cfg: map[string]any{"moe_topk": []int{0, 0}},
			want: []string{"hunyuan-moe.expert_used_count = 0"}},
		{name: "gpt-oss 5 of 4", src: "arch/gpt-oss", cfg: map[string]any{"num_experts_per_tok": 5, "experts_per_token": 5},
			want: []string{"gpt-oss.expert_used_count = 5: want 1 to gpt-oss.expert_count = 4"}},
	})
}

// TestHostileKVHeads: key/value heads that do not divide the query heads,
// with tensors shaped to match the lie, are refused naming both counts.
func TestHostileKVHeads(t *testing.T) {
	kv := map[string][]int64{}
	for _, n := range []string{"model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
		"model.layers.1.self_attn.k_proj.weight", "model.layers.1.self_attn.v_proj.weight"} {
		kv[n] = []int64{48, 64}
	}
	runHostile(t, "hf-to-gguf.yaml", []hostileCase{
		{name: "bitnet 3 kv heads for 4", src: "arch/bitnet", cfg: map[string]any{"num_key_value_heads": 3}, shape: kv,
			want: []string{"bitnet.attention.head_count_kv = 3 does not divide bitnet.attention.head_count = 4"}},
	})
}
