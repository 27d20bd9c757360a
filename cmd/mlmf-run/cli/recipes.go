package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/mlmf-run/mlmf-run/recipes"
)

// readRecipe finds what a RECIPE argument names: a file of that name wins
// (so a user's recipe is never shadowed), else the shipped recipe of that
// name. label is what positions in it are reported against: the path, or
// "NAME (embedded)" for a file the user may not have.
func readRecipe(arg string) (label string, raw []byte, err error) {
	fi, statErr := os.Stat(arg)
	if statErr == nil && !fi.IsDir() {
		raw, err := os.ReadFile(arg)
		if err != nil {
			return "", nil, usageError{fmt.Errorf("recipe %s: %w", arg, err)}
		}
		return arg, raw, nil
	}
	if raw, ok := recipes.Read(arg); ok {
		return recipes.Label(arg), raw, nil
	}
	switch {
	case statErr == nil:
		return "", nil, usageError{fmt.Errorf("recipe %s: is a directory, expected a recipe file or a shipped recipe's name", arg)}
	case !errors.Is(statErr, fs.ErrNotExist):
		return "", nil, usageError{fmt.Errorf("recipe %s: %w", arg, statErr)}
	}
	msg := fmt.Sprintf("recipe %s: no such file, and no shipped recipe of that name (shipped: %s)", arg, strings.Join(recipes.Names(), ", "))
	if name := strings.TrimSuffix(filepath.Base(arg), ".yaml"); name != arg {
		if _, ok := recipes.Read(name); ok {
			msg += fmt.Sprintf("; did you mean the shipped recipe %q?", name)
		}
	}
	return "", nil, usageError{errors.New(msg)}
}

func recipesCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "recipes",
		Short: "List the recipes shipped in the binary: name, description, vars",
		Long: "List the recipes shipped in the binary. Run one by name from anywhere:\n" +
			"  mlmf-run NAME --set var=value ...\n" +
			"and print one to copy and edit with 'mlmf-run recipes show NAME'.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []recipeInfo
			for _, n := range recipes.Names() {
				raw, _ := recipes.Read(n)
				info, err := describeRecipe(n, raw)
				if err != nil {
					return err
				}
				list = append(list, info)
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(list)
			}
			printRecipes(stdout, list)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print as JSON: [{name, description, vars: [{name, default, required, help}]}]")
	c.AddCommand(&cobra.Command{
		Use:   "show NAME",
		Short: "Print a shipped recipe as it is embedded, to copy and edit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, ok := recipes.Read(args[0])
			if !ok {
				return usageError{fmt.Errorf("no shipped recipe %q, expected one of: %s", args[0], strings.Join(recipes.Names(), ", "))}
			}
			_, err := stdout.Write(raw)
			return err
		},
	})
	return c
}

// recipeInfo is what `recipes` says of one shipped recipe.
type recipeInfo struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Vars        []varInfo `json:"vars"`
}

// varInfo is one declared var: its default (none when Required) and the
// comment the recipe gives it.
type varInfo struct {
	Name     string `json:"name"`
	Default  string `json:"default,omitempty"`
	Required bool   `json:"required"`
	Help     string `json:"help,omitempty"`
}

// describeRecipe reads a recipe's description and vars, with each var's
// line comment as its help.
func describeRecipe(name string, raw []byte) (recipeInfo, error) {
	info := recipeInfo{Name: name, Vars: []varInfo{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return info, fmt.Errorf("%s: %w", recipes.Label(name), err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return info, fmt.Errorf("%s: expected a YAML mapping", recipes.Label(name))
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
		case k.Value == "description":
			info.Description = v.Value
		case k.Value == "vars" && v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				vk, vv := v.Content[j], v.Content[j+1]
				vi := varInfo{Name: vk.Value, Help: strings.TrimSpace(strings.TrimPrefix(vv.LineComment, "#"))}
				switch {
				case vv.ShortTag() == "!!null":
					vi.Required = true
				case vv.Kind == yaml.SequenceNode: // a list var, as --set writes it
					var items []string
					for _, it := range vv.Content {
						items = append(items, it.Value)
					}
					vi.Default = strings.Join(items, ",")
				default:
					vi.Default = vv.Value
				}
				info.Vars = append(info.Vars, vi)
			}
		}
	}
	return info, nil
}

func printRecipes(w io.Writer, list []recipeInfo) {
	for _, r := range list {
		fmt.Fprintf(w, "%s — %s\n", r.Name, r.Description)
		for _, v := range r.Vars {
			def := "(required)"
			if !v.Required {
				def = fmt.Sprintf("= %q", v.Default)
			}
			fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("    %-18s %-12s %s", v.Name, def, v.Help), " "))
		}
	}
	fmt.Fprintln(w, "\nRun one: mlmf-run NAME --set var=value ...    Print one: mlmf-run recipes show NAME")
}
