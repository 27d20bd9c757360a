package torch

import (
	"errors"
	"fmt"
	"strings"
)

// globalText is GLOBAL: "module\nname\n" inline.
func (m *machine) globalText() error {
	g, err := m.inlineGlobal()
	if err != nil {
		return err
	}
	return m.push(g)
}

func (m *machine) inlineGlobal() (*global, error) {
	module, err := m.line()
	if err != nil {
		return nil, err
	}
	name, err := m.line()
	if err != nil {
		return nil, err
	}
	return lookupGlobal(module, name)
}

// stackGlobal is STACK_GLOBAL: module and name strings from the stack.
func (m *machine) stackGlobal() error {
	name, err := m.pop()
	if err != nil {
		return err
	}
	module, err := m.pop()
	if err != nil {
		return err
	}
	ms, ok1 := module.(string)
	ns, ok2 := name.(string)
	if !ok1 || !ok2 {
		return fmt.Errorf("module and name are %s and %s, not strings", typeName(module), typeName(name))
	}
	g, err := lookupGlobal(ms, ns)
	if err != nil {
		return err
	}
	return m.push(g)
}

// reduce is REDUCE: callable(*args).
func (m *machine) reduce() error {
	args, err := m.pop()
	if err != nil {
		return err
	}
	fn, err := m.pop()
	if err != nil {
		return err
	}
	return m.call(fn, args)
}

// newobj is NEWOBJ: cls.__new__(cls, *args); only OrderedDict qualifies.
func (m *machine) newobj() error {
	args, err := m.pop()
	if err != nil {
		return err
	}
	cls, err := m.pop()
	if err != nil {
		return err
	}
	return m.construct(cls, args)
}

// newobjEx is NEWOBJ_EX: cls.__new__(cls, *args, **kwargs).
func (m *machine) newobjEx() error {
	kwargs, err := m.pop()
	if err != nil {
		return err
	}
	if d, ok := kwargs.(*dict); !ok || len(d.keys) != 0 {
		return fmt.Errorf("keyword arguments (%s) are not supported", typeName(kwargs))
	}
	return m.newobj()
}

func (m *machine) construct(cls, args any) error {
	if g, ok := cls.(*global); !ok || g.kind != kindOrderedDict {
		return fmt.Errorf("cannot instantiate %s", typeName(cls))
	}
	return m.call(cls, args)
}

// inst is INST: "module\nname\n" inline, arguments since the MARK.
func (m *machine) inst() error {
	g, err := m.inlineGlobal()
	if err != nil {
		return err
	}
	args, err := m.popMark()
	if err != nil {
		return err
	}
	return m.call(g, tuple(args))
}

// obj is OBJ: class and arguments since the MARK.
func (m *machine) obj() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return errors.New("no class after MARK")
	}
	return m.call(items[0], tuple(items[1:]))
}

// build is BUILD: obj.__setstate__(state). Only a dict may take state: an
// OrderedDict from model.state_dict() carries its _metadata attribute this
// way, which says nothing about the weights and is dropped.
func (m *machine) build() error {
	state, err := m.pop()
	if err != nil {
		return err
	}
	obj, err := m.top()
	if err != nil {
		return err
	}
	if _, ok := obj.(*dict); !ok {
		return fmt.Errorf("cannot set state of a %s", typeName(obj))
	}
	switch state.(type) {
	case nil, *dict, tuple:
		return nil
	}
	return fmt.Errorf("state of a dict is a %s", typeName(state))
}

func (m *machine) persid() error {
	s, err := m.line()
	if err != nil {
		return err
	}
	return m.load(s)
}

func (m *machine) binpersid() error {
	pid, err := m.pop()
	if err != nil {
		return err
	}
	return m.load(pid)
}

func (m *machine) load(pid any) error {
	if m.persistent == nil {
		return errors.New("persistent ids are not expected here")
	}
	v, err := m.persistent(pid)
	if err != nil {
		return err
	}
	return m.push(v)
}

// call interprets one whitelisted callable; nothing is ever executed.
func (m *machine) call(fn, args any) error {
	g, ok := fn.(*global)
	if !ok {
		return fmt.Errorf("cannot call a %s", typeName(fn))
	}
	a, ok := args.(tuple)
	if !ok {
		return fmt.Errorf("arguments of %s are a %s, not a tuple", g, typeName(args))
	}
	v, err := invoke(g, a)
	if err != nil {
		return fmt.Errorf("%s: %w", g, err)
	}
	if err := m.count(1); err != nil {
		return err
	}
	return m.push(v)
}

func invoke(g *global, a tuple) (any, error) {
	switch g.kind {
	case kindOrderedDict:
		if len(a) != 0 {
			return nil, errors.New("only an empty OrderedDict() can be built")
		}
		return &dict{}, nil
	case kindCodecsEncode:
		return codecsEncode(a)
	case kindRebuildTensor, kindRebuildTensorV2, kindRebuildTensorV3:
		return rebuildTensor(g.kind, a)
	case kindRebuildParameter:
		if len(a) < 3 || len(a) > 4 {
			return nil, fmt.Errorf("takes 3 or 4 arguments, got %d", len(a))
		}
		t, ok := a[0].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("data is a %s, not a tensor", typeName(a[0]))
		}
		return t, nil
	case kindRebuildFromType:
		return rebuildFromType(a)
	}
	return nil, errors.New("is not callable")
}

// rebuildFromType is torch._tensor._rebuild_from_type_v2(func, type, args,
// state), which torch.save uses for a tensor carrying Python attributes: the
// inner rebuilder makes the tensor, and the attributes are not weights.
func rebuildFromType(a tuple) (any, error) {
	if len(a) != 4 {
		return nil, fmt.Errorf("takes 4 arguments, got %d", len(a))
	}
	fn, ok := a[0].(*global)
	if !ok || fn.kind == kindRebuildFromType {
		return nil, fmt.Errorf("func is a %s, not a tensor rebuilder", typeName(a[0]))
	}
	if cls, ok := a[1].(*global); !ok || cls.kind != kindTensorType {
		return nil, fmt.Errorf("type is %s, not a tensor type", typeName(a[1]))
	}
	args, ok := a[2].(tuple)
	if !ok {
		return nil, fmt.Errorf("args are a %s, not a tuple", typeName(a[2]))
	}
	v, err := invoke(fn, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if _, ok := v.(*torchTensor); !ok {
		return nil, fmt.Errorf("%s made a %s, not a tensor", fn, typeName(v))
	}
	return v, nil
}

// codecsEncode is _codecs.encode(str, "latin1"), which protocol 2 uses to
// spell a bytes object.
func codecsEncode(a tuple) (any, error) {
	if len(a) != 2 {
		return nil, fmt.Errorf("takes 2 arguments, got %d", len(a))
	}
	s, ok1 := a[0].(string)
	enc, ok2 := a[1].(string)
	if !ok1 || !ok2 || strings.ToLower(strings.ReplaceAll(enc, "-", "")) != "latin1" {
		return nil, errors.New("only encode(str, 'latin1') is supported")
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("character U+%04X is not latin1", r)
		}
		out = append(out, byte(r))
	}
	return out, nil
}
