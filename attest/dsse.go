// Package attest signs and verifies run manifests the way supply-chain tools
// expect: an in-toto Statement (subjects: files and their sha256) in a DSSE
// envelope signed with ed25519. Only the standard library is used, so a key
// made by `openssl genpkey -algorithm ed25519` works as it is.
package attest

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// PayloadType is the DSSE payload type of an in-toto Statement.
const PayloadType = "application/vnd.in-toto+json"

// Envelope is DSSE's JSON envelope.
type Envelope struct {
	// Payload is the serialized body, base64 (standard alphabet when we
	// write it; either alphabet is read, as the spec requires).
	Payload     string      `json:"payload"`
	PayloadType string      `json:"payloadType"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature of an envelope. KeyID is a hint only: it
// selects no key and proves nothing.
type Signature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"`
}

// ErrNoValidSignature is returned when no signature of an envelope verifies
// with the key given.
var ErrNoValidSignature = errors.New("dsse: no signature verifies with the key")

// PAE is DSSE's pre-authentication encoding, what is actually signed:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes as
// decimal ASCII. Signing it, not the body alone, binds the payload type.
func PAE(payloadType string, body []byte) []byte {
	b := make([]byte, 0, 32+len(payloadType)+len(body))
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, ' ')
	return append(b, body...)
}

// Sign returns an envelope of body with one ed25519 signature.
func Sign(payloadType string, body []byte, key ed25519.PrivateKey) (Envelope, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok {
		return Envelope{}, errors.New("dsse: not an ed25519 key")
	}
	id, err := KeyID(pub)
	if err != nil {
		return Envelope{}, err
	}
	sig := ed25519.Sign(key, PAE(payloadType, body))
	return Envelope{
		Payload:     base64.StdEncoding.EncodeToString(body),
		PayloadType: payloadType,
		Signatures:  []Signature{{KeyID: id, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// Verify checks that a signature of e verifies with pub over the PAE of its
// payload type and payload, then that the payload type is wanted, in that
// order (as the protocol says), and returns the payload.
func (e Envelope) Verify(pub ed25519.PublicKey, wantType string) ([]byte, error) {
	body, err := decodeBase64(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("dsse: payload: %w", err)
	}
	pae := PAE(e.PayloadType, body)
	ok := false
	for i, s := range e.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("dsse: signatures[%d]: %w", i, err)
		}
		if len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, pae, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, ErrNoValidSignature
	}
	if e.PayloadType != wantType {
		return nil, fmt.Errorf("dsse: payload type %q, expected %q", e.PayloadType, wantType)
	}
	return body, nil
}

// decodeBase64 reads standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64 (standard or URL-safe)")
}
