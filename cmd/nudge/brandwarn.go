package main

import (
	"context"
	"fmt"

	nrt "nudge/runtime"
)

// warnBrand prints a warning on stderr when the brand the rules name
// (fileBrand), else --brand (optBrand), has no members in db: the command
// then decides or reports nothing, which would otherwise pass silently.
func warnBrand(ctx context.Context, s *streams, db *nrt.DB, fileBrand, optBrand string) error {
	brand := fileBrand
	if brand == "" {
		brand = optBrand
	}
	w, err := db.BrandWarning(ctx, brand)
	if err != nil {
		return problemError("%v", err)
	}
	printWarning(s, w)
	return nil
}

// printWarning prints a non-empty warning on stderr.
func printWarning(s *streams, w string) {
	if w != "" {
		fmt.Fprintf(s.err, "nudge: warning: %s\n", w)
	}
}
