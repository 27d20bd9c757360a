package stages

import (
	"context"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// joinInputs are a language model with HF names whose embedding is
// vocab x hidden, and the corpus SmolVLM's mmproj (connector 256 -> 256).
func joinInputs(t *testing.T, vocab, hidden int64) (*pipeline.Model, *pipeline.Model) {
	t.Helper()
	path := corpus.Path(t, "tiny-smolvlm-ref", "mmproj-tiny-smolvlm-f16.gguf")
	f, c, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mm := &pipeline.Model{Format: "gguf", Naming: "gguf", Files: []string{path}, Meta: f.Meta, Tensors: f.Tensors, Facts: map[string]any{}}
	embd := &tensor.Desc{Name: "model.embed_tokens.weight", DType: tensor.F32, Shape: []int64{vocab, hidden}}
	meta := &gguf.Meta{}
	meta.Set("general.architecture", gguf.String("llama")) // SmolVLM's language model
	text := &pipeline.Model{Naming: "hf", Config: map[string]any{"hidden_size": float64(hidden)}, Meta: meta,
		Tensors: []*tensor.Desc{embd}, Facts: map[string]any{}}
	return text, mm
}

// TestFuseJoinChecksTheConnector: joining refuses, at plan time, a
// language model the projector was not made for, naming the connector and
// the text embedding with their shapes; and an image token outside the
// vocabulary.
func TestFuseJoinChecksTheConnector(t *testing.T) {
	for _, c := range []struct {
		vocab, hidden, id int64
		want              []string
	}{
		{512, 128, 500, []string{"model.connector.modality_projection.proj.weight [256 256]", "model.embed_tokens.weight [512 128]",
			"model.connector.modality_projection.proj.weight has 256 in dimension 0 but the config gives n_embd_text = 128"}},
		{512, 256, 512, []string{"image_token_id 512 is outside the vocabulary: model.embed_tokens.weight is [512 256]"}},
		{512, 256, -1, []string{"no <image> token: set image_token_id"}},
	} {
		text, mm := joinInputs(t, c.vocab, c.hidden)
		s := &fuseStage{DType: "F32", ImageTokenID: c.id}
		_, err := s.Plan(context.Background(), &pipeline.Env{}, []*pipeline.Model{text, mm})
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%d x %d, id %d: %v\nwant %q", c.vocab, c.hidden, c.id, err, w)
			}
		}
	}
	text, mm := joinInputs(t, 512, 256)
	s := &fuseStage{DType: "F32", ImageTokenID: 500}
	if _, err := s.Plan(context.Background(), &pipeline.Env{}, []*pipeline.Model{text, mm}); err != nil {
		t.Errorf("a fitting pair: %v", err)
	}
	if _, err := s.Plan(context.Background(), &pipeline.Env{}, []*pipeline.Model{text, text}); err == nil ||
		!strings.Contains(err.Error(), "must be an mmproj GGUF") {
		t.Errorf("a text model as the mmproj: %v", err)
	}
}
