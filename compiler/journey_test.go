package compiler

import (
	"fmt"
	"strings"
	"testing"

	"nudge/lang"
	"nudge/stdlib"
)

func compileJourneySource(t *testing.T, src string) *Program {
	t.Helper()
	p, diags := lang.LoadSources([]lang.Source{{Name: "j.nudge", Src: []byte(src)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatalf("%v", diags)
	}
	prog, diags := Compile(p.Info)
	if diags.HasErrors() {
		t.Fatalf("compile: %v", diags)
	}
	return prog
}

// TestJourneyNodes checks how steps flatten into nodes: the if's else
// target, the jump over the else, the split's branch starts and the jumps
// to the end of the split.
func TestJourneyNodes(t *testing.T) {
	prog := compileJourneySource(t, `import "crm"
journey j
  enter on order_placed
  exit when paid matching order_id
  send reminder "A" via sms
  wait 1 hour
  if paid
    tag "paid"
  else
    split
      30% x
        send reminder "X" via sms
      70% y
        wait until 2024-11-11 10:00
    end
  end
  wait until purchased for at most 2 days
end
`)
	if len(prog.Journeys) != 1 {
		t.Fatalf("%d journeys", len(prog.Journeys))
	}
	var got []string
	for i, n := range prog.Journeys[0].Nodes {
		s := []string{"actions", "wait", "waitAt", "waitUntil", "if", "jump", "split", "winner", "end"}[n.Kind]
		switch n.Kind {
		case StepIf, StepJump:
			s += "->" + fmt.Sprint(n.Target)
		case StepSplit:
			for _, b := range n.Branches {
				s += " " + b.Name + "@" + fmt.Sprint(b.Start)
			}
		}
		got = append(got, fmt.Sprint(i)+":"+s)
	}
	want := "0:actions 1:wait 2:if->5 3:actions 4:jump->10 5:split x@6 y@8 6:actions 7:jump->10 8:waitAt 9:jump->10 10:waitUntil 11:end"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("nodes:\n got %s\nwant %s", g, want)
	}
	j := prog.Journeys[0]
	if !j.EnterOn || j.Limit != nil || j.Exit == "" || len(j.ExitEvents) != 1 || j.ExitEvents[0] != "paid" {
		t.Errorf("journey header: on %v limit %v exit %q events %v", j.EnterOn, j.Limit, j.Exit, j.ExitEvents)
	}
	if !strings.Contains(j.Exit, "ji.entered_at") || !strings.Contains(j.Exit, "q.seq = ji.entry_seq") {
		t.Errorf("exit is not since entry and matching:\n%s", j.Exit)
	}
	text, ok := Explain(prog, "j")
	if !ok || !strings.Contains(text, "-- journey j (enter on)") || !strings.Contains(text, "-- exit when") ||
		!strings.Contains(text, "-- if, line 7") || !strings.Contains(text, "-- wait until, line 17") {
		t.Errorf("explain:\n%s", text)
	}
}

// TestJourneyEnterWhenLimit: `enter when` defaults to once per member
// ever, `limit ... every D` sets the period.
func TestJourneyEnterWhenLimit(t *testing.T) {
	prog := compileJourneySource(t, `import "crm"
journey a
  enter when member.tier = "gold"
  tag "a"
end
journey b
  enter when member.tier = "gold"
  limit once per member every 30 days
  tag "b"
end
`)
	if l := prog.Journeys[0].Limit; l == nil || l.Every != 0 {
		t.Errorf("a: limit %v, want once ever", l)
	}
	if l := prog.Journeys[1].Limit; l == nil || l.Every.Hours() != 30*24 {
		t.Errorf("b: limit %v, want 30 days", l)
	}
}

// TestJourneyWinnerNode: `send winner` compiles to a winner node whose
// options are the other branches' first send steps (nested ones
// included, branches without a send skipped), in source order, each with
// its line, action and parameters; the journey's conversion ranks them.
func TestJourneyWinnerNode(t *testing.T) {
	prog := compileJourneySource(t, `import "crm"
journey j
  enter on order_placed
  convert on paid within 2 days
  split
    10% a
      wait 1 hour
      send reminder "A" via sms with order = order_id
    10% silent
      tag "silent"
    10% b
      if member.tier = "gold"
        send reminder "B" via wechat
      end
    70% rest
      wait 1 day
      send winner
  end
end
`)
	j := prog.Journeys[0]
	var w *StepNode
	for i := range j.Nodes {
		if j.Nodes[i].Kind == StepWinner {
			w = &j.Nodes[i]
		}
	}
	if w == nil || w.Line != 17 {
		t.Fatalf("no winner node at line 17: %+v", j.Nodes)
	}
	var got []string
	for _, o := range w.Winners {
		got = append(got, fmt.Sprintf("%s@%d:%s/%s", o.Branch, o.Line, o.Action.Content, o.Action.Channel))
	}
	if g := strings.Join(got, " "); g != "a@8:A/sms b@13:B/wechat" {
		t.Errorf("winner options %s", g)
	}
	if !strings.Contains(w.Winners[0].Params, "ji.entry_seq") || w.Winners[1].Params != "" {
		t.Errorf("winner params: %q, %q", w.Winners[0].Params, w.Winners[1].Params)
	}
	if j.Convert == nil || j.Convert.EventType != "paid" {
		t.Errorf("conversion %+v, want paid", j.Convert)
	}
}
