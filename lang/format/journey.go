package format

import (
	"sort"
	"strings"

	"nudge/lang/ast"
)

// journeyLines lays out a journey (SPEC §8):
//
//	journey name "Title"
//	  enter on <condition>
//	  exit when <condition>
//	  <options>
//	  <steps, nested two spaces deeper inside if/else and split branches>
//	end
//
// Header lines stay in their source order (the language allows any): moving
// one would move its comments out of order with the others. Conditions stay
// on one line.
func journeyLines(j *ast.JourneyDecl) []*line {
	head := "journey " + j.Name.Name
	if j.Title != nil {
		head += " " + quote(j.Title.Value)
	}
	out := []*line{newLine("", head, j).upTo(nameEnd(j.Name, j.Title))}
	var headers []*line
	for _, e := range j.Enters {
		kw := "enter when "
		if e.On {
			kw = "enter on "
		}
		headers = append(headers, newLine("  ", kw+expr(e.Cond), e))
	}
	for _, e := range j.Exits {
		headers = append(headers, newLine("  ", "exit when "+expr(e.Cond), e))
	}
	for _, o := range j.Options {
		headers = append(headers, newLine("  ", option(o), o))
	}
	sort.SliceStable(headers, func(a, b int) bool { return headers[a].start < headers[b].start })
	out = append(out, headers...)
	out = append(out, stepLines("  ", j.Steps)...)
	return append(out, endLine("", j))
}

// endLine is the `end` closing n, the last word of n's span.
func endLine(indent string, n ast.Node) *line {
	s := n.Pos().End
	return &line{indent: indent, text: "end", start: s.Offset - len("end"), end: s.Offset, startLn: s.Line}
}

func stepLines(indent string, ss []ast.Step) []*line {
	var out []*line
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.ActionStep:
			acts := make([]string, len(s.Actions))
			for i, a := range s.Actions {
				acts[i] = action(a)
			}
			out = append(out, newLine(indent, strings.Join(acts, " and "), s))
		case *ast.WaitStep:
			out = append(out, newLine(indent, "wait "+duration(s.Dur), s))
		case *ast.WaitUntilStep:
			text := "wait until "
			switch {
			case s.At != nil:
				text += date(s.At)
			default:
				text += expr(s.Cond)
				if s.AtMost != nil {
					text += " for at most " + duration(s.AtMost)
				}
			}
			out = append(out, newLine(indent, text, s))
		case *ast.IfStep:
			out = append(out, newLine(indent, "if "+expr(s.Cond), s).upTo(s.Cond))
			out = append(out, stepLines(indent+"  ", s.Then)...)
			if s.ElseAt != nil {
				out = append(out, newLine(indent, "else", s.ElseAt))
				out = append(out, stepLines(indent+"  ", s.Else)...)
			}
			out = append(out, endLine(indent, s))
		case *ast.SplitStep:
			l := newLine(indent, "split", s)
			l.end = l.start + len("split")
			out = append(out, l)
			for _, b := range s.Branches {
				out = append(out, newLine(indent+"  ", b.Percent.Text+"% "+b.Name.Name, b).upTo(b.Name))
				out = append(out, stepLines(indent+"    ", b.Steps)...)
			}
			out = append(out, endLine(indent, s))
		}
	}
	return out
}
