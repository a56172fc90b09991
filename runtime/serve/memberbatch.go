package serve

import (
	"maps"
	"slices"
	"strings"
)

// A member batch is stored as its rows sent one by one, in order, would
// be: an import sets the columns its file has and keeps the others, so a
// row sets the keys it gives and keeps what it leaves out (identify traits
// are partial updates, attrs key by key). One file of the whole batch would not do: a JSON
// file's columns are the union of its rows' keys, so a row lacking a key
// another row gives would set that column NULL, and of a member's rows
// the import keeps the last. The batch's rows are therefore merged by
// member (mergeMembers) and written as one file per set of keys, all
// imported in one transaction.

// memberColumnSet is memberColumns as a set.
var memberColumnSet = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range memberColumns {
		m[c] = true
	}
	return m
}()

// memberColumnOf returns the column of members a row's key names, as the
// import matches a file's column (case-insensitively, spaces around it
// ignored), or "" for a key that names none (the import collects it into
// attrs).
func memberColumnOf(key string) string {
	if c := strings.ToLower(strings.TrimSpace(key)); memberColumnSet[c] {
		return c
	}
	return ""
}

// setsAttrs reports whether a key of a member row makes the import write
// attrs: attrs itself or a key naming no column.
func setsAttrs(key string) bool {
	c := memberColumnOf(key)
	return c == "" || c == "attrs"
}

// memberGroup is the merged rows of a member batch that have the same
// keys (one file of the import), each of a different member.
type memberGroup struct {
	rows   []map[string]any
	from   []map[string]int64  // of each row: key -> the body row that gave it
	fields []map[string]string // of each row: column -> the body's field
	last   []int64             // of each row: the member's last body row
}

// bodyRow returns the body row and field to blame for an import error of
// row i (0-based) of the group in column col.
func (g *memberGroup) bodyRow(i int, col string) (int64, string) {
	row := g.last[i]
	for k, r := range g.from[i] {
		if memberColumnOf(k) == col || (col == "attrs" && setsAttrs(k)) {
			row = r
			break
		}
	}
	return row, fieldName(g.fields[i], col)
}

// mergeMembers merges the member rows of b by (brand, member_id), in
// order, into what the rows sent one by one would leave: a later row's
// key replaces an earlier row's key naming the same column (in any case);
// the keys a later row leaves out keep the earlier value. attrs (the keys
// naming no column, and an attrs object) is a partial update too, key by
// key: a key given replaces the stored one, a key given null removes it,
// the stored keys a row leaves out stay; `attrs: null` removes them all.
// stored returns the stored attrs of the members whose rows set some
// (brand, member_id -> object): the merged rows carry their whole attrs.
// The merged rows are grouped by their keys, groups in the order of their
// first member.
func mergeMembers(b *batchRows, stored func(members [][2]string) (map[[2]string]map[string]any, error)) ([]*memberGroup, error) {
	type merged struct {
		key    [2]string
		row    map[string]any
		from   map[string]int64
		fields map[string]string
		last   int64
		// The attrs the rows give: a key's latest value (nil: removed);
		// clear when `attrs: null` dropped the stored ones; raw a
		// non-object attrs, left for the import to refuse.
		attrs    map[string]any
		setAttrs bool
		clear    bool
		raw      any
	}
	byMember := map[[2]string]*merged{}
	var order []*merged
	for i, r := range b.members {
		k := [2]string{r["brand"].(string), r["member_id"].(string)}
		m := byMember[k]
		if m == nil {
			m = &merged{key: k, row: map[string]any{}, from: map[string]int64{}, fields: map[string]string{}, attrs: map[string]any{}}
			byMember[k] = m
			order = append(order, m)
		}
		cols := map[string]bool{}
		for key := range r {
			if !setsAttrs(key) {
				cols[memberColumnOf(key)] = true
			}
		}
		// (The keys r replaces go first, so that two keys of r itself
		// naming one column both reach the import, which refuses them.)
		for key := range m.row {
			if cols[memberColumnOf(key)] {
				delete(m.row, key)
				delete(m.from, key)
				delete(m.fields, memberColumnOf(key))
			}
		}
		// An attrs object first, then the keys naming no column over it,
		// as the import of the row alone merges them.
		for _, key := range slices.Sorted(maps.Keys(r)) {
			if memberColumnOf(key) != "attrs" {
				continue
			}
			m.setAttrs, m.from["attrs"] = true, b.memberFrom[i]
			switch o := r[key].(type) {
			case nil:
				m.attrs, m.clear, m.raw = map[string]any{}, true, nil
			case map[string]any:
				maps.Copy(m.attrs, o)
			default:
				m.raw = o
			}
		}
		for key, v := range r {
			switch {
			case memberColumnOf(key) == "attrs":
			case setsAttrs(key):
				m.attrs[key] = v
				m.setAttrs, m.from["attrs"] = true, b.memberFrom[i]
			default:
				m.row[key] = v
				m.from[key] = b.memberFrom[i]
			}
		}
		maps.Copy(m.fields, b.memberFields[i])
		m.last = b.memberFrom[i]
	}
	var need [][2]string
	for _, m := range order {
		if m.setAttrs && !m.clear && m.raw == nil {
			need = append(need, m.key)
		}
	}
	have := map[[2]string]map[string]any{}
	if len(need) > 0 {
		var err error
		if have, err = stored(need); err != nil {
			return nil, err
		}
	}
	var groups []*memberGroup
	bySig := map[string]*memberGroup{}
	for _, m := range order {
		if m.setAttrs {
			if m.raw != nil {
				m.row["attrs"] = m.raw
			} else {
				attrs := map[string]any{}
				if !m.clear {
					maps.Copy(attrs, have[m.key])
				}
				for k, v := range m.attrs {
					if v == nil {
						delete(attrs, k)
					} else {
						attrs[k] = v
					}
				}
				if len(attrs) == 0 {
					m.row["attrs"] = nil
				} else {
					m.row["attrs"] = attrs
				}
			}
		}
		sig := strings.Join(slices.Sorted(maps.Keys(m.row)), "\x00")
		g := bySig[sig]
		if g == nil {
			g = &memberGroup{}
			bySig[sig] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, m.row)
		g.from = append(g.from, m.from)
		g.fields = append(g.fields, m.fields)
		g.last = append(g.last, m.last)
	}
	return groups, nil
}
