package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"nudge/compiler"
	"nudge/runtime/why"
)

// why runs `:why MEMBER [RULE]`: the explanation of `nudge why` for the
// loaded and session rules at now.
func (e *Engine) why(ctx context.Context, arg string) (*Result, error) {
	fields := strings.Fields(arg)
	if len(fields) == 0 || len(fields) > 2 {
		return &Result{Kind: Text, Text: "usage: :why MEMBER [RULE]"}, nil
	}
	if len(fields) == 2 {
		for _, j := range e.prog.Info.Journeys {
			if j.Decl.Name.Name == fields[1] {
				return &Result{Kind: Text, Text: fmt.Sprintf("%s is a journey: :journeys %s %s shows where the member stands in it and why", fields[1], fields[0], fields[1])}, nil
			}
		}
	}
	if len(e.prog.Info.Rules) == 0 {
		msg := "no rules to explain: type a rule (rule NAME if CONDITION then ACTION) or :load a file"
		if len(e.prog.Info.Journeys) > 0 {
			msg = fmt.Sprintf("no rules to explain; :journeys %s shows where the member stands in each journey", fields[0])
		}
		return &Result{Kind: Text, Text: msg}, nil
	}
	prog, diags := compiler.Compile(e.prog.Info)
	exps, wdiags := compiler.Why(e.prog.Info)
	diags = append(diags, wdiags...)
	if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(diags.Dedup(), e.prog, "")}, nil
	}
	opts := why.Options{Now: e.evalNow(), Brand: e.opts.Brand, Lookback: e.lookback}
	if len(fields) == 2 {
		opts.Rule = fields[1]
	}
	db, err := e.database(ctx, true) // a dry run: it writes in a transaction it rolls back
	if err != nil {
		return nil, err
	}
	reps, err := why.Explain(ctx, db, prog, exps, fields[:1], opts)
	if err != nil {
		return explainError(ctx, "why", err)
	}
	var b strings.Builder
	for _, r := range reps {
		r.WriteText(&b)
	}
	return &Result{Kind: Text, Text: strings.TrimRight(b.String(), "\n")}, nil
}

// explainError is the answer to a failed :why or :journeys (cmd names it).
// A cancelled one (Ctrl-C) is an error wrapping the context's, which front
// ends report as "cancelled", not the chain of steps the dry run was in;
// anything else (no such rule, ...) is a message to read.
func explainError(ctx context.Context, cmd string, err error) (*Result, error) {
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("%s: %w", cmd, cerr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return &Result{Kind: Text, Text: fmt.Sprintf("%s: %v", cmd, err)}, nil
}
