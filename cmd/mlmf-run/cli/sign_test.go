package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/attest"
	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// makeKeys writes an ed25519 key pair the way users make one: with openssl
// when it is installed, else with crypto/ed25519 (said in the log).
func makeKeys(t *testing.T, dir string) (priv, pub string, openssl bool) {
	t.Helper()
	priv, pub = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
	if _, err := exec.LookPath("openssl"); err == nil {
		for _, args := range [][]string{{"genpkey", "-algorithm", "ed25519", "-out", priv}, {"pkey", "-in", priv, "-pubout", "-out", pub}} {
			if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
		}
		return priv, pub, true
	}
	if corpus.InCI() {
		t.Fatal("openssl is not installed: CI checks keys and signatures with it (.ci/run installs openssl)")
	}
	t.Log("openssl is not installed: the key is made by crypto/ed25519 and the signature is not checked by openssl")
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, b, err := attest.MarshalKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(priv, a, 0o600))
	must(t, os.WriteFile(pub, b, 0o644))
	return priv, pub, false
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestSignAndVerifyARunManifest signs the manifest of a split GGUF run and
// checks the envelope by hand (and with openssl), then verifies the set
// where it was made, moved elsewhere, and after each kind of tampering.
func TestSignAndVerifyARunManifest(t *testing.T) {
	root := moduleRoot(t)
	work := t.TempDir()
	t.Chdir(work)
	code, _, errs := runCLI("hf-to-gguf", "-q", "--set", "model="+filepath.Join(root, "testdata", "tiny-llama"),
		"--set", "out=out/m.gguf", "--set", "type=Q8_0", "--set", "split_max_tensors=8")
	if code != 0 {
		t.Fatalf("conversion: exit %d: %s", code, errs)
	}
	parts, _ := filepath.Glob(filepath.Join("out", "m-*-of-*.gguf"))
	if len(parts) < 2 {
		t.Fatalf("want a split set, got %v", parts)
	}
	manifests, _ := filepath.Glob(filepath.Join("out", "*.manifest.json"))
	if len(manifests) != 1 {
		t.Fatalf("manifests %v, want one", manifests)
	}
	manifest := manifests[0]
	priv, pub, viaOpenssl := makeKeys(t, work)

	if code, out, errs := runCLI("sign", "--key", priv, manifest); code != 0 || !strings.Contains(out, fmt.Sprintf("signed %d file(s)", len(parts))) {
		t.Fatalf("sign: exit %d, %q %q", code, out, errs)
	}
	envFile := strings.TrimSuffix(manifest, ".json") + ".dsse.json"
	checkEnvelope(t, envFile, manifest, pub, parts, viaOpenssl)

	if code, out, errs := runCLI("verify", "--key", pub, manifest); code != 0 || strings.Count(out, "\nok ") != len(parts) {
		t.Errorf("verify --key: exit %d, %q %q", code, out, errs)
	}
	// Moved, and verified from elsewhere: paths follow the manifest.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename("out", moved); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	m := filepath.Join(moved, filepath.Base(manifest))
	for _, args := range [][]string{{"verify", m}, {"verify", "--key", pub, m}} {
		if code, _, errs := runCLI(args...); code != 0 {
			t.Errorf("%v after moving the set: exit %d: %s", args, code, errs)
		}
	}
	verifyRefusesTampering(t, m, priv, pub, filepath.Join(moved, filepath.Base(parts[1])))
}

// checkEnvelope reads the envelope as a consumer that trusts none of our
// code would: the DSSE fields, the in-toto statement, digests computed
// here, and the signature over the PAE written out from the spec.
func checkEnvelope(t *testing.T, envFile, manifest, pub string, parts []string, viaOpenssl bool) {
	t.Helper()
	var env struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &env); err != nil || env.PayloadType != "application/vnd.in-toto+json" || len(env.Signatures) != 1 {
		t.Fatalf("envelope %s: %v\n%s", envFile, err, b)
	}
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType == "" {
		t.Fatalf("statement: %v\n%s", err, body)
	}
	got := map[string]string{}
	for _, s := range st.Subject {
		got[s.Name] = s.Digest["sha256"]
	}
	want := map[string]string{}
	for _, p := range parts {
		want[filepath.Base(p)] = sha256File(t, p)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subjects %v, want %v", got, want)
	}
	var m1, m2 any
	mb, err := os.ReadFile(manifest)
	must(t, err)
	must(t, json.Unmarshal(mb, &m1))
	if err := json.Unmarshal(st.Predicate, &m2); err != nil {
		t.Fatalf("predicate: %v", err)
	}
	if m1 == nil || !reflect.DeepEqual(m1, m2) {
		t.Error("the predicate is not the manifest")
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(env.PayloadType), env.PayloadType, len(body), body)
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	pb, err := os.ReadFile(pub)
	must(t, err)
	key, err := attest.ParsePublicKey(pb)
	if err != nil || !ed25519.Verify(key, []byte(pae), sig) {
		t.Errorf("the signature does not verify over the spec's PAE: %v", err)
	}
	if !viaOpenssl {
		return
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "pae"), []byte(pae), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "sig"), sig, 0o644))
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
		"-in", filepath.Join(dir, "pae"), "-sigfile", filepath.Join(dir, "sig")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl does not verify the signature: %v\n%s", err, out)
	}
}

func verifyRefusesTampering(t *testing.T, manifest, priv, pub, part string) {
	t.Helper()
	expect := func(what string, wantCode int, wantErr string, args ...string) {
		t.Helper()
		code, _, errs := runCLI(args...)
		if code != wantCode || !strings.Contains(errs, wantErr) {
			t.Errorf("%s: %v: exit %d, stderr %q; want exit %d and %q", what, args, code, errs, wantCode, wantErr)
		}
	}
	other, _, _ := makeKeys(t, t.TempDir())
	otherPub := strings.TrimSuffix(other, ".pem") + ".pub"
	expect("another key", 1, "no signature verifies with the key", "verify", "--key", otherPub, manifest)
	expect("no such manifest", exitUsage, "manifest: ", "verify", manifest+".nope")
	expect("no key file", exitUsage, "--key: ", "sign", "--key", priv+".nope", manifest)
	expect("sign without --key", exitUsage, "--key is required", "sign", manifest)

	mb, err := os.ReadFile(manifest)
	must(t, err)
	edited := strings.Replace(string(mb), `"type": "Q8_0"`, `"type": "F16"`, 1)
	if edited == string(mb) {
		t.Fatal("the manifest names no Q8_0 type to edit")
	}
	must(t, os.WriteFile(manifest, []byte(edited), 0o644))
	expect("edited manifest", 1, "was changed after it was signed", "verify", "--key", pub, manifest)
	must(t, os.WriteFile(manifest, mb, 0o644))

	f, err := os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write([]byte{0})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	must(t, err)
	name := filepath.Base(part)
	expect("changed part, no key", 1, "1 of ", "verify", manifest)
	expect("changed part, no key", 1, name, "verify", manifest)
	expect("changed part, key", 1, "do not match the signed statement: "+name, "verify", "--key", pub, manifest)
	expect("sign a changed part", 1, "not signed: 1 of ", "sign", "--key", priv, manifest)
	must(t, os.Remove(part))
	_, out, _ := runCLI("verify", manifest)
	if !strings.Contains(out, "MISSING  "+name) {
		t.Errorf("verify of a removed part does not name it:\n%s", out)
	}
	env := strings.TrimSuffix(manifest, ".json") + ".dsse.json"
	must(t, os.Remove(env))
	expect("no envelope", 1, "no signature to check", "verify", "--key", pub, manifest)
}

func TestKeygenWritesKeysOpensslReads(t *testing.T) {
	dir := t.TempDir()
	k := filepath.Join(dir, "k")
	if code, out, errs := runCLI("keygen", k); code != 0 || !strings.Contains(out, "key id ") {
		t.Fatalf("keygen: exit %d, %q %q", code, out, errs)
	}
	if fi, err := os.Stat(k); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v (%v), want 0600", fi.Mode(), err)
	}
	if code, _, errs := runCLI("keygen", k); code != exitUsage || !strings.Contains(errs, "exists") {
		t.Errorf("keygen over an existing key: exit %d, %q", code, errs)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		if corpus.InCI() {
			t.Fatal("openssl is not installed: CI checks keygen's files with it (.ci/run installs openssl)")
		}
		t.Log("openssl is not installed: keygen's files are not read by openssl")
		return
	}
	// openssl derives the same public key from our private key file.
	out, err := exec.Command("openssl", "pkey", "-in", k, "-pubout").Output()
	pubFile, rerr := os.ReadFile(k + ".pub")
	must(t, rerr)
	if err != nil || string(out) != string(pubFile) {
		t.Errorf("openssl pkey -pubout: %v\n%s\nwant\n%s", err, out, pubFile)
	}
	keys := []string{}
	for _, f := range []string{k, k + ".pub"} {
		b, err := os.ReadFile(f)
		must(t, err)
		keys = append(keys, strings.SplitN(string(b), "\n", 2)[0])
	}
	sort.Strings(keys)
	if want := []string{"-----BEGIN PRIVATE KEY-----", "-----BEGIN PUBLIC KEY-----"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("PEM blocks %v, want %v", keys, want)
	}
}
