package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/repl/engine"
	"nudge/runtime"
	"nudge/runtime/serve"
)

// TestServiceQuery: nudge serve's POST /v1/query, evaluated by
// ServiceQuery over real HTTP and a real database: count and the first
// rows of a condition at the service's now; a typo is a 400 naming it;
// the rules are the running program's (a broken or changed file on disk
// counts only once reloaded); nothing is written.
func TestServiceQuery(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := runtime.Open(ctx, filepath.Join(dir, "t.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	members := filepath.Join(dir, "members.csv")
	os.WriteFile(members, []byte("member_id,brand,name\nm1,acme,Ann\nm2,acme,Bo\nm3,acme,Cy\n"), 0o644)
	if _, err := db.Import(ctx, "members", []string{members}); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.nudge")
	os.WriteFile(rules, []byte("brand \"acme\"\nimport \"crm\"\n\nsegment visitors = visited in last 1 day\n"), 0o644)
	s, err := serve.New(ctx, serve.Config{DB: db, Paths: []string{rules}, Query: engine.ServiceQuery(db), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	addr, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- s.Serve(sctx, "127.0.0.1:0", func(a net.Addr) { addr <- a }) }()
	url := "http://" + (<-addr).String()
	defer func() { cancel(); <-done }()
	post := func(path, body string) (int, map[string]any) {
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
		return resp.StatusCode, m
	}
	post("/v1/events", `{"member_id":"m2","type":"visited","store":"B"}`+"\n"+`{"member_id":"m3","type":"visited","store":"C"}`)
	for _, cond := range []string{"visited in last 1 day", "visitors"} {
		code, ans := post("/v1/query", `{"condition": "`+cond+`", "limit": 1}`)
		if code != 200 || ans["count"] != 2.0 || len(ans["rows"].([]any)) != 1 || ans["kind"] != "audience" {
			t.Errorf("%s: %d %v; want 2 members, 1 row", cond, code, ans)
		}
	}
	if code, ans := post("/v1/query", `{"condition": "vistied in last 1 day"}`); code != 400 || !strings.Contains(ans["error"].(string), "vistied") {
		t.Errorf("typo: %d %v; want 400 naming it", code, ans)
	}
	// The running program answers, not the files on disk: a broken file
	// (which a reload would refuse) changes nothing, and a good one counts
	// once /v1/reload has installed it.
	os.WriteFile(rules, []byte("brand \"acme\"\nimport \"crm\"\n\nsegment visitors = vistied in last 1 day\n"), 0o644)
	if code, ans := post("/v1/query", `{"condition": "visitors"}`); code != 200 || ans["count"] != 2.0 {
		t.Errorf("broken rule file on disk: %d %v; want the running rules' 2 members", code, ans)
	}
	if code, ans := post("/v1/reload", ``); code != 422 {
		t.Errorf("reload of a broken file: %d %v; want it refused", code, ans)
	}
	if code, ans := post("/v1/query", `{"condition": "visitors"}`); code != 200 || ans["count"] != 2.0 {
		t.Errorf("after a refused reload: %d %v; want the running rules' 2 members", code, ans)
	}
	os.WriteFile(rules, []byte("brand \"acme\"\nimport \"crm\"\n\nsegment at_c = visited at store \"C\" in last 1 day\n"), 0o644)
	if code, ans := post("/v1/query", `{"condition": "at_c"}`); code != 400 || !strings.Contains(ans["error"].(string), "at_c") {
		t.Errorf("a segment on disk, not reloaded: %d %v; want 400 naming it", code, ans)
	}
	if code, ans := post("/v1/reload", ``); code != 200 {
		t.Fatalf("reload: %d %v", code, ans)
	}
	if code, ans := post("/v1/query", `{"condition": "at_c"}`); code != 200 || ans["count"] != 1.0 {
		t.Errorf("the reloaded segment: %d %v; want 1 member", code, ans)
	}
	var n int64
	if err := db.SQL().QueryRow(`SELECT count(*) FROM members`).Scan(&n); err != nil || n != 3 {
		t.Errorf("members after the queries: %d (%v), want 3", n, err)
	}
}
