package pipeline

import (
	"context"
	"errors"
	"testing"
)

// TestBuildStopsWhenCancelled: planning with a cancelled context stops
// before the next stage and returns the cancellation, not problems (which
// would say the recipe is wrong).
func TestBuildStopsWhenCancelled(t *testing.T) {
	r, err := Parse("r.yaml", []byte(goodRecipe), nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := Build(ctx, r, Env{})
	if p != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("got plan %v, error %v; want no plan and a cancellation", p, err)
	}
	if _, ok := AsProblems(err); ok {
		t.Errorf("a cancellation reported as problems: %v", err)
	}
	if want := `planning stopped before stage "g": context canceled`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
