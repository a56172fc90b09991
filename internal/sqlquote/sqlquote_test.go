package sqlquote

import (
	"database/sql"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

func TestString(t *testing.T) {
	cases := []struct {
		in, want string
		err      error
	}{
		{`abc`, `'abc'`, nil},
		{`it's`, `'it''s'`, nil},
		{`'); DROP TABLE members; --`, `'''); DROP TABLE members; --'`, nil},
		{`a\b`, `'a\b'`, nil},
		{"望湘园", "'望湘园'", nil},
		{"a\nb\tc", "('a' || chr(10) || 'b' || chr(9) || 'c')", nil},
		{"a\x00b", "", ErrNUL},
		{"a\xffb", "", ErrUTF8},
	}
	for _, c := range cases {
		got, err := String(c.in)
		if got != c.want || err != c.err {
			t.Errorf("String(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestIdent(t *testing.T) {
	cases := []struct {
		in, want string
		err      error
	}{
		{"store", "store", nil},
		{"order", `"order"`, nil},
		{"Store", `"Store"`, nil},
		{"订单", `"订单"`, nil},
		{`a"b`, `"a""b"`, nil},
		{"", `""`, nil},
		{"a\x00", "", ErrNUL},
	}
	for _, c := range cases {
		got, err := Ident(c.in)
		if got != c.want || err != c.err {
			t.Errorf("Ident(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

// TestIdentKeywords: every name DuckDB reserves, or only allows in
// some places, is quoted; the others stay bare and still work as names.
func TestIdentKeywords(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.Query(`SELECT keyword_name, keyword_category FROM duckdb_keywords()`)
	if err != nil {
		t.Fatal(err)
	}
	category := map[string]string{}
	for rows.Next() {
		var kw, cat string
		if err := rows.Scan(&kw, &cat); err != nil {
			t.Fatal(err)
		}
		category[kw] = cat
	}
	rows.Close()
	if len(category) < 100 {
		t.Fatalf("only %d keywords", len(category))
	}
	for kw, cat := range category {
		q, err := Ident(kw)
		if err != nil {
			t.Fatal(err)
		}
		if cat != "unreserved" && q == kw {
			t.Errorf("Ident(%q) = %s, but DuckDB says %s", kw, q, cat)
		}
		if _, err := db.Exec("SELECT " + q + " FROM (SELECT 1 AS " + q + ") t WHERE " + q + " = 1"); err != nil {
			t.Errorf("%s as a column name: %v", q, err)
		}
	}
}
