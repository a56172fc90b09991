package stdlib_test

import (
	"bytes"
	"strings"
	"testing"

	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/stdlib"
)

// TestModulesParseAndCheck: a diagnostic in an embedded module is a bug.
func TestModulesParseAndCheck(t *testing.T) {
	mods := stdlib.Modules()
	if len(mods) == 0 {
		t.Fatal("no embedded modules")
	}
	for _, name := range mods {
		t.Run(name, func(t *testing.T) {
			f, diags, ok := stdlib.ParseModule(name)
			if !ok {
				t.Fatalf("module %q listed but not found", name)
			}
			file, src, _ := stdlib.ModuleSource(name)
			if len(diags) > 0 {
				var buf bytes.Buffer
				diag.RenderText(&buf, diags, diag.Sources{file: src})
				t.Fatalf("syntax errors in embedded module:\n%s", buf.String())
			}
			// Checked as the import of an otherwise empty program.
			imp := &ast.File{Name: "main.nudge", Decls: []ast.Decl{&ast.ImportDecl{Path: &ast.StringLit{Value: name}}}}
			info, diags := check.Check([]*ast.File{imp}, stdlib.Env())
			if len(diags) > 0 {
				var buf bytes.Buffer
				diag.RenderText(&buf, diags, diag.Sources{file: src})
				t.Fatalf("check errors in embedded module:\n%s", buf.String())
			}
			// Every segment has a title and a comment above it.
			lines := strings.Split(string(src), "\n")
			for _, d := range f.Decls {
				seg, ok := d.(*ast.SegmentDecl)
				if !ok {
					continue
				}
				if seg.Title == nil || seg.Title.Value == "" {
					t.Errorf("segment %s has no title", seg.Name.Name)
				}
				if l := seg.Span.Start.Line; l < 2 || !strings.HasPrefix(strings.TrimSpace(lines[l-2]), "#") {
					t.Errorf("segment %s has no comment above it", seg.Name.Name)
				}
				if s := info.Segments[seg.Name.Name]; s == nil || s.Span != seg.Span {
					t.Errorf("segment %s missing from Info.Segments", seg.Name.Name)
				}
			}
		})
	}
}

// TestCRMDeclares checks the SPEC §6 minimum of module crm.
func TestCRMDeclares(t *testing.T) {
	imp := &ast.File{Name: "main.nudge", Decls: []ast.Decl{&ast.ImportDecl{Path: &ast.StringLit{Value: "crm"}}}}
	info, diags := check.Check([]*ast.File{imp}, stdlib.Env())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, ev := range []string{"queued", "booked", "visited", "purchased", "order_placed", "paid", "refunded",
		"browsed", "carted", "favorited", "message_opened", "message_clicked"} {
		if info.Events[ev] == nil {
			t.Errorf("crm does not declare event %q", ev)
		}
	}
	for _, s := range []string{"dormant", "one_time_buyer", "new_member", "high_value", "active_buyer", "rfm_champions", "rfm_at_risk"} {
		if info.Segments[s] == nil {
			t.Errorf("crm does not declare segment %q", s)
		}
	}
	fields := []struct{ event, field string }{
		{"booked", "party_size"}, {"browsed", "page"}, {"queued", "party_size"}, {"purchased", "amount"}, {"paid", "order_id"},
	}
	for _, f := range fields {
		if info.Events[f.event] == nil || info.Events[f.event].Fields[f.field] == nil {
			t.Errorf("event %s has no field %s", f.event, f.field)
		}
	}
}

func TestEnv(t *testing.T) {
	env := stdlib.Env()
	for _, fn := range []string{"birthday_in", "days_since", "hours_since", "age", "rfm_r", "rfm_f", "rfm_m", "spend_percentile"} {
		f := env.Functions[fn]
		if f == nil {
			t.Errorf("function %s missing", fn)
			continue
		}
		if f.Name != fn || f.SQL == "" || f.Doc == "" {
			t.Errorf("function %s incomplete: %+v", fn, f)
		}
		if !strings.Contains(stdlib.MacrosSQL, "MACRO "+strings.SplitN(f.SQL, "(", 2)[0]+"(") {
			t.Errorf("function %s calls %s, which macros.sql does not define", fn, f.SQL)
		}
	}
	if _, ok := env.Import("nope"); ok {
		t.Error("Import accepted an unknown module")
	}
	if _, ok := env.Import("../modules/crm"); ok {
		t.Error("Import accepted a path")
	}
	f1, ok1 := env.Import("crm")
	f2, ok2 := env.Import("crm")
	if !ok1 || !ok2 || f1 != f2 {
		t.Error("Import does not return the same parsed module twice")
	}
	want := []string{"sms", "email", "app_push", "wechat", "phone"}
	if strings.Join(env.Channels, " ") != strings.Join(want, " ") {
		t.Errorf("channels = %v, want %v", env.Channels, want)
	}
	if src, ok := env.SourceOf("stdlib/crm.nudge"); !ok || !bytes.Contains(src, []byte("segment dormant")) {
		t.Error("SourceOf does not serve stdlib/crm.nudge")
	}
	for _, stmt := range []string{"CREATE TABLE IF NOT EXISTS members", "CREATE TABLE IF NOT EXISTS events"} {
		if !strings.Contains(stdlib.SchemaSQL, stmt) {
			t.Errorf("SchemaSQL lacks %q", stmt)
		}
	}
}
