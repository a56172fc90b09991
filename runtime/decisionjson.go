package runtime

import (
	"bufio"
	"encoding/json"
	"io"
)

// DecisionWriter writes decisions as `run --output jsonl` lines (SPEC §7),
// one JSON object per line, through a buffer: call Flush at the end.
type DecisionWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewDecisionWriter returns a DecisionWriter writing to w.
func NewDecisionWriter(w io.Writer) *DecisionWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &DecisionWriter{w: bw, enc: json.NewEncoder(bw)}
}

// Write writes one decision line.
func (dw *DecisionWriter) Write(d *Decision) error {
	return dw.enc.Encode(d)
}

// Flush writes out what is buffered.
func (dw *DecisionWriter) Flush() error { return dw.w.Flush() }
