package ruletest

import (
	"context"
	"io"
	"time"

	"nudge/compiler"
	"nudge/lang/check"
	nrt "nudge/runtime"
)

// Coverage records which rules were named by an expectation and which
// branches of each rule's condition were true for some member at some tick.
type Coverage struct{}

func newCoverage(info *check.Info, prog *compiler.Program) (*Coverage, error) {
	return &Coverage{}, nil
}

func (c *Coverage) observe(ctx context.Context, db *nrt.DB, brand string, now time.Time, lookback time.Duration) error {
	return nil
}

// CoverageReport is the coverage of one suite, for printing.
type CoverageReport struct{}

// Report summarises the coverage.
func (c *Coverage) Report() *CoverageReport { return &CoverageReport{} }

// WriteText prints the report.
func (r *CoverageReport) WriteText(w io.Writer) {}
