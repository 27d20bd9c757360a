package pipeline

import (
	"context"
	"testing"
)

// sharedStage loads "k" through the run's cache; loads counts the loads.
type sharedStage struct{ loads *int }

func (s *sharedStage) Plan(ctx context.Context, env *Env, in []*Model) (*Model, error) {
	v, err := env.Shared("k", func() (any, error) { *s.loads++; return *s.loads, nil })
	if err != nil || v.(int) != 1 {
		return nil, err
	}
	return &Model{}, nil
}

// The stages of one run share one cache: a value two stages ask for is
// loaded once a run, and again in the next run.
func TestStagesOfARunShareOneLoad(t *testing.T) {
	loads := 0
	reg := testRegistry()
	reg["shared"] = &Spec{Kind: "shared", Summary: "loads k", MaxInputs: 1,
		Params: map[string]any{"type": "object", "additionalProperties": false},
		New:    func(p Params) (Stage, error) { return &sharedStage{&loads}, nil }}
	src := `version: 1
stages:
  - {id: a, kind: shared}
  - {id: b, kind: shared, inputs: [a]}
  - {id: c, kind: shared}
`
	r, err := Parse("test.yaml", []byte(src), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		if _, err := Build(context.Background(), r, Env{}); err != nil {
			t.Fatal(err)
		}
		if loads != run {
			t.Fatalf("after run %d: %d loads, want %d (one a run)", run, loads, run)
		}
	}
	if v, _ := (&Env{}).Shared("k", func() (any, error) { return 7, nil }); v != 7 {
		t.Errorf("an Env without a cache gave %v, want its own load", v)
	}
}
