package attest

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"
)

// The DSSE specification's own examples: protocol.md's PAE, and cases of
// testvectors/vectors.json (secure-systems-lab/dsse), whose keys are
// RFC 8032's ed25519 test keys 1 and 2.
const (
	seedA   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	publicA = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	seedB   = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"

	statementPayload = "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
	statementPAE     = "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d"
	statementSigA    = "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
)

var dsseVectors = []struct {
	id       string
	env      Envelope
	wantType string // the payload type the verifier supports
	pae      string // hex
	accept   bool
}{
	{"single-signature", Envelope{statementPayload, PayloadType, []Signature{{"A", statementSigA}}}, PayloadType, statementPAE, true},
	{"url-safe-base64", Envelope{"-_-_Pj8=", PayloadType, []Signature{{"A", "P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw=="}}},
		PayloadType, "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203520fbffbf3e3f", true},
	{"payload-type-swapped", Envelope{statementPayload, "application/vnd.example.other+json", []Signature{{"A", statementSigA}}},
		"application/vnd.example.other+json", "", false},
	{"non-ascii-payload-type", Envelope{statementPayload, "application/vnd.exämple+json", []Signature{{"A", "xmSk/ug66ysT7ayhkCIjhAq42zgZXSsEWuzUaNL7w2eGAdF/NU6/fRXPtmfN+5DNSAs5/i2lUnHjbbjPsu0tAw=="}}},
		"application/vnd.exämple+json", "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d", true},
	{"empty-payload", Envelope{"", PayloadType, []Signature{{"A", "gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg=="}}},
		PayloadType, "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020", true},
	{"empty-payload-type", Envelope{statementPayload, "", []Signature{{"A", "iC3q/+3Rm0+lpAJRueDmDh15PnwCfxKmS0NAfKsbv+zgulXQC/WM9trc+j1XEqlwDIg/vf/uNfebeD6sxInrDg=="}}},
		PayloadType, "445353457631203020203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d", false},
	{"signed-by-B-only", Envelope{statementPayload, PayloadType, []Signature{{"B", "c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw=="}}},
		PayloadType, statementPAE, false},
}

func key(t *testing.T, seed string) ed25519.PrivateKey {
	t.Helper()
	b, err := hex.DecodeString(seed)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(b)
}

func TestPAEAsTheSpecWritesIt(t *testing.T) {
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; got != want {
		t.Errorf("PAE %q, want %q", got, want)
	}
	for _, v := range dsseVectors {
		if v.pae == "" {
			continue
		}
		body, err := decodeBase64(v.env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(PAE(v.env.PayloadType, body)); got != v.pae {
			t.Errorf("%s: PAE %s, want %s", v.id, got, v.pae)
		}
	}
}

func TestVerifyDSSEVectors(t *testing.T) {
	a := key(t, seedA)
	if got := hex.EncodeToString(a.Public().(ed25519.PublicKey)); got != publicA {
		t.Fatalf("key A's public key %s, want %s", got, publicA)
	}
	pub := a.Public().(ed25519.PublicKey)
	for _, v := range dsseVectors {
		_, err := v.env.Verify(pub, v.wantType)
		if (err == nil) != v.accept {
			t.Errorf("%s: Verify error %v, want accept=%v", v.id, err, v.accept)
		}
	}
	// A signature from key B verifies with B, not with A.
	b := key(t, seedB).Public().(ed25519.PublicKey)
	if _, err := dsseVectors[len(dsseVectors)-1].env.Verify(b, PayloadType); err != nil {
		t.Errorf("B's own signature with B: %v", err)
	}
	if _, err := dsseVectors[0].env.Verify(b, PayloadType); !errors.Is(err, ErrNoValidSignature) {
		t.Errorf("A's signature with B: %v, want ErrNoValidSignature", err)
	}
}

// TestSignMatchesTheVector: ed25519 is deterministic, so signing the
// vector's payload with key A must give the vector's signature byte for byte.
func TestSignMatchesTheVector(t *testing.T) {
	body, err := decodeBase64(statementPayload)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Sign(PayloadType, body, key(t, seedA))
	if err != nil {
		t.Fatal(err)
	}
	if env.Payload != statementPayload || env.PayloadType != PayloadType || len(env.Signatures) != 1 || env.Signatures[0].Sig != statementSigA {
		t.Errorf("envelope %+v, want payload %s and signature %s", env, statementPayload, statementSigA)
	}
	got, err := env.Verify(key(t, seedA).Public().(ed25519.PublicKey), PayloadType)
	if err != nil || string(got) != string(body) {
		t.Errorf("round trip: %q, %v", got, err)
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	k := key(t, seedA)
	env, err := Sign(PayloadType, []byte(`{"a":1}`), k)
	if err != nil {
		t.Fatal(err)
	}
	bad := env
	bad.Payload = "eyJhIjoyfQ==" // {"a":2}
	if _, err := bad.Verify(k.Public().(ed25519.PublicKey), PayloadType); !errors.Is(err, ErrNoValidSignature) {
		t.Errorf("changed payload: %v", err)
	}
	bad = env
	bad.Signatures = []Signature{{Sig: "AAAA"}}
	if _, err := bad.Verify(k.Public().(ed25519.PublicKey), PayloadType); !errors.Is(err, ErrNoValidSignature) {
		t.Errorf("short signature: %v", err)
	}
	bad.Signatures = []Signature{{Sig: "!!"}}
	if _, err := bad.Verify(k.Public().(ed25519.PublicKey), PayloadType); err == nil {
		t.Error("a signature that is not base64 was accepted")
	}
}
