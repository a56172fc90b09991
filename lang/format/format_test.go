package format

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"nudge/lang/ast"
	"nudge/lang/diag"
	"nudge/lang/parser"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden formats testdata/*.input and compares with *.golden.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.input")
	if len(files) == 0 {
		t.Fatal("no testdata/*.input files")
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			got, diags := Source(name, src)
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			golden := strings.TrimSuffix(name, ".input") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// roundTripInputs lists every nudge source the round-trip property runs on:
// formatter inputs, parser test files and the examples (written by others,
// globbed at test time).
func roundTripInputs(t *testing.T) []string {
	var files []string
	for _, pat := range []string{
		"testdata/*.input", "testdata/*.golden",
		"../parser/testdata/valid/*.nudge",
		"../parser/testdata/fuzz/FuzzParse/*",
		"../../examples/*.nudge", "../../examples/*/*.nudge",
		"../../stdlib/*.nudge", "../../stdlib/*/*.nudge",
	} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

// TestRoundTrip checks on every input that formatting is idempotent and
// that the formatted text parses to the same tree, ignoring positions.
func TestRoundTrip(t *testing.T) {
	for _, name := range roundTripInputs(t) {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(name, "fuzz") {
			src = fuzzInput(src)
		}
		if _, diags := parser.ParseFile(name, src); diags.HasErrors() {
			continue // syntax errors are the parser tests' business
		}
		t.Run(name, func(t *testing.T) {
			checkRoundTrip(t, name, src, maxWidth)
			checkRoundTrip(t, name, src, 1) // break every condition that can be broken
		})
	}
}

// fuzzInput extracts the string from a Go fuzz corpus file.
func fuzzInput(b []byte) []byte {
	s := string(b)
	i := strings.Index(s, "[]byte(")
	if i < 0 {
		return nil
	}
	s = strings.TrimSuffix(strings.TrimSpace(s[i+len("[]byte("):]), ")")
	var out string
	if _, err := fmt.Sscanf(s, "%q", &out); err != nil {
		return nil
	}
	return []byte(out)
}

func checkRoundTrip(t *testing.T, name string, src []byte, width int) {
	t.Helper()
	f1, diags := parser.ParseFile(name, src)
	if diags.HasErrors() {
		t.Fatalf("input does not parse: %v", diags)
	}
	out1 := printFile(f1, width)
	f2, diags := parser.ParseFile(name, out1)
	if diags.HasErrors() {
		var b bytes.Buffer
		diag.RenderText(&b, diags, diag.Sources{name: out1})
		t.Fatalf("formatted output does not parse:\n%s\n--- output\n%s", b.String(), out1)
	}
	if path, ok := sameTree(f1, f2); !ok {
		t.Fatalf("formatting changed the tree at %s\n--- input\n%s\n--- output\n%s", path, src, out1)
	}
	if got, want := commentTexts(f2), commentTexts(f1); got != want {
		t.Errorf("comments changed:\n got %q\nwant %q", got, want)
	}
	out2 := printFile(f2, width)
	if !bytes.Equal(out1, out2) {
		t.Fatalf("not idempotent:\n--- first\n%s\n--- second\n%s", out1, out2)
	}
}

func commentTexts(f *ast.File) string {
	var s []string
	for _, c := range f.Comments {
		s = append(s, strings.TrimRight(c.Text, " \t"))
	}
	return strings.Join(s, "\n")
}

var (
	spanType     = reflect.TypeOf(diag.Span{})
	astSpanType  = reflect.TypeOf(ast.Span{})
	commentsType = reflect.TypeOf([]*ast.Comment{})
)

// sameTree compares two trees ignoring spans and comments (compared
// separately); it returns the path of the first difference.
func sameTree(a, b any) (string, bool) {
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b), "file")
}

func sameValue(a, b reflect.Value, path string) (string, bool) {
	if a.Kind() != b.Kind() {
		return path, false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return path, a.IsNil() == b.IsNil()
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			return fmt.Sprintf("%s (%s vs %s)", path, a.Elem().Type(), b.Elem().Type()), false
		}
		return sameValue(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		if a.Type() == spanType || a.Type() == astSpanType {
			return "", true
		}
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			if f.Type == spanType || f.Type == astSpanType || f.Type == commentsType {
				continue
			}
			if p, ok := sameValue(a.Field(i), b.Field(i), path+"."+f.Name); !ok {
				return p, false
			}
		}
		return "", true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s (len %d vs %d)", path, a.Len(), b.Len()), false
		}
		for i := 0; i < a.Len(); i++ {
			if p, ok := sameValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	if a.CanInterface() && b.CanInterface() && !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Sprintf("%s (%v vs %v)", path, a.Interface(), b.Interface()), false
	}
	return "", true
}

// TestCommentPlacement pins where comments go when fmt joins or moves code:
// each stays next to the code it was written with, in source order (own-line
// comments from inside a joined line go above it, the last trailing one at
// its end).
func TestCommentPlacement(t *testing.T) {
	for _, tc := range commentCases {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := Source("c.nudge", []byte(tc.in))
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", diags)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			checkRoundTrip(t, "c.nudge", []byte(tc.in), maxWidth)
			checkRoundTrip(t, "c.nudge", []byte(tc.in), 1)
		})
	}
}

// commentCases are TestCommentPlacement's cases, and FuzzFormat's seeds (the
// mutator seldom writes a comment inside code by itself).
var commentCases = []struct{ name, in, want string }{
	{
		// FuzzFormat: the own-line comment went after the declaration,
		// below the later trailing one
		"own-line comment inside a joined condition, then a trailing one",
		"segment s = a\n#1\nand b #2\n",
		"#1\nsegment s = a and b #2\n",
	},
	{
		"the fuzzer's reproducer",
		"event A{#1\n}segment A=#2\nA#3\non\n#4\nA 0#5",
		"event A {} #1\n\n#2\n#3\n#4\nsegment A = A on A 0 #5\n",
	},
	{
		// it went above the next declaration
		"own-line comment inside a joined condition stays with it",
		"segment s = a\n# 1\nand b\nsegment t = c\n",
		"# 1\nsegment s = a and b\n\nsegment t = c\n",
	},
	{
		"comment between a rule's name and its title",
		"rule r\n# 1\n\"T\" # 2\nif a then tag \"x\"\n",
		"# 1\nrule r \"T\" # 2\n  if a\n  then tag \"x\"\n",
	},
	{
		"comments between joined actions",
		"rule r if a then tag \"x\" # 1\n# 2\nand tag \"y\" # 3\npriority 1\n",
		"rule r\n  if a\n  # 1\n  # 2\n  then tag \"x\" and tag \"y\" # 3\n  priority 1\n",
	},
	{
		"comments inside a parenthesised condition",
		"rule r if (a # 1\n# 2\nor b) then tag \"x\"\n",
		"rule r\n  # 1\n  # 2\n  if (a or b)\n  then tag \"x\"\n",
	},
	{
		"comments between broken lines of a long condition",
		"segment s = visited at store \"A\" in last 30 days # 1\n  # 2\n  or visited at store \"B\" in last 30 days # 3\n  # 4\n  or visited ever\n",
		"segment s =\n    visited at store \"A\" in last 30 days # 1\n    # 2\n    or visited at store \"B\" in last 30 days # 3\n    # 4\n    or visited ever\n",
	},
	{
		"a journey's header lines keep their order with their comments",
		"journey j\n  exit when paid # 1\n  # 2\n  limit once per member\n  enter on purchased # 3\n  send x \"y\" via sms\nend\n",
		"journey j\n  exit when paid # 1\n  # 2\n  limit once per member\n  enter on purchased # 3\n  send x \"y\" via sms\nend\n",
	},
	{
		"a journey's if condition joined",
		"journey j\n  enter on a\n  if b # 1\n  # 2\n  or c # 3\n    tag \"x\"\n  end\nend\n",
		"journey j\n  enter on a\n  # 1\n  # 2\n  if b or c # 3\n    tag \"x\"\n  end\nend\n",
	},
	{
		"comments inside a field list's head",
		"event e # 1\n# 2\n{ # 3\nx text # 4\n}\n",
		"event e { # 1\n  # 2\n  # 3\n  x text # 4\n}\n",
	},
}

func TestSourceKeepsInputOnSyntaxError(t *testing.T) {
	src := []byte("rule r\n  if then tag \"x\"\n")
	out, diags := Source("bad.nudge", src)
	if !diags.HasErrors() {
		t.Fatal("want a syntax error")
	}
	if !bytes.Equal(out, src) {
		t.Errorf("Source changed invalid input:\n%s", out)
	}
}

func TestEmpty(t *testing.T) {
	for _, src := range []string{"", "\n\n"} {
		out, diags := Source("e.nudge", []byte(src))
		if len(diags) > 0 || len(out) != 0 {
			t.Errorf("Source(%q) = %q, %v", src, out, diags)
		}
	}
	out, _ := Source("c.nudge", []byte("# only\n\n\n# comments"))
	if string(out) != "# only\n\n# comments\n" {
		t.Errorf("comments only: %q", out)
	}
}

// TestHandBuiltTrees checks that parentheses are added where a tree built in
// code (not parsed) needs them.
func TestHandBuiltTrees(t *testing.T) {
	id := func(n string) *ast.Ident { return &ast.Ident{Name: n} }
	num := func(s string) *ast.NumberLit { return &ast.NumberLit{Text: s} }
	bin := func(op ast.BinaryOp, x, y ast.Expr) *ast.BinaryExpr { return &ast.BinaryExpr{Op: op, X: x, Y: y} }
	where := &ast.EventAtom{Ref: &ast.EventRef{Event: id("purchased"), Filters: []ast.Filter{&ast.WhereFilter{Cond: bin(ast.Gt, id("amount"), num("10"))}}}}
	tests := []struct {
		name string
		x    ast.Expr
		want string
	}{
		{"or under and", bin(ast.And, bin(ast.Or, id("a"), id("b")), id("c")), "(a or b) and c"},
		{"and under or", bin(ast.Or, bin(ast.And, id("a"), id("b")), id("c")), "a and b or c"},
		{"right assoc and", bin(ast.And, id("a"), bin(ast.And, id("b"), id("c"))), "a and (b and c)"},
		{"sum under mul", bin(ast.Mul, bin(ast.Add, num("1"), num("2")), num("3")), "(1 + 2) * 3"},
		{"right sub", bin(ast.Sub, num("1"), bin(ast.Sub, num("2"), num("3"))), "1 - (2 - 3)"},
		{"not of and", &ast.NotExpr{X: bin(ast.And, id("a"), id("b"))}, "not (a and b)"},
		{"open where on the left", bin(ast.And, where, id("b")), "(purchased where amount > 10) and b"},
		{"open where on the right", bin(ast.And, id("b"), where), "b and purchased where amount > 10"},
		{"comparison of comparison", bin(ast.Eq, bin(ast.Lt, num("1"), num("2")), &ast.BoolLit{Value: true}), "(1 < 2) = true"},
	}
	for _, tc := range tests {
		if got := expr(tc.x); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, `"plain"`},
		{"长沙", `"长沙"`},
		{"a\"b\\c\nd\te", `"a\"b\\c\nd\te"`},
		{"\x07\u2028", `"\u0007\u2028"`},
	}
	for _, tc := range tests {
		if got := quote(tc.in); got != tc.want {
			t.Errorf("quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzFormat checks the round-trip property (idempotent, same tree, same
// comments) on arbitrary input that parses, at the normal width and with
// every condition broken over lines.
func FuzzFormat(f *testing.F) {
	for _, pat := range []string{"testdata/*.input", "../parser/testdata/valid/*.nudge"} {
		files, _ := filepath.Glob(pat)
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	for _, tc := range commentCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if _, diags := parser.ParseFile("fuzz.nudge", src); diags.HasErrors() {
			return
		}
		checkRoundTrip(t, "fuzz.nudge", src, maxWidth)
		checkRoundTrip(t, "fuzz.nudge", src, 1)
	})
}
