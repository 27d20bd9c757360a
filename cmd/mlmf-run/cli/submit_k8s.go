package cli

import (
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// The few Kubernetes objects submit k8s prints, by their API field names
// (k8s.io/api/batch/v1 and core/v1; a test decodes the YAML with those
// types, unknown fields refused). Written here so the binary does not
// carry the Kubernetes API modules.
type (
	k8sJob struct {
		APIVersion string  `yaml:"apiVersion"`
		Kind       string  `yaml:"kind"`
		Metadata   k8sMeta `yaml:"metadata"`
		Spec       jobSpec `yaml:"spec"`
	}
	k8sMeta struct {
		Name   string            `yaml:"name,omitempty"`
		Labels map[string]string `yaml:"labels"`
	}
	jobSpec struct {
		CompletionMode       string      `yaml:"completionMode,omitempty"`
		Completions          int         `yaml:"completions"`
		Parallelism          int         `yaml:"parallelism"`
		BackoffLimit         *int        `yaml:"backoffLimit,omitempty"`
		BackoffLimitPerIndex *int        `yaml:"backoffLimitPerIndex,omitempty"`
		Template             podTemplate `yaml:"template"`
	}
	podTemplate struct {
		Metadata k8sMeta `yaml:"metadata"`
		Spec     podSpec `yaml:"spec"`
	}
	podSpec struct {
		RestartPolicy string      `yaml:"restartPolicy"`
		Containers    []container `yaml:"containers"`
		Volumes       []volume    `yaml:"volumes"`
	}
	container struct {
		Name         string        `yaml:"name"`
		Image        string        `yaml:"image"`
		WorkingDir   string        `yaml:"workingDir"`
		Command      []string      `yaml:"command"`
		Args         []string      `yaml:"args"`
		Resources    resources     `yaml:"resources"`
		VolumeMounts []volumeMount `yaml:"volumeMounts"`
	}
	resources struct {
		Requests map[string]string `yaml:"requests"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}
	volume struct {
		Name                  string   `yaml:"name"`
		PersistentVolumeClaim claimRef `yaml:"persistentVolumeClaim"`
	}
	claimRef struct {
		ClaimName string `yaml:"claimName"`
	}
)

// dnsLabel is what Kubernetes accepts as a Job name (with room for the
// "-finalize" suffix within 63 characters).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,42}[a-z0-9])?$`)

func submitK8sCmd(stdout io.Writer) *cobra.Command {
	var s submitFlags
	var image, claim, mount, command string
	c := &cobra.Command{
		Use:   "k8s RECIPE --parts N --image IMAGE --claim PVC [--set key=value]...",
		Short: "Print an Indexed Job of N parts and a finalize Job, as YAML for kubectl apply -f -, on a shared volume",
		Long: "Every pod mounts the PersistentVolumeClaim --claim (ReadWriteMany) at --mount and\n" +
			"starts there: give the recipe and --set paths relative to the volume's root, or\n" +
			"absolute under --mount. The parts take their index from $JOB_COMPLETION_INDEX; the\n" +
			"finalize Job starts with them and waits (--finalize --wait 24h) until every part has\n" +
			"completed. Nothing is planned here: the inputs may exist only on the volume.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mem, err := s.check()
			if err != nil {
				return err
			}
			switch {
			case image == "":
				return usageError{errors.New("--image is required: an image with mlmf-run in it")}
			case claim == "":
				return usageError{errors.New("--claim is required: the PersistentVolumeClaim that holds inputs and outputs")}
			case !dnsLabel.MatchString(s.name):
				return usageError{fmt.Errorf("--name %q: expected lowercase letters, digits and '-', at most 44 characters", s.name)}
			case !path.IsAbs(mount):
				return usageError{fmt.Errorf("--mount %q: expected an absolute path", mount)}
			}
			if _, err := loadRecipe(args[0], s.sets); err != nil {
				return err
			}
			return printK8s(stdout, s, mem, args[0], image, claim, mount, command)
		},
	}
	s.register(c)
	c.Flags().StringVar(&image, "image", "", "container image with mlmf-run (required)")
	c.Flags().StringVar(&claim, "claim", "", "PersistentVolumeClaim of the shared volume (required)")
	c.Flags().StringVar(&mount, "mount", "/data", "where the volume is mounted, and the pods' working folder")
	c.Flags().StringVar(&command, "command", "mlmf-run", "the mlmf-run command in the image")
	return c
}

func printK8s(w io.Writer, s submitFlags, mem int64, recipe, image, claim, mount, command string) error {
	threads := s.threads
	if threads == 0 {
		threads = 4 // a pod has no CPU count to find: it requests this many
	}
	args := append([]string{recipe}, s.runArgs(strconv.Itoa(threads))...)
	// The budget, plus the Go heap's margin above it (execute's soft limit)
	// and the program.
	memReq := fmt.Sprintf("%dMi", (mem+256<<20+(1<<20)-1)>>20)
	job := func(name string, n int, args []string) k8sJob {
		labels := map[string]string{"app.kubernetes.io/name": "mlmf-run", "app.kubernetes.io/instance": s.name}
		return k8sJob{APIVersion: "batch/v1", Kind: "Job", Metadata: k8sMeta{Name: name, Labels: labels},
			Spec: jobSpec{Completions: n, Parallelism: n, Template: podTemplate{Metadata: k8sMeta{Labels: labels}, Spec: podSpec{
				RestartPolicy: "Never",
				Containers: []container{{Name: "mlmf-run", Image: image, WorkingDir: mount, Command: []string{command}, Args: args,
					Resources:    resources{Requests: map[string]string{"cpu": strconv.Itoa(threads), "memory": memReq}},
					VolumeMounts: []volumeMount{{Name: "data", MountPath: mount}}}},
				Volumes: []volume{{Name: "data", PersistentVolumeClaim: claimRef{ClaimName: claim}}},
			}}}}
	}
	retries, once := 2, 1
	parts := job(s.name+"-parts", s.parts, args)
	parts.Spec.CompletionMode = "Indexed"
	parts.Spec.BackoffLimitPerIndex = &retries // a failed part is retried alone
	final := job(s.name+"-finalize", 1, append(slices.Clip(args), "--finalize", "--wait", "24h"))
	final.Spec.BackoffLimit = &once
	fmt.Fprintf(w, "# mlmf-run submit k8s: %d parts of %s, then a finalize that waits for them.\n# kubectl apply -f this.yaml; kubectl wait --for=condition=complete --timeout=24h job/%s-finalize\n", s.parts, recipe, s.name)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, j := range []k8sJob{parts, final} {
		if err := enc.Encode(j); err != nil {
			return err
		}
	}
	return enc.Close()
}
