package attest

import (
	"encoding/json"
	"fmt"
)

// StatementType is the in-toto Statement v1 type URI.
const StatementType = "https://in-toto.io/Statement/v1"

// Statement is an in-toto Statement v1: what the predicate says, about
// which artifacts (by digest).
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate,omitempty"`
}

// Subject is one artifact: a name and its digests by algorithm (lowercase
// hex), as in-toto's ResourceDescriptor.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// ParseStatement reads a Statement and checks what every consumer relies on:
// the v1 type, the wanted predicate type, and a sha256 for every subject.
func ParseStatement(b []byte, predicateType string) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	switch {
	case s.Type != StatementType:
		return nil, fmt.Errorf("in-toto statement: _type %q, expected %q", s.Type, StatementType)
	case s.PredicateType != predicateType:
		return nil, fmt.Errorf("in-toto statement: predicateType %q, expected %q", s.PredicateType, predicateType)
	case len(s.Subject) == 0:
		return nil, fmt.Errorf("in-toto statement: no subject")
	}
	for i, sub := range s.Subject {
		if len(sub.Digest["sha256"]) != 64 {
			return nil, fmt.Errorf("in-toto statement: subject[%d] %q: expected a sha256 digest (64 hex digits)", i, sub.Name)
		}
	}
	return &s, nil
}
