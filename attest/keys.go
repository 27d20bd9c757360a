package attest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNotEd25519 is returned for a PEM key of another algorithm.
var ErrNotEd25519 = errors.New("not an ed25519 key")

// ParsePrivateKey reads a PEM "PRIVATE KEY" block (PKCS #8), as written by
// GenerateKey or `openssl genpkey -algorithm ed25519`.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(b, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("PKCS #8 private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T", ErrNotEd25519, k)
	}
	return ek, nil
}

// ParsePublicKey reads a PEM "PUBLIC KEY" block (PKIX), as written by
// GenerateKey or `openssl pkey -pubout`; given a private key, it returns
// the key's public half.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil && blk.Type == "PRIVATE KEY" {
		k, err := ParsePrivateKey(b)
		if err != nil {
			return nil, err
		}
		return k.Public().(ed25519.PublicKey), nil
	}
	der, err := pemBlock(b, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("PKIX public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T", ErrNotEd25519, k)
	}
	return ek, nil
}

// MarshalKeys returns the PEM encodings of a private key (PKCS #8) and of
// its public key (PKIX), the forms openssl reads and writes.
func MarshalKeys(k ed25519.PrivateKey) (private, public []byte, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	pder, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), nil
}

// KeyID names a public key: the hex sha256 of its PKIX encoding, so the
// same key has the same id whatever tool wrote its file.
func KeyID(pub ed25519.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

func pemBlock(b []byte, want string) ([]byte, error) {
	blk, _ := pem.Decode(b)
	switch {
	case blk == nil:
		return nil, fmt.Errorf("no PEM block, expected %q", want)
	case blk.Type != want:
		return nil, fmt.Errorf("PEM block %q, expected %q", blk.Type, want)
	}
	return blk.Bytes, nil
}
