package serve

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// memberRows reads every member of the service's database, one line per
// member (brand, id, then each column as text, NULL as "-"), in key order.
func (sv *service) memberRows() []string {
	sv.t.Helper()
	rows, err := sv.db.SQL().Query(`SELECT brand, member_id, coalesce(name, '-'), coalesce(city, '-'), coalesce(tier, '-'),
		coalesce(CAST(birthday AS VARCHAR), '-'), coalesce(CAST(consent_sms AS VARCHAR), '-'), coalesce(CAST(attrs AS VARCHAR), '-')
		FROM members ORDER BY brand, member_id`)
	if err != nil {
		sv.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		v := make([]string, 8)
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			sv.t.Fatal(err)
		}
		out = append(out, strings.Join(v, " | "))
	}
	if err := rows.Err(); err != nil {
		sv.t.Fatal(err)
	}
	return out
}

// member reads one column of an acme member as text ("-" for NULL).
func (sv *service) member(id, col string) string {
	sv.t.Helper()
	var v sql.NullString
	if err := sv.db.SQL().QueryRow(fmt.Sprintf(`SELECT CAST(%s AS VARCHAR) FROM members WHERE brand = 'acme' AND member_id = $1`, col), id).Scan(&v); err != nil {
		sv.t.Fatalf("member %s: %v", id, err)
	}
	if !v.Valid {
		return "-"
	}
	return v.String
}

// TestMemberBatchKeepsLeftOutFields: a member batch updates only the
// fields each row gives. Two identify rows of one member in one batch both
// count (the first's tier was lost: the batch's last row of a member
// replaced the others), and a row without tier keeps the member's tier
// although another row of the batch gives one (the batch was imported as
// one file, whose rows lacking a key held NULL for it). The answer counts
// the body's rows and each member once.
func TestMemberBatchKeepsLeftOutFields(t *testing.T) {
	sv := start(t, opts{})
	if code, ans := sv.do("POST", "/v1/members", "", `{"member_id":"m1","tier":"silver","city":"X","pet":"cat"}`); code != 200 {
		t.Fatalf("%d %v", code, ans)
	}
	code, ans := sv.do("POST", "/v1/members", "", `{"type":"identify","userId":"m2","traits":{"tier":"gold"}}
{"type":"identify","userId":"m2","traits":{"city":"Y"}}
{"member_id":"m1","name":"Annie"}
{"member_id":"m9","tier":"new"}`)
	if code != 200 || ans["rows"] != 4.0 || ans["inserted"] != 1.0 || ans["updated"] != 2.0 {
		t.Errorf("answer %d %v; want rows 4, inserted 1 (m9), updated 2 (m1, m2)", code, ans)
	}
	for _, c := range []struct{ id, col, want string }{
		{"m2", "tier", "gold"}, {"m2", "city", "Y"}, {"m2", "name", "Bo"},
		{"m1", "name", "Annie"}, {"m1", "tier", "silver"}, {"m1", "city", "X"}, {"m1", "attrs", `{"pet":"cat"}`}, {"m1", "consent_sms", "true"},
		{"m9", "tier", "new"}, {"m9", "city", "-"},
	} {
		if got := sv.member(c.id, c.col); got != c.want {
			t.Errorf("%s.%s = %q, want %q", c.id, c.col, got, c.want)
		}
	}
	// In an events batch, identify rows do the same.
	code, ans = sv.do("POST", "/v1/events", "", `{"batch":[
 {"type":"identify","userId":"m3","traits":{"tier":"gold"}},
 {"type":"track","userId":"m3","event":"Visited","properties":{"store":"B"}},
 {"type":"identify","userId":"m3","traits":{"city":"Z"}},
 {"type":"identify","userId":"m1","traits":{"name":"Ann"}}
]}`)
	if m, _ := ans["members"].(map[string]any); code != 200 || ans["stored"] != 1.0 || m["rows"] != 3.0 || m["updated"] != 2.0 || m["inserted"] != 0.0 {
		t.Errorf("events batch: %d %v; want 1 event stored, members rows 3, updated 2", code, ans)
	}
	for _, c := range []struct{ id, col, want string }{
		{"m3", "tier", "gold"}, {"m3", "city", "Z"}, {"m3", "name", "Cai"}, {"m1", "name", "Ann"}, {"m1", "tier", "silver"},
	} {
		if got := sv.member(c.id, c.col); got != c.want {
			t.Errorf("after the events batch: %s.%s = %q, want %q", c.id, c.col, got, c.want)
		}
	}
}

// TestMemberBatchAsRowsOneByOne: a member batch leaves the members table
// as its rows sent one batch each, in order, do: repeated members, keys
// left out, an explicit null (clears the column, as a null in an imported
// JSON file does), keys naming no column (attrs, key by key: a key given
// null is removed, `attrs: null` removes them all), a column named in
// another case, another brand's member of the same id.
func TestMemberBatchAsRowsOneByOne(t *testing.T) {
	rows := []string{
		`{"member_id":"m1","tier":"silver","city":"X","pet":"cat"}`,
		`{"type":"identify","userId":"m2","traits":{"tier":"gold"}}`,
		`{"type":"identify","userId":"m2","traits":{"city":"Y","birthday":"1990-02-03"}}`,
		`{"member_id":"m1","name":"Annie"}`,
		`{"member_id":"m9","tier":"new","favorite":"tea"}`,
		`{"type":"identify","userId":"m9","traits":{"city":"Q"}}`,
		`{"type":"identify","userId":"m2","traits":{"tier":null}}`,
		`{"type":"identify","userId":"m3","traits":{"dish":"fish"}}`,
		`{"type":"identify","userId":"m3","traits":{"drink":"tea","name":"Cai Li"}}`,
		`{"member_id":"m2","brand":"bistro","tier":"x"}`,
		`{"type":"identify","userId":"m1","traits":{"consentSms":false,"tier":"bronze"}}`,
		`{"type":"identify","userId":"m1","traits":{"TIER":"platinum"}}`,
		`{"member_id":"m9","city":null,"favorite":null}`,
		`{"member_id":"m2","name":"Bob"}`,
		`{"type":"identify","userId":"m4","traits":{"a":1,"b":"x"}}`,
		`{"type":"identify","userId":"m4","traits":{"b":"y"}}`,
		`{"member_id":"m4","attrs":null,"c":3}`,
		`{"type":"identify","userId":"m4","traits":{"d":true}}`,
	}
	batch, single := start(t, opts{}), start(t, opts{})
	code, ans := batch.do("POST", "/v1/members", "", strings.Join(rows, "\n"))
	if code != 200 || ans["rows"] != float64(len(rows)) || ans["inserted"] != 3.0 || ans["updated"] != 3.0 {
		t.Errorf("batch: %d %v; want rows %d, inserted 3 (m9, bistro's m2, m4), updated 3 (m1, m2, m3)", code, ans, len(rows))
	}
	for i, r := range rows {
		if code, ans := single.do("POST", "/v1/members", "", r); code != 200 {
			t.Fatalf("row %d alone: %d %v", i+1, code, ans)
		}
	}
	got, want := batch.memberRows(), single.memberRows()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("members after the batch:\n%s\nafter its rows one by one:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// What one by one gives, spelled out.
	for _, c := range []struct{ id, col, want string }{
		{"m1", "name", "Annie"}, {"m1", "tier", "platinum"}, {"m1", "city", "X"}, {"m1", "consent_sms", "false"}, {"m1", "attrs", `{"pet":"cat"}`},
		{"m2", "tier", "-"}, {"m2", "city", "Y"}, {"m2", "birthday", "1990-02-03"}, {"m2", "name", "Bob"},
		{"m3", "attrs", `{"dish":"fish","drink":"tea"}`}, {"m3", "name", "Cai Li"},
		{"m4", "attrs", `{"c":3,"d":true}`},
		{"m9", "tier", "new"}, {"m9", "city", "-"}, {"m9", "attrs", "-"},
	} {
		if got := batch.member(c.id, c.col); got != c.want {
			t.Errorf("%s.%s = %q, want %q", c.id, c.col, got, c.want)
		}
	}
}

// TestEventsBatchMembersStoredEventsNot: an events batch of identify and
// track rows whose members are committed but whose events then fail
// answers what was stored and what was not. The answer said "nothing was
// stored" (400, as for a bad row) while the members were. Here event_ids
// is gone, so storing the events fails after they were checked and the
// members stored: a failure of the database, 500, with the members'
// counts; the events are not stored.
func TestEventsBatchMembersStoredEventsNot(t *testing.T) {
	sv := start(t, opts{})
	if _, err := sv.db.SQL().Exec(`ALTER TABLE event_ids RENAME TO event_ids_gone`); err != nil {
		t.Fatal(err)
	}
	code, ans := sv.do("POST", "/v1/events", "", `{"batch":[
 {"type":"identify","userId":"m3","traits":{"tier":"gold"}},
 {"type":"track","userId":"m3","event":"Visited","messageId":"msg-1","properties":{"store":"B"}}
]}`)
	msg, _ := ans["error"].(string)
	m, _ := ans["members"].(map[string]any)
	if code != 500 || m["rows"] != 1.0 || m["updated"] != 1.0 || m["inserted"] != 0.0 ||
		!strings.Contains(msg, "the batch's 1 event(s) were not stored, but its 1 member row(s) were (0 inserted, 1 updated)") ||
		strings.Contains(msg, "nothing was") {
		t.Errorf("answer %d %v\nwant 500 saying the member row was stored and the event not, with the members' counts", code, ans)
	}
	if got := sv.member("m3", "tier"); got != "gold" {
		t.Errorf("m3.tier = %q, want gold (the members were committed)", got)
	}
	if n := sv.count(`SELECT count(*) FROM events WHERE member_id = 'm3'`); n != 0 {
		t.Errorf("%d events of m3 stored, want 0", n)
	}
	// The refusal is counted under the status answered (it was 400).
	resp, err := http.Get(sv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `nudge_batches_rejected_total{code="500"} 1`) || strings.Contains(string(b), `nudge_batches_rejected_total{code="400"}`) {
		t.Errorf("metrics count the refusal under another status:\n%s", grepLines(string(b), "nudge_batches_rejected"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestEventsBatchDatabaseFailure: an events batch the database fails to
// store is answered 500, which a client sends again, not 400 (a client
// drops a batch it is told is bad; the message named the "request body"
// and was taken for the body's fault).
func TestEventsBatchDatabaseFailure(t *testing.T) {
	sv := start(t, opts{})
	if _, err := sv.db.SQL().Exec(`ALTER TABLE event_ids RENAME TO event_ids_gone`); err != nil {
		t.Fatal(err)
	}
	code, ans := sv.do("POST", "/v1/events", "", `{"batch":[
 {"type":"track","userId":"m1","event":"Visited","messageId":"msg-1","properties":{"store":"B"}}
]}`)
	if msg, _ := ans["error"].(string); code != 500 || !strings.Contains(msg, "nothing was stored") {
		t.Errorf("answer %d %v, want 500 saying nothing was stored", code, ans)
	}
}

// TestMemberBatchDatabaseFailure: a member batch the database fails to
// store is answered 500 (send it again), not 400, stores nothing, and is
// counted under 500; a batch whose row is at fault is still 400. The
// import's error for a failed insert names its file, and a message naming
// the batch's file was taken for the body's fault: a client drops a batch
// it is told is bad. (The unique index stands for a constraint the
// runtime does not know of, as a full disk would fail the insert.)
func TestMemberBatchDatabaseFailure(t *testing.T) {
	for _, c := range []struct {
		name, path, body string
		code             int
		want             string // in the answer's error
	}{
		{name: "members", path: "/v1/members",
			body: `{"member_id":"m7","phone":"555"}` + "\n" + `{"member_id":"m8","phone":"555"}`,
			code: 500, want: "storing the batch failed, nothing was stored"},
		{name: "identify in an events batch", path: "/v1/events",
			body: `{"batch":[{"type":"identify","userId":"m7","traits":{"phone":"555"}},{"type":"identify","userId":"m8","traits":{"phone":"555"}},
 {"type":"track","userId":"m7","event":"Visited","messageId":"msg-1","properties":{"store":"B"}}]}`,
			code: 500, want: "storing the batch failed, nothing was stored"},
		{name: "bad value", path: "/v1/members",
			body: `{"member_id":"m7","birthday":"yesterday"}`,
			code: 400, want: `row 1: field birthday: cannot parse "yesterday" as a date; nothing was stored`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sv := start(t, opts{})
			if _, err := sv.db.SQL().Exec(`CREATE UNIQUE INDEX members_phone ON members (phone)`); err != nil {
				t.Fatal(err)
			}
			before := sv.memberRows()
			code, ans := sv.do("POST", c.path, "", c.body)
			if msg, _ := ans["error"].(string); code != c.code || !strings.Contains(msg, c.want) || strings.Contains(msg, "nudge-batch") {
				t.Errorf("answer %d %v, want %d with %q (and no staged file's name)", code, ans, c.code, c.want)
			}
			if after := sv.memberRows(); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("members changed:\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
			if n := sv.count(`SELECT count(*) FROM events`); n != 0 {
				t.Errorf("%d events stored, want 0", n)
			}
			resp, err := http.Get(sv.url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf(`nudge_batches_rejected_total{code="%d"} 1`, c.code); !strings.Contains(string(b), want) {
				t.Errorf("metrics do not count the refusal as %s:\n%s", want, grepLines(string(b), "nudge_batches_rejected"))
			}
		})
	}
}

// TestMemberBatchAttrsNotObject: attrs that is not an object is the
// body's row error; it was stored, and every later batch setting a key of
// that member's attrs failed with 500 (its stored attrs could not be
// read as an object).
func TestMemberBatchAttrsNotObject(t *testing.T) {
	sv := start(t, opts{})
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"member_id":"m7","attrs":[1,2]}`, 400, `row 1: field attrs: [1,2] is not a JSON object`},
		{`{"member_id":"m7","attrs":7}`, 400, `row 1: field attrs: 7 is not a JSON object`},
		{`{"member_id":"m7","attrs":{"a":1},"pet":"cat"}`, 200, ""},
		{`{"member_id":"m7","dish":"fish"}`, 200, ""},
	} {
		code, ans := sv.do("POST", "/v1/members", "", c.body)
		if msg, _ := ans["error"].(string); code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%s: answer %d %v, want %d with %q", c.body, code, ans, c.code, c.want)
		}
	}
	if got := sv.member("m7", "attrs"); got != `{"a":1,"dish":"fish","pet":"cat"}` {
		t.Errorf("m7.attrs = %s", got)
	}
}

// TestEmptyMemberBatch: an empty member batch stores nothing and is
// answered 200 with no rows (it was 500: "import: no files given").
func TestEmptyMemberBatch(t *testing.T) {
	sv := start(t, opts{})
	for _, body := range []string{`[]`, `{"batch":[]}`} {
		if code, ans := sv.do("POST", "/v1/members", "", body); code != 200 || ans["rows"] != 0.0 {
			t.Errorf("%s: answer %d %v, want 200 with rows 0", body, code, ans)
		}
	}
}
