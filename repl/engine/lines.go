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
// not stop it. Only reading and writing failures are returned.
func RunLines(ctx context.Context, in io.Reader, out io.Writer, e *Engine) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var pending []string
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
		quit, err := evalAndPrint(ctx, out, e, input)
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
		if _, err := evalAndPrint(ctx, out, e, strings.Join(pending, "\n")); err != nil {
			return err
		}
	}
	return nil
}

// evalAndPrint evaluates one input and prints its result; it returns true
// when the input asked to quit. Only write errors are returned.
func evalAndPrint(ctx context.Context, out io.Writer, e *Engine, input string) (bool, error) {
	if strings.TrimSpace(input) == "" {
		return false, nil
	}
	res, err := e.Eval(ctx, input)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("cancelled")
		}
		_, werr := fmt.Fprintf(out, "error: %v\n", err)
		return false, werr
	}
	if res == nil {
		return false, nil
	}
	if err := res.Write(out); err != nil {
		return false, fmt.Errorf("write output: %w", err)
	}
	return res.Quit, nil
}
