package redact_test

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"nudge/runtime/redact"
)

var cases = []struct {
	name, in, want string
}{
	{"plain text", "status 500 Internal Server Error", "status 500 Internal Server Error"},
	{"url without secrets", "webhook http://hooks.example.com:8080/a/b?x=1&y=2#top", "webhook http://hooks.example.com:8080/a/b?x=1&y=2#top"},
	{"user and password", "webhook:http://user:s3cret@host/hook", "webhook:http://xxxxx@host/hook"},
	{"user only (an API key)", "https://AKIA1234@api.example.com/v1", "https://xxxxx@api.example.com/v1"},
	{"password with @ and ?", "http://u:p@ss?w#d@host:1/x", "http://xxxxx@host:1/x"},
	{"net/http's masked password", `Post "http://user:***@127.0.0.1:1/hook?token=tok123": dial tcp 127.0.0.1:1: connect: connection refused`,
		`Post "http://xxxxx@127.0.0.1:1/hook?token=xxxxx": dial tcp 127.0.0.1:1: connect: connection refused`},
	{"token parameter", "http://h/x?token=abc&page=2", "http://h/x?token=xxxxx&page=2"},
	{"several parameters", "http://h/x?a=1&api_key=K&Signature=S&sig=s&client_secret=C&password=P&b=2",
		"http://h/x?a=1&api_key=xxxxx&Signature=xxxxx&sig=xxxxx&client_secret=xxxxx&password=xxxxx&b=2"},
	{"aws presigned", "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F2024&X-Amz-Security-Token=T&X-Amz-Signature=abcd",
		"https://b.s3.amazonaws.com/k?X-Amz-Credential=xxxxx&X-Amz-Security-Token=xxxxx&X-Amz-Signature=xxxxx"},
	{"fragment token", "https://app/cb#access_token=abc&state=1", "https://app/cb#access_token=xxxxx&state=1"},
	{"auth parameter", "http://h/?auth=abc", "http://h/?auth=xxxxx"},
	{"empty value", "http://h/?token=&a=1", "http://h/?token=xxxxx&a=1"},
	{"text after the url", "webhook http://h/x?token=tok123: status 500 (then context deadline exceeded).",
		"webhook http://h/x?token=xxxxx: status 500 (then context deadline exceeded)."},
	{"url in parentheses", "(see http://h/?sig=abc)", "(see http://h/?sig=xxxxx)"},
	{"redirect location", "status 302 Found: redirect to https://login.example.com/?session=abc not followed",
		"status 302 Found: redirect to https://login.example.com/?session=xxxxx not followed"},
	{"authorization header", "request header Authorization: Bearer eyJhbGci.x.y", "request header Authorization: xxxxx"},
	{"cookie header, any case", "cookie: sid=abc; other=1\nnext line", "cookie: xxxxx\nnext line"},
	{"api key header in JSON", `{"X-Api-Key": "k-123"}`, `{"X-Api-Key": xxxxx`},
	{"named sink spec", "alerts=webhook:https://u:p@h/x?key=k", "alerts=webhook:https://xxxxx@h/x?key=xxxxx"},
	{"jsonl sink spec", "jsonl:/var/out/sends.jsonl", "jsonl:/var/out/sends.jsonl"},
	{"two urls", "a http://u:p@h1/?token=1 b https://v:q@h2/?secret=2", "a http://xxxxx@h1/?token=xxxxx b https://xxxxx@h2/?secret=xxxxx"},
	{"chinese text kept", "规则 http://u:p@h/ 失败", "规则 http://xxxxx@h/ 失败"},
}

func TestText(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := redact.Text(c.in)
			if got != c.want {
				t.Errorf("Text(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
			if again := redact.Text(got); again != got {
				t.Errorf("Text is not idempotent: %q -> %q", got, again)
			}
		})
	}
}

// TestSQL proves the SQL form redacts exactly as Text does, in DuckDB.
func TestSQL(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			if err := db.QueryRow(`SELECT `+redact.SQL(`$1::VARCHAR`), c.in).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("SQL on %q\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestErrorAndStrings(t *testing.T) {
	if got := redact.Error(nil); got != "" {
		t.Errorf("Error(nil) = %q", got)
	}
	args := redact.Strings([]string{"run", "--sink", "webhook:http://u:pw@h/?token=t"})
	if strings.Contains(strings.Join(args, " "), "pw@") || strings.Contains(strings.Join(args, " "), "token=t") {
		t.Errorf("Strings kept a secret: %q", args)
	}
}
