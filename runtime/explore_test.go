package runtime

import (
	"context"
	"os"
	"testing"

	"nudge/runtime/demodata"
)

func TestMakeBenchDB(t *testing.T) {
	p := os.Getenv("MAKE_BENCH_DB")
	if p == "" {
		return
	}
	ctx := context.Background()
	db, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: 50000, Seed: 1})
	t.Log(st, err)
}
