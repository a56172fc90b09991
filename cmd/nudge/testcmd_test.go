package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJUnitOutput runs `nudge test --format junit` on one passing and one
// failing test and parses the XML as a CI system would.
func TestJUnitOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules.nudge", `import "crm"
rule welcome if visited then send coupon "HI" via sms
`)
	write("rules_test.nudge", `test "a visit sends the coupon"
  now 2024-11-11 10:00
  member "ann" with consent_sms true
  "ann" visited 1 hour ago
  tick
  expect welcome fires for "ann" with status pending

test "a wrong status"
  now 2024-11-11 10:00
  member "bo" with consent_sms false
  "bo" visited 1 hour ago
  tick
  expect welcome fires for "bo" with status pending
`)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"test", "--format", "junit", dir}, strings.NewReader(""), &stdout, &stderr)
	if code != exitProblems {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitProblems, stderr.String())
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Time      string `xml:"time,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("output is not XML: %v\n%s", err, stdout.String())
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("tests=%d failures=%d suites=%d; want 2, 1, 1 suite of 2 cases\n%s", doc.Tests, doc.Failures, len(doc.Suites), stdout.String())
	}
	pass, fail := doc.Suites[0].Cases[0], doc.Suites[0].Cases[1]
	if pass.Name != "a visit sends the coupon" || pass.Failure != nil || pass.Classname != "rules_test" || pass.Time == "" {
		t.Errorf("passing case = %+v", pass)
	}
	if fail.Name != "a wrong status" || fail.Failure == nil {
		t.Fatalf("failing case = %+v", fail)
	}
	if want := `expect welcome fires for "bo" with status pending`; fail.Failure.Message != want {
		t.Errorf("failure message = %q, want %q", fail.Failure.Message, want)
	}
	for _, want := range []string{"rules_test.nudge:13:3:", `- welcome "bo" fires with status pending`, `+ welcome "bo" send coupon "HI" via sms: no_consent (no consent_sms)`} {
		if !strings.Contains(fail.Failure.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, fail.Failure.Text)
		}
	}
	if got := stderr.String(); got != "1 passed, 1 failed\n" {
		t.Errorf("stderr = %q", got)
	}
}
