package tick

import (
	"reflect"
	"testing"
)

// TestSplitSQL: only a string literal compared with a qualified VARCHAR
// column is a slot a family may fill from its table; comments are left
// out (they quote the rule's literals), quoted identifiers and the other
// literals are text, and the rule's own parameters are references.
func TestSplitSQL(t *testing.T) {
	varchar := func(col string) bool { return col == "store" || col == "my col" }
	tests := []struct {
		name string
		q    string
		want []sqlPiece
	}{
		{"compared with a VARCHAR column", "WHERE e.store = 'A'", []sqlPiece{{text: "WHERE e.store = "}, {text: "'A'", slot: true}}},
		{"not equal, quoted column", `WHERE m."my col" <> 'it''s'`, []sqlPiece{{text: `WHERE m."my col" <> `}, {text: "'it''s'", slot: true}}},
		{"a column of another type", "WHERE e.amount = '5'", []sqlPiece{{text: "WHERE e.amount = "}, {text: "'5'"}}},
		{"an unqualified name", "WHERE store = 'A'", []sqlPiece{{text: "WHERE store = "}, {text: "'A'"}}},
		{"not a comparison", "e.ts > $now - INTERVAL '30 days' AND e.store >= 'A'", []sqlPiece{{text: "e.ts > $now - INTERVAL "}, {text: "'30 days'"}, {text: " AND e.store >= "}, {text: "'A'"}}},
		{"a comment quoting the literal", "-- at store 'A'\nWHERE e.store = 'A'", []sqlPiece{{text: "\nWHERE e.store = "}, {text: "'A'", slot: true}}},
		{"a quoted identifier holding a quote", `SELECT "it's" FROM t WHERE e.store != 'B'`, []sqlPiece{{text: `SELECT "it's" FROM t WHERE e.store != `}, {text: "'B'", slot: true}}},
		{"own parameters", "e.seq > $wm_seq_3::BIGINT AND e.ts > $now::TIMESTAMP", []sqlPiece{{text: "e.seq > "}, {text: "$wm_seq_3", arg: 1}, {text: "::BIGINT AND e.ts > $now::TIMESTAMP"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitSQL(tt.q, []string{"wm_seq_3"}, varchar)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitSQL(%q)\n got %+v\nwant %+v", tt.q, got, tt.want)
			}
		})
	}
}
