package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nudge/compiler"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestTickGolden runs a program touching every status over a few ticks and
// compares the `run --output jsonl` lines with testdata/ticks.golden.jsonl.
func TestTickGolden(t *testing.T) {
	t.Parallel()
	members := `member_id,brand,tier,consent_sms,consent_wechat,consent_app_push
m1,acme,gold,true,true,true
m2,acme,gold,false,true,true
m3,acme,silver,true,,true
m4,acme,gold,true,true,true
m5,acme,gold,true,true,false
`
	events := `member_id,brand,type,ts,store
m1,acme,queued,2024-11-11 09:00,A
m3,acme,queued,2024-11-11 10:00,A
m4,acme,queued,2024-11-11 21:00,A
m5,acme,queued,2024-11-12 07:00,A
`
	db := fixture(t, members, events)
	trig := sendRule("store_a", queuedAtA, true, "sms")
	trig.Priority = 5
	trig.Actions = append(trig.Actions, compiler.Action{Verb: "tag", Content: "queued-a"})
	gold := sendRule("gold_push", goldMembers, false, "app_push")
	gold.Holdout = 30
	gold.Limit = &compiler.Limit{Every: 24 * time.Hour}
	goldSMS := sendRule("gold_sms", goldMembers, false, "sms")
	goldSMS.Actions = append(goldSMS.Actions, compiler.Action{Verb: "notify", Content: "crm"})
	prog := &compiler.Program{
		Brand: "acme",
		Rules: []*compiler.Rule{trig, gold, goldSMS},
		Caps:  []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}},
		Quiet: []compiler.Quiet{{From: 22 * 60, To: 8 * 60}},
	}
	var out bytes.Buffer
	for _, now := range []string{"2024-11-11 12:00", "2024-11-11 23:00", "2024-11-12 12:30"} {
		res, err := db.Run(context.Background(), prog, RunOptions{Now: ts(now)})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "# tick %s\n", now)
		for _, d := range res.Decisions {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			out.Write(b)
			out.WriteByte('\n')
		}
	}
	golden := filepath.Join("testdata", "ticks.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("decisions differ from %s (rerun with -update after checking):\n%s", golden, out.String())
	}
}
