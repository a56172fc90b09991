// Package diag owns source positions, spans and diagnostics for the nudge
// language: the types every phase (parser, checker, compiler) uses to report
// problems, and the one renderer that prints them as text (with the source line
// and a caret span aligned by display width), JSON or GitHub annotations.
//
// It must not know about the grammar or the AST; it only knows files, offsets,
// lines and columns.
package diag

import (
	"fmt"
	"sort"
)

// Pos is a position in a source file. Line and Col are 1-based; Col counts
// runes (not bytes), so a Chinese identifier advances it by one per character.
// Offset is the 0-based byte offset. The zero Pos is "no position".
type Pos struct {
	Offset int `json:"offset"`
	Line   int `json:"line"`
	Col    int `json:"col"`
}

// IsValid reports whether p refers to a real place in a file.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Before reports whether p comes strictly before q.
func (p Pos) Before(q Pos) bool {
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Span is a half-open range [Start, End) in one file. Every AST node and every
// diagnostic carries one.
type Span struct {
	File  string `json:"file"`
	Start Pos    `json:"start"`
	End   Pos    `json:"end"`
}

// IsValid reports whether s has a start position.
func (s Span) IsValid() bool { return s.Start.IsValid() }

// Join returns the smallest span covering s and t. An invalid operand is ignored.
func (s Span) Join(t Span) Span {
	if !s.IsValid() {
		return t
	}
	if !t.IsValid() {
		return s
	}
	out := s
	if t.Start.Before(out.Start) {
		out.Start = t.Start
	}
	if out.End.Before(t.End) {
		out.End = t.End
	}
	return out
}

func (s Span) String() string {
	if s.File == "" {
		return s.Start.String()
	}
	return s.File + ":" + s.Start.String()
}

// Severity says how bad a diagnostic is.
type Severity int

// Severities, most severe first.
const (
	Error Severity = iota
	Warning
	Info
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	default:
		return "info"
	}
}

// MarshalText renders the severity as its lowercase name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found in a source file.
type Diagnostic struct {
	Span     Span
	Severity Severity
	// Code is a stable, machine-readable identifier such as "syntax",
	// "unknown-event" or "type-mismatch". Tools and tests may match on it.
	Code    string
	Message string
}

func (d Diagnostic) Error() string {
	return fmt.Sprintf("%s: %s: %s", d.Span, d.Severity, d.Message)
}

// MaxDiagnostics caps how many diagnostics a List keeps per file when rendered;
// beyond it a single "too many errors" line is printed (as cel-go and OPA do).
const MaxDiagnostics = 100

// List is a collection of diagnostics, in the spirit of go/scanner.ErrorList.
// Phases append to it and never stop at the first problem.
type List []Diagnostic

// Add appends a diagnostic.
func (l *List) Add(span Span, sev Severity, code, format string, args ...any) {
	*l = append(*l, Diagnostic{Span: span, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Errorf appends an error.
func (l *List) Errorf(span Span, code, format string, args ...any) {
	l.Add(span, Error, code, format, args...)
}

// Warnf appends a warning.
func (l *List) Warnf(span Span, code, format string, args ...any) {
	l.Add(span, Warning, code, format, args...)
}

// Sort orders diagnostics by file, position, then severity and message.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Span.File != b.Span.File {
			return a.Span.File < b.Span.File
		}
		if a.Span.Start != b.Span.Start {
			return a.Span.Start.Before(b.Span.Start)
		}
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		return a.Message < b.Message
	})
}

// Dedup sorts l and removes diagnostics identical in span, code and message,
// and keeps at most one error per line for syntax errors (go/scanner's
// RemoveMultiples), returning the shortened list.
func (l List) Dedup() List {
	l.Sort()
	out := l[:0]
	for i, d := range l {
		if i > 0 {
			p := out[len(out)-1]
			if p.Span == d.Span && p.Code == d.Code && p.Message == d.Message {
				continue
			}
			if d.Code == "syntax" && p.Code == "syntax" && p.Span.File == d.Span.File && p.Span.Start.Line == d.Span.Start.Line {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// HasErrors reports whether any diagnostic is an error (warnings do not count).
func (l List) HasErrors() bool {
	for _, d := range l {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Err returns l as an error when it holds at least one error, else nil.
func (l List) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return l
}

func (l List) Error() string {
	switch len(l) {
	case 0:
		return "no diagnostics"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more)", l[0].Error(), len(l)-1)
}
