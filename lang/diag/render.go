package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// Sources gives the text of a file by name, so the renderer can print the
// offending line. A missing file just omits the snippet.
type Sources map[string][]byte

// RenderText writes diagnostics in the compiler style of SPEC §7:
//
//	rules/store.nudge:4:6: error: unknown event type "queud"; did you mean "queued"?
//	  if queud at store "A"
//	     ^^^^^
//
// The caret line is aligned by display width (East Asian wide runes take two
// cells, tabs are kept as tabs) so it stays under the right text in Chinese.
func RenderText(w io.Writer, l List, src Sources) {
	shown := 0
	for _, d := range l {
		if shown == MaxDiagnostics {
			fmt.Fprintf(w, "too many diagnostics (%d more not shown)\n", len(l)-shown)
			return
		}
		shown++
		if !d.Span.Start.IsValid() {
			// About a whole file (one that cannot be read as a rule file).
			fmt.Fprintf(w, "%s: %s: %s\n", d.Span.File, d.Severity, d.Message)
			continue
		}
		fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", d.Span.File, d.Span.Start.Line, d.Span.Start.Col, d.Severity, d.Message)
		line, ok := sourceLine(src[d.Span.File], d.Span.Start.Line)
		if !ok {
			continue
		}
		line, sp := excerpt(line, d.Span)
		fmt.Fprintf(w, "%s\n%s\n", line, caretLine(line, sp))
	}
}

// A source line longer than maxShownRunes is shown as an excerpt of that
// many runes around the span's start, with … where it was cut (and the
// carets no longer than the excerpt): a condition of hundreds of stores on
// one line, or a pasted 40 KB input in the REPL, was printed whole, twice
// with its carets.
const (
	maxShownRunes = 160
	shownBefore   = 40 // runes of the excerpt before the span's start
)

// excerpt returns the part of line to show for span s, and s in its
// columns.
func excerpt(line string, s Span) (string, Span) {
	runes := []rune(line)
	if len(runes) <= maxShownRunes {
		return line, s
	}
	start := min(max(s.Start.Col-1-shownBefore, 0), len(runes)-maxShownRunes)
	end := start + maxShownRunes
	out := string(runes[start:end])
	shift := start
	if start > 0 {
		out = "…" + out
		shift-- // the … takes a column
	}
	if end < len(runes) {
		out += "…"
	}
	s.Start.Col -= shift
	if s.End.IsValid() && s.End.Line == s.Start.Line {
		s.End.Col = min(s.End.Col-shift, len([]rune(out))+1)
	}
	return out, s
}

// sourceLine returns line n (1-based) of text without its newline.
func sourceLine(text []byte, n int) (string, bool) {
	if text == nil || n < 1 {
		return "", false
	}
	lines := strings.Split(string(text), "\n")
	if n > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[n-1], "\r"), true
}

// caretLine builds the "   ^^^^" line under line for span s. Columns are rune
// based; widths come from go-runewidth.
func caretLine(line string, s Span) string {
	runes := []rune(line)
	startCol := s.Start.Col - 1
	if startCol < 0 {
		startCol = 0
	}
	if startCol > len(runes) {
		startCol = len(runes)
	}
	endCol := len(runes)
	if s.End.IsValid() && s.End.Line == s.Start.Line {
		endCol = s.End.Col - 1
	}
	if endCol > len(runes) {
		endCol = len(runes)
	}
	var b strings.Builder
	for _, r := range runes[:startCol] {
		if r == '\t' {
			b.WriteByte('\t')
			continue
		}
		b.WriteString(strings.Repeat(" ", runewidth.RuneWidth(r)))
	}
	width := 0
	for _, r := range runes[startCol:endCol] {
		width += max(runewidth.RuneWidth(r), 1)
	}
	if width < 1 {
		width = 1
	}
	b.WriteString(strings.Repeat("^", width))
	return b.String()
}

// jsonDiagnostic is the SPEC §7 JSON shape.
type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	EndLine  int    `json:"end_line"`
	EndCol   int    `json:"end_col"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// RenderJSON writes diagnostics as one JSON array of
// {file,line,col,end_line,end_col,severity,code,message}; an empty list is "[]".
func RenderJSON(w io.Writer, l List) error {
	out := make([]jsonDiagnostic, 0, len(l))
	for _, d := range l {
		end := d.Span.End
		if !end.IsValid() {
			end = d.Span.Start
		}
		out = append(out, jsonDiagnostic{
			File: d.Span.File, Line: d.Span.Start.Line, Col: d.Span.Start.Col,
			EndLine: end.Line, EndCol: end.Col,
			Severity: d.Severity.String(), Code: d.Code, Message: d.Message,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// RenderGitHub writes GitHub Actions workflow commands, one per diagnostic:
// ::error file=F,line=L,col=C,endLine=..,endColumn=..,title=CODE::message
func RenderGitHub(w io.Writer, l List) {
	for _, d := range l {
		level := "error"
		switch d.Severity {
		case Warning:
			level = "warning"
		case Info:
			level = "notice"
		}
		end := d.Span.End
		if !end.IsValid() {
			end = d.Span.Start
		}
		fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d,endLine=%d,endColumn=%d,title=%s::%s\n",
			level, ghEscapeProp(d.Span.File), d.Span.Start.Line, d.Span.Start.Col, end.Line, end.Col,
			ghEscapeProp(d.Code), ghEscapeData(d.Message))
	}
}

func ghEscapeData(s string) string {
	r := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	return r.Replace(s)
}

func ghEscapeProp(s string) string {
	r := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
	return r.Replace(s)
}
