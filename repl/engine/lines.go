package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RunLines is line mode, used when stdin is not a terminal: it reads one
// input per line (a line ending with `\` continues on the next one), evaluates
// it and prints the result as plain text: messages as they are, tables as
// aligned columns under a summary line, errors as "error: ...". It stops at
// end of input, `:quit`, or when ctx is cancelled; an evaluation error does
// not stop it. Only reading and writing failures are returned. Results in
// preface (such as what loading the rule files said) are printed first.
func RunLines(ctx context.Context, in io.Reader, out io.Writer, e *Engine, preface ...*Result) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var pending []string
	pr := &printer{out: out}
	for _, r := range preface {
		if err := pr.print(r); err != nil {
			return err
		}
	}
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return nil
		}
		line := strings.TrimRight(sc.Text(), "\r")
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			pending = append(pending, rest)
			continue
		}
		pending = append(pending, line)
		input := strings.Join(pending, "\n")
		pending = nil
		quit, err := pr.evalAndPrint(ctx, e, input)
		if err != nil {
			return err
		}
		if quit {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	if len(pending) > 0 {
		if _, err := pr.evalAndPrint(ctx, e, strings.Join(pending, "\n")); err != nil {
			return err
		}
	}
	return nil
}

// printer writes results separated by blank lines.
type printer struct {
	out     io.Writer
	printed bool
}

func (p *printer) sep() error {
	if !p.printed {
		p.printed = true
		return nil
	}
	_, err := io.WriteString(p.out, "\n")
	return err
}

// evalAndPrint evaluates one input and prints its result; it returns true
// when the input asked to quit. Only write errors are returned.
func (p *printer) evalAndPrint(ctx context.Context, e *Engine, input string) (bool, error) {
	if strings.TrimSpace(input) == "" {
		return false, nil
	}
	res, err := e.Eval(ctx, input)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("cancelled")
		}
		if werr := p.sep(); werr != nil {
			return false, werr
		}
		_, werr := fmt.Fprintf(p.out, "error: %v\n", err)
		return false, werr
	}
	if res == nil {
		return false, nil
	}
	return res.Quit, p.print(res)
}

// print writes one result after a separating blank line; empty results
// print nothing.
func (p *printer) print(res *Result) error {
	if res == nil || (res.Kind == Text && res.Text == "" && res.Warnings == "") {
		return nil
	}
	if err := p.sep(); err != nil {
		return err
	}
	if err := res.Write(p.out); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
