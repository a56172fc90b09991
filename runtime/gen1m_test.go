package runtime

import (
	"context"
	"os"
	"strconv"
	"testing"

	"nudge/runtime/demodata"
)

// TestGenerateBenchDB writes a demo database for the benchmarks when
// NUDGE_GEN_BENCH_DB names the file (NUDGE_GEN_MEMBERS members, default 1M);
// without it the test does nothing.
func TestGenerateBenchDB(t *testing.T) {
	path := os.Getenv("NUDGE_GEN_BENCH_DB")
	if path == "" {
		return
	}
	n := 1_000_000
	if s := os.Getenv("NUDGE_GEN_MEMBERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: n, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d members, %d events in %v", st.Members, st.Events, st.Elapsed)
}
