package torch

import (
	"errors"
	"fmt"
	"strconv"
)

// textIndex reads protocol 0's decimal memo index.
func (m *machine) textIndex() (uint64, error) {
	s, err := m.line()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad memo index %q", truncate(s))
	}
	return v, nil
}

func (m *machine) memoLen() (uint64, error) { return uint64(len(m.memo)), nil }

// put stores the top of the stack in the memo. The memo is a map, so a huge
// index costs one entry, and the number of entries is bounded.
func (m *machine) put(index func() (uint64, error)) error {
	i, err := index()
	if err != nil {
		return err
	}
	if i > math32 {
		return fmt.Errorf("memo index %d out of range", i)
	}
	v, err := m.top()
	if err != nil {
		return err
	}
	if _, ok := m.memo[uint32(i)]; !ok && len(m.memo) >= maxMemo {
		return fmt.Errorf("more than %d memo entries", maxMemo)
	}
	m.memo[uint32(i)] = v
	return nil
}

const math32 = 1<<32 - 1

func (m *machine) get(index func() (uint64, error)) error {
	i, err := index()
	if err != nil {
		return err
	}
	v, ok := m.memo[uint32(i)]
	if !ok || i > math32 {
		return fmt.Errorf("memo index %d was never stored", i)
	}
	return m.push(v)
}

func (m *machine) tupleMark() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	return m.push(tuple(items))
}

func (m *machine) tupleN(n int) error {
	if err := m.count(n); err != nil {
		return err
	}
	t := make(tuple, n)
	for i := n - 1; i >= 0; i-- {
		v, err := m.pop()
		if err != nil {
			return err
		}
		t[i] = v
	}
	return m.push(t)
}

func (m *machine) listMark() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	return m.push(&list{items: items})
}

// topList returns the list (or set) that APPEND/APPENDS/ADDITEMS extend.
func (m *machine) topList() (*list, error) {
	v, err := m.top()
	if err != nil {
		return nil, err
	}
	l, ok := v.(*list)
	if !ok {
		return nil, fmt.Errorf("target is a %s, not a list", typeName(v))
	}
	return l, nil
}

func (m *machine) append1() error {
	v, err := m.pop()
	if err != nil {
		return err
	}
	if err := m.count(1); err != nil {
		return err
	}
	l, err := m.topList()
	if err != nil {
		return err
	}
	l.items = append(l.items, v)
	return nil
}

func (m *machine) appends() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	l, err := m.topList()
	if err != nil {
		return err
	}
	l.items = append(l.items, items...)
	return nil
}

func (m *machine) dictMark() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	d := &dict{}
	if err := setPairs(d, items); err != nil {
		return err
	}
	return m.push(d)
}

func setPairs(d *dict, items []any) error {
	if len(items)%2 != 0 {
		return errors.New("odd number of items for key/value pairs")
	}
	for i := 0; i < len(items); i += 2 {
		d.set(items[i], items[i+1])
	}
	return nil
}

func (m *machine) topDict() (*dict, error) {
	v, err := m.top()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*dict)
	if !ok {
		return nil, fmt.Errorf("target is a %s, not a dict", typeName(v))
	}
	return d, nil
}

func (m *machine) setitem() error {
	v, err := m.pop()
	if err != nil {
		return err
	}
	k, err := m.pop()
	if err != nil {
		return err
	}
	if err := m.count(2); err != nil {
		return err
	}
	d, err := m.topDict()
	if err != nil {
		return err
	}
	d.set(k, v)
	return nil
}

func (m *machine) setitems() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	d, err := m.topDict()
	if err != nil {
		return err
	}
	return setPairs(d, items)
}
