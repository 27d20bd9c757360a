package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// checkOutputs refuses, at plan time, every output that would corrupt data
// silently or fail only after the whole run: two outputs that are one file,
// an output that is a file the run reads, and an output that is a folder,
// ends in a slash, or is a device, FIFO or socket.
func checkOutputs(r *Recipe, p *Plan) Problems {
	var ps Problems
	reads := p.readIDs()
	var w writes
	for _, o := range p.Outputs {
		line, col := stageAt(r, o.Stage)
		if err := w.clash(o.Path, reads); err != nil {
			ps = append(ps, Problem{File: r.File, Line: line, Col: col, Stage: o.Stage, Msg: "output " + err.Error()})
		}
		w.add(o.Path)
	}
	return ps
}

// CheckWrite reports whether the run may write path beside its outputs (a
// trace file, a manifest): not when path is a file the plan reads or writes,
// nor a folder, device, FIFO or socket.
func (p *Plan) CheckWrite(path string) error {
	var w writes
	for _, o := range p.Outputs {
		w.add(o.Path)
	}
	return w.clash(path, p.readIDs())
}

// fileID is a file as found when planning.
type fileID struct {
	path string
	info os.FileInfo
}

// readIDs is every file the plan reads, the recipe included, identified by
// device and inode (os.SameFile), so no spelling of a path hides one: a
// symlinked folder, "..", a hard link.
func (p *Plan) readIDs() []fileID {
	var ids []fileID
	seen := map[string]bool{}
	add := func(path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		if st, err := os.Stat(path); err == nil {
			ids = append(ids, fileID{path, st})
		}
	}
	if p.Recipe != nil {
		add(p.Recipe.File)
	}
	for _, s := range p.Stages {
		if s.Out == nil {
			continue
		}
		for _, f := range s.Out.Files {
			add(f)
		}
	}
	return ids
}

// writes are the files a run writes, by where their rename lands and, for
// those that exist, by identity.
type writes struct {
	targets map[string]string // renameTarget -> path
	ids     []fileID
}

func (w *writes) add(path string) {
	if w.targets == nil {
		w.targets = map[string]string{}
	}
	w.targets[renameTarget(path)] = path
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
		w.ids = append(w.ids, fileID{path, st})
	}
}

// clash says why path must not be written, or nil: it is a folder or a
// special file (checkDest), a file already written, or a file read.
func (w *writes) clash(path string, reads []fileID) error {
	if err := checkDest(path); err != nil {
		return err
	}
	if _, ok := w.targets[renameTarget(path)]; ok {
		return fmt.Errorf("%s is written twice", path)
	}
	cur, err := os.Lstat(path)
	if err != nil || !cur.Mode().IsRegular() {
		return nil
	}
	for _, other := range w.ids {
		if os.SameFile(cur, other.info) {
			return fmt.Errorf("%s is written twice (it is the same file as %s)", path, other.path)
		}
	}
	for _, in := range reads {
		if os.SameFile(cur, in.info) {
			if in.path == path {
				return fmt.Errorf("%s would overwrite an input", path)
			}
			return fmt.Errorf("%s would overwrite an input: it is the same file as %s", path, in.path)
		}
	}
	return nil
}

// renameTarget is the directory entry a rename onto path replaces: its
// folder resolved through symlinks, and its name. Two spellings of one
// output give one target.
func renameTarget(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	dir, name := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return filepath.Join(dir, name)
}

// ErrNotRegular is the cause of a refusal to write over something that is
// not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// checkDest refuses an output path that a rename would wrongly replace or
// cannot replace: a folder (or a path ending in a slash, which names one),
// and a device, FIFO or socket, which must never silently become a regular
// file. A symbolic link is fine unless it leads to a folder: the rename
// replaces the link, never its target.
func checkDest(path string) error {
	if strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) {
		return fmt.Errorf("%s ends in a slash: expected a file name, not a folder", path)
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	mode := fi.Mode()
	switch {
	case mode.IsRegular():
		return nil
	case mode.IsDir():
		return fmt.Errorf("%s is an existing folder: expected a file path", path)
	case mode&fs.ModeSymlink != 0:
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return fmt.Errorf("%s is a symbolic link to a folder: expected a file path", path)
		}
		return nil
	}
	return fmt.Errorf("%s is %s, %w: refusing to replace it", path, tensor.FileKind(mode), ErrNotRegular)
}

// stageAt is where a stage is declared, so a problem with its output points
// at it rather than at the top of the recipe.
func stageAt(r *Recipe, id string) (int, int) {
	for _, d := range r.Stages {
		if d.ID == id {
			return d.Line, d.Col
		}
	}
	return 1, 1
}
