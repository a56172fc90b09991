package diag

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func span(file string, line, col, endCol int) Span {
	return Span{File: file, Start: Pos{Line: line, Col: col}, End: Pos{Line: line, Col: endCol}}
}

// longLine is a condition of 40 stores on one line, 970 runes.
var longLine = []rune("  if " + strings.Repeat(`visited at store "S" or `, 40) + "queud")

func TestRenderTextCarets(t *testing.T) {
	src := Sources{
		"a.nudge":    []byte("import \"crm\"\n  if queud at store \"A\"\n"),
		"zh.nudge":   []byte("segment 长沙会员 = member.citty = \"长沙\"\n"),
		"tab.nudge":  []byte("\tif queud\n"),
		"long.nudge": []byte(string(longLine) + "\n"),
	}
	tests := []struct {
		name string
		d    Diagnostic
		want string
	}{
		{
			name: "ascii",
			d:    Diagnostic{Span: span("a.nudge", 2, 6, 11), Severity: Error, Code: "unknown-event", Message: `unknown event type "queud"`},
			want: "a.nudge:2:6: error: unknown event type \"queud\"\n  if queud at store \"A\"\n     ^^^^^\n",
		},
		{
			// 长沙会员 is four wide runes (8 cells): the caret under member.citty
			// must start after them, at display column 8+11.
			name: "wide runes before the span",
			d:    Diagnostic{Span: span("zh.nudge", 1, 16, 28), Severity: Error, Code: "unknown-member-field", Message: "x"},
			want: "zh.nudge:1:16: error: x\nsegment 长沙会员 = member.citty = \"长沙\"\n" + strings.Repeat(" ", 19) + strings.Repeat("^", 12) + "\n",
		},
		{
			name: "wide runes inside the span",
			d:    Diagnostic{Span: span("zh.nudge", 1, 9, 13), Severity: Warning, Code: "w", Message: "y"},
			want: "zh.nudge:1:9: warning: y\nsegment 长沙会员 = member.citty = \"长沙\"\n" + strings.Repeat(" ", 8) + strings.Repeat("^", 8) + "\n",
		},
		{
			name: "tabs are kept",
			d:    Diagnostic{Span: span("tab.nudge", 1, 5, 10), Severity: Error, Code: "c", Message: "z"},
			want: "tab.nudge:1:5: error: z\n\tif queud\n\t   ^^^^^\n",
		},
		{
			// A line of 970 runes: an excerpt of 160 around the span (40
			// before it, unless the line ends first), … where it was cut.
			name: "a long line is shown around the span",
			d:    Diagnostic{Span: span("long.nudge", 1, 966, 971), Severity: Error, Code: "unknown-event", Message: "u"},
			want: "long.nudge:1:966: error: u\n…" + string(longLine[810:]) + "\n" + strings.Repeat(" ", 156) + "^^^^^\n",
		},
		{
			name: "a long line's start",
			d:    Diagnostic{Span: span("long.nudge", 1, 6, 13), Severity: Error, Code: "c", Message: "v"},
			want: "long.nudge:1:6: error: v\n" + string(longLine[:160]) + "…\n" + strings.Repeat(" ", 5) + "^^^^^^^\n",
		},
		{
			name: "no source: header only",
			d:    Diagnostic{Span: span("missing.nudge", 3, 1, 2), Severity: Error, Code: "c", Message: "m"},
			want: "missing.nudge:3:1: error: m\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			RenderText(&b, List{tt.d}, src)
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestListSortDedupErr(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("empty list must have nil Err")
	}
	l.Warnf(span("b.nudge", 1, 1, 2), "w", "warn")
	l.Errorf(span("a.nudge", 5, 1, 2), "syntax", "second on line")
	l.Errorf(span("a.nudge", 5, 1, 2), "syntax", "second on line")
	l.Errorf(span("a.nudge", 2, 3, 4), "c", "early")
	l.Errorf(span("a.nudge", 5, 7, 8), "syntax", "third on line")
	l = l.Dedup()
	var got []string
	for _, d := range l {
		got = append(got, d.Span.String()+" "+d.Message)
	}
	want := []string{"a.nudge:2:3 early", "a.nudge:5:1 second on line", "b.nudge:1:1 warn"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !l.HasErrors() || l.Err() == nil {
		t.Fatal("errors expected")
	}
	if (List{{Severity: Warning}}).HasErrors() {
		t.Fatal("a warning is not an error")
	}
}

func TestRenderJSONAndGitHub(t *testing.T) {
	l := List{{Span: span("r, 1.nudge", 4, 6, 11), Severity: Error, Code: "unknown-event", Message: "bad\nthing 100%"}}
	var b bytes.Buffer
	if err := RenderJSON(&b, l); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"file": "r, 1.nudge", "line": 4.0, "col": 6.0, "end_line": 4.0, "end_col": 11.0, "severity": "error", "code": "unknown-event", "message": "bad\nthing 100%"}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	b.Reset()
	RenderJSON(&b, nil)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty list renders %q, want []", b.String())
	}
	b.Reset()
	RenderGitHub(&b, l)
	wantGH := "::error file=r%2C 1.nudge,line=4,col=6,endLine=4,endColumn=11,title=unknown-event::bad%0Athing 100%25\n"
	if b.String() != wantGH {
		t.Errorf("got %q, want %q", b.String(), wantGH)
	}
}
