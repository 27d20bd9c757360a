package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/attest"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// manifestPredicate is the in-toto predicate type of a signed run manifest:
// the predicate is the manifest itself (recipe, vars, inputs, stages), the
// subjects are its output files.
const manifestPredicate = "https://github.com/mlmf-run/mlmf-run/manifest/v1"

// envelopePath is where a manifest's signature goes by default:
// OUT.manifest.json -> OUT.manifest.dsse.json.
func envelopePath(manifest string) string {
	return strings.TrimSuffix(manifest, ".json") + ".dsse.json"
}

func keygenCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen KEY",
		Short: "Make an ed25519 key pair for sign and verify: KEY (private, PKCS #8 PEM) and KEY.pub",
		Long: "Writes KEY (mode 0600) and KEY.pub, refusing to replace either. The files are what\n" +
			"openssl writes, so 'openssl genpkey -algorithm ed25519 -out KEY' and\n" +
			"'openssl pkey -in KEY -pubout -out KEY.pub' make keys that work as well.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			privPEM, pubPEM, err := attest.MarshalKeys(priv)
			if err != nil {
				return err
			}
			if err := writeNew(args[0], privPEM, 0o600); err != nil {
				return err
			}
			if err := writeNew(args[0]+".pub", pubPEM, 0o644); err != nil {
				os.Remove(args[0])
				return err
			}
			id, _ := attest.KeyID(priv.Public().(ed25519.PublicKey))
			fmt.Fprintf(stdout, "wrote %s and %s (key id %s)\n", args[0], args[0]+".pub", id)
			return nil
		},
	}
}

// writeNew writes a file that must not exist yet (a key is never replaced).
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return usageError{err}
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func signCmd(stdout io.Writer) *cobra.Command {
	var keyFile, out string
	c := &cobra.Command{
		Use:   "sign --key KEY MANIFEST",
		Short: "Sign a run manifest: a DSSE envelope (ed25519) over an in-toto statement of the output files' sha256",
		Long: "Re-hashes the outputs the manifest lists, refuses if any changed, and writes\n" +
			"MANIFEST's name with .dsse.json for .json (or --out): a DSSE envelope of payload type\n" +
			"application/vnd.in-toto+json over an in-toto Statement v1 whose subjects are the\n" +
			"output files (named relative to the manifest's folder) and whose predicate is the manifest.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := readKey(keyFile, attest.ParsePrivateKey)
			if err != nil {
				return err
			}
			mf, err := readManifest(args[0])
			if err != nil {
				return err
			}
			checks := checkFiles(cmd.Context(), mf.outputs())
			if err := report(io.Discard, checks, "the manifest"); err != nil {
				return fmt.Errorf("not signed: %w", err)
			}
			env, err := signManifest(mf, checks, key)
			if err != nil {
				return err
			}
			if out == "" {
				out = envelopePath(args[0])
			}
			if err := writeReplacing(out, env); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "signed %d file(s): %s (key id %s)\n", len(checks), out, env.Signatures[0].KeyID)
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "ed25519 private key, PKCS #8 PEM (mlmf-run keygen, or openssl genpkey -algorithm ed25519)")
	c.Flags().StringVar(&out, "out", "", "where the envelope goes (default: MANIFEST with .dsse.json for .json)")
	return c
}

func signManifest(mf *manifestFile, checks []fileCheck, key ed25519.PrivateKey) (attest.Envelope, error) {
	st := attest.Statement{Type: attest.StatementType, PredicateType: manifestPredicate, Predicate: mf.raw}
	for _, c := range checks {
		st.Subject = append(st.Subject, attest.Subject{Name: c.name, Digest: map[string]string{"sha256": c.got}})
	}
	sort.Slice(st.Subject, func(i, j int) bool { return st.Subject[i].Name < st.Subject[j].Name })
	body, err := json.Marshal(st)
	if err != nil {
		return attest.Envelope{}, fmt.Errorf("%s: %w", mf.path, err)
	}
	return attest.Sign(attest.PayloadType, body, key)
}

func verifyCmd(stdout io.Writer) *cobra.Command {
	var keyFile, envFile string
	c := &cobra.Command{
		Use:   "verify [--key PUB] MANIFEST",
		Short: "Re-hash a run's outputs and name any that changed; with --key, check the manifest's signature first",
		Long: "Without --key: every output the manifest lists is re-hashed and compared with its\n" +
			"sha256 there. With --key: the envelope (MANIFEST with .dsse.json for .json, or\n" +
			"--envelope) must carry a signature by that key over an in-toto statement of this very\n" +
			"manifest, and the statement's subjects are re-hashed. Exit 1 names what failed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mf, err := readManifest(args[0])
			if err != nil {
				return err
			}
			if keyFile == "" {
				return report(stdout, checkFiles(cmd.Context(), mf.outputs()), "the manifest")
			}
			pub, err := readKey(keyFile, attest.ParsePublicKey)
			if err != nil {
				return err
			}
			if envFile == "" {
				envFile = envelopePath(args[0])
			}
			st, err := verifiedStatement(envFile, pub, mf)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "signature ok: %s\n", envFile)
			return report(stdout, checkFiles(cmd.Context(), mf.subjects(st)), "the signed statement")
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "ed25519 public key, PKIX PEM (KEY.pub, or openssl pkey -pubout); a private key works too")
	c.Flags().StringVar(&envFile, "envelope", "", "the signature envelope (default: MANIFEST with .dsse.json for .json)")
	return c
}

// verifiedStatement reads an envelope, checks its signature with pub, and
// checks that what was signed is this manifest, unchanged.
func verifiedStatement(envFile string, pub ed25519.PublicKey, mf *manifestFile) (*attest.Statement, error) {
	b, err := tensor.ReadInput(envFile)
	if err != nil {
		return nil, fmt.Errorf("no signature to check: %w", err)
	}
	var env attest.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%s: not a DSSE envelope: %w", envFile, err)
	}
	body, err := env.Verify(pub, attest.PayloadType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envFile, err)
	}
	st, err := attest.ParseStatement(body, manifestPredicate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envFile, err)
	}
	var signed, now any
	if err := json.Unmarshal(st.Predicate, &signed); err != nil {
		return nil, fmt.Errorf("%s: predicate: %w", envFile, err)
	}
	if err := json.Unmarshal(mf.raw, &now); err != nil {
		return nil, fmt.Errorf("%s: %w", mf.path, err)
	}
	if !reflect.DeepEqual(signed, now) {
		return nil, fmt.Errorf("%s was changed after it was signed (it differs from the manifest in %s)", mf.path, envFile)
	}
	return st, nil
}

// readKey reads a key file; a missing or unreadable key is a usage problem.
func readKey[K any](path string, parse func([]byte) (K, error)) (K, error) {
	var zero K
	if path == "" {
		return zero, usageError{errors.New("--key is required: expected a key file")}
	}
	b, err := tensor.ReadInput(path)
	if err != nil {
		return zero, usageError{fmt.Errorf("--key: %w", err)}
	}
	k, err := parse(b)
	if err != nil {
		return zero, usageError{fmt.Errorf("--key %s: %w", path, err)}
	}
	return k, nil
}

// writeReplacing writes an envelope through a temporary file and a rename,
// so a reader sees the old envelope or the new one, never half of one.
func writeReplacing(path string, env attest.Envelope) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
