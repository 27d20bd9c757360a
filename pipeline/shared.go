package pipeline

import "sync"

// RunCache holds what the stages of one run load once and share: an
// importance matrix that every quantize stage of a matrix run names is
// read and kept once, not once a stage. Build gives every stage of a run
// the same one (Env.Cache).
type RunCache struct {
	mu sync.Mutex
	m  map[any]*cached
}

type cached struct {
	once sync.Once
	v    any
	err  error
}

// Shared returns the run's value for key, calling load the first time any
// stage asks for key; a failed load is kept too, so each stage reports the
// same error. The key says what makes two loads the same (for a file: its
// path, size and modification time). Without a cache (an Env made by hand)
// every call loads.
func (e *Env) Shared(key any, load func() (any, error)) (any, error) {
	if e == nil || e.Cache == nil {
		return load()
	}
	c := e.Cache
	c.mu.Lock()
	if c.m == nil {
		c.m = map[any]*cached{}
	}
	ent := c.m[key]
	if ent == nil {
		ent = &cached{}
		c.m[key] = ent
	}
	c.mu.Unlock()
	ent.once.Do(func() { ent.v, ent.err = load() })
	return ent.v, ent.err
}
