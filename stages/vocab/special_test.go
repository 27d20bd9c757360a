package vocab

import (
	"reflect"
	"strings"
	"testing"
)

// tokKeys are the keys after the token arrays, which SpecialVocab decides.
func tokKeys(t *testing.T, files map[string]string, opts Options) map[string]any {
	t.Helper()
	meta, err := Load(writeDir(t, files), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := keyVals(meta)
	for _, k := range []string{KeyModel, KeyPre, KeyTokens, KeyScores, KeyTokenType, KeyMerges} {
		delete(out, k)
	}
	return out
}

func TestSpecialVocabSPM(t *testing.T) {
	model := spmModel(Piece{"<unk>", 0, PieceUnknown}, Piece{"<s>", 0, PieceControl}, Piece{"</s>", 0, PieceControl})
	tests := []struct {
		name  string
		files map[string]string
		want  map[string]any
	}{
		{"jinja without tokenizer_config is ignored", map[string]string{"chat_template.jinja": "J"}, map[string]any{}},
		{"jinja", map[string]string{"chat_template.jinja": "J", "tokenizer_config.json": `{"x": 1}`},
			map[string]any{KeyChatTemplate: "J"}},
		{"explicit null beats jinja", map[string]string{"chat_template.jinja": "J", "tokenizer_config.json": `{"chat_template": null}`},
			map[string]any{}},
		{"chat_template.json", map[string]string{"chat_template.json": `{"chat_template": "C"}`, "tokenizer_config.json": `{"x": 1}`},
			map[string]any{KeyChatTemplate: "C"}},
		{"named templates", map[string]string{
			"chat_template.jinja": "J", "additional_chat_templates/tool use.jinja": "U", "tokenizer_config.json": `{"x": 1}`},
			map[string]any{"tokenizer.chat_template.tool_use": "U", "tokenizer.chat_templates": []string{"tool_use"}, KeyChatTemplate: "J"}},
		{"template list in tokenizer_config", map[string]string{"tokenizer_config.json": `{"chat_template": [
			{"name": "rag", "template": "R"}, {"name": "default", "template": "D"}, {"name": "", "template": "skipped"}]}`},
			map[string]any{"tokenizer.chat_template.rag": "R", "tokenizer.chat_templates": []string{"rag"}, KeyChatTemplate: "D"}},
		{"text_config ids", map[string]string{"config.json": `{"text_config": {"bos_token_id": 1, "eos_token_id": 2}, "eos_token_id": 1}`},
			map[string]any{"tokenizer.ggml.bos_token_id": uint32(1), "tokenizer.ggml.eos_token_id": uint32(1)}},
		{"float and string ids are not ints", map[string]string{"config.json": `{"bos_token_id": 1.0, "eos_token_id": "2"}`},
			map[string]any{}},
		{"add flags only when booleans", map[string]string{"tokenizer_config.json": `{"add_bos_token": false, "add_eos_token": "yes", "add_sep_token": true}`},
			map[string]any{"tokenizer.ggml.add_bos_token": false, "tokenizer.ggml.add_sep_token": true}},
		// Without tokenizer.json there are no added tokens to resolve names with.
		{"names need tokenizer.json", map[string]string{"tokenizer_config.json": `{"bos_token": "<s>"}`}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.files["tokenizer.model"] = model
			if got := tokKeys(t, tt.files, Options{}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestSpecialVocabPostProcessor(t *testing.T) {
	roberta := `{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]}`
	// single: <s> A </s>, where tokenizer_config.json's EOS is <|eot|>. The
	// pair's separator is </s>, which the converter does not count as an
	// added separator because single already ends with a special token.
	tmpl := `{"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "TemplateProcessing",
		"single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}],
		"pair": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}, {"Sequence": {"id": "B"}}, {"SpecialToken": {"id": "</s>"}}]}]}`
	tests := []struct {
		name, post, tc string
		want           map[string]any
	}{
		{"roberta", roberta, `{"bos_token": "<s>", "eos_token": "</s>"}`, map[string]any{
			"tokenizer.ggml.bos_token_id": uint32(0), "tokenizer.ggml.eos_token_id": uint32(2), "tokenizer.ggml.seperator_token_id": uint32(2),
			"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": true, "tokenizer.ggml.add_sep_token": true}},
		{"template renames eos to eot", tmpl, `{"bos_token": "<s>", "eos_token": "<|eot|>"}`, map[string]any{
			"tokenizer.ggml.bos_token_id": uint32(0), "tokenizer.ggml.eos_token_id": uint32(2), "tokenizer.ggml.eot_token_id": uint32(3),
			"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": true, "tokenizer.ggml.add_sep_token": false}},
		{"template with separator", `{"type": "TemplateProcessing",
			"single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],
			"pair": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}, {"Sequence": {"id": "B"}}]}`,
			`{"bos_token": "<s>", "eos_token": "</s>"}`, map[string]any{
				"tokenizer.ggml.bos_token_id": uint32(0), "tokenizer.ggml.eos_token_id": uint32(2), "tokenizer.ggml.seperator_token_id": uint32(2),
				"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_sep_token": true}},
		{"template without tokenizer_config", tmpl, ``, map[string]any{
			"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": true, "tokenizer.ggml.add_sep_token": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := `{"model": {"type": "BPE", "vocab": {"a": 1}, "merges": []},
				"added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}, {"id": 3, "content": "<|eot|>", "special": true}],
				"post_processor": ` + tt.post + `}`
			files := map[string]string{"tokenizer.json": tok}
			if tt.tc != "" {
				files["tokenizer_config.json"] = tt.tc
			}
			if got := tokKeys(t, files, Options{Pre: "gpt-2"}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestLoadLlamaHF(t *testing.T) {
	tok := `{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0, "<s>": 1, "<0x0A>": 2, "▁a": 3}, "merges": ["▁ a"]},
		"added_tokens": [{"id": 1, "content": "<s>", "special": true}, {"id": 5, "content": "<tool>", "special": false}, {"id": 4, "content": "<|im|>", "special": true}],
		"decoder": {"type": "Sequence", "decoders": []}}`
	meta, err := Load(writeDir(t, map[string]string{
		"tokenizer.json": tok, "tokenizer_config.json": `{"bos_token": "<s>", "unk_token": "<unk>"}`, "config.json": `{"vocab_size": 32}`,
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		KeyModel: "llama", KeyPre: "default",
		KeyTokens:                     []string{"<unk>", "<s>", "<0x0A>", "▁a", "<|im|>", "<tool>"},
		KeyScores:                     []float32{-1000, -1000, -1000, -1000, -1000, -1000},
		KeyTokenType:                  []int32{3, 3, 6, 1, 3, 4},
		"tokenizer.ggml.bos_token_id": uint32(1),
	}
	if got := keyVals(meta); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	// Added ids must follow the model vocabulary without a gap.
	gap := strings.Replace(tok, `"id": 4,`, `"id": 7,`, 1)
	if _, err := Load(writeDir(t, map[string]string{"tokenizer.json": gap}), Options{}); err == nil || !strings.Contains(err.Error(), "without gaps") {
		t.Errorf("err = %v; want a gap error", err)
	}
}
