// Package redact is the one place nudge removes credentials from text it
// stores or prints: the errors recorded as an outbox row's last_error, the
// identity of a sink (outbox_deliveries.sink), and the error and log lines
// of the command line, which may echo a --sink spec or a URL.
//
// What it removes, each replaced by Mask:
//
//   - the userinfo of a URL (scheme://user:password@host: all of
//     "user:password", since a user name may itself be an API key);
//   - the value of a URL query or fragment parameter whose name contains
//     token, key, secret, pass, pwd, sig, auth, cred, session, jwt or bearer
//     (any case: access_token, api_key, X-Amz-Signature, password, ...);
//   - the value of an Authorization, Proxy-Authorization, Cookie,
//     Set-Cookie, X-Api-Key, Api-Key, X-Auth-Token or X-Access-Token header
//     written as "Name: value", up to the end of the line.
//
// It works on text, not on parsed URLs, so that it also cleans URLs inside
// error messages (net/http's `Post "URL": ...`, a redirect's Location) and
// specs that do not parse; and so that the same rules run in SQL (SQL), for
// rows written before redaction existed. A secret elsewhere (in a URL's
// path, as some chat webhooks put it) is not recognised.
//
// Changing the rules changes sink identities (runtime.SinkID is a redacted
// spec): a change must come with a migration that applies SQL to
// outbox_deliveries.sink again, or deliveries recorded before it are not
// recognised as the same sink's.
package redact

import (
	"regexp"

	"nudge/internal/sqlquote"
)

// Mask replaces every secret.
const Mask = "xxxxx"

// rule is one redaction: a regular expression in the syntax Go's regexp and
// DuckDB (both RE2) share, and its replacement with groups written ${n}.
type rule struct {
	re   *regexp.Regexp
	repl string
}

// urlChar is a character a URL written in text may contain: not blank, not
// a quote or an angle bracket.
const urlChar = `[^\s"'<>`

var rules = []rule{
	// scheme://USERINFO@: the userinfo is what precedes the last @ before
	// the path. A password holding '?' or '#' (not escaped) is covered too.
	{regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)` + urlChar + `/]*@`), "${1}" + Mask + "@"},
	// ?name=value, &name=value, ;name=value, #name=value with a sensitive
	// name. A value does not end in ':', ',', '.' or ')': that is the text
	// around the URL ("webhook URL: status 500").
	{regexp.MustCompile(`([?&;#])(` + urlChar + `=&;#]*(?i:token|key|secret|pass|pwd|sig|auth|cred|session|jwt|bearer)` +
		urlChar + `=&;#]*)=(?:` + urlChar + `&;#]*` + urlChar + `&;#:,.)])?`), "${1}${2}=" + Mask},
	// Name: value of a header that carries credentials.
	{regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token|x-access-token)(["']?\s*:\s*)[^\r\n]*`),
		"${1}${2}" + Mask},
}

// Text returns s with every credential it recognises replaced by Mask.
func Text(s string) string {
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// Error returns err's text redacted ("" for nil).
func Error(err error) string {
	if err == nil {
		return ""
	}
	return Text(err.Error())
}

// Strings returns the elements of ss redacted, for echoing command lines.
func Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Text(s)
	}
	return out
}

var goGroup = regexp.MustCompile(`\$\{(\d)\}`)

// SQL returns a DuckDB expression whose value is Text of the VARCHAR
// expression expr: the same rules, applied by regexp_replace.
func SQL(expr string) string {
	for _, r := range rules {
		pat, err := sqlquote.String(r.re.String())
		if err != nil {
			panic("redact: unquotable pattern: " + err.Error()) // the patterns are constants
		}
		repl, err := sqlquote.String(goGroup.ReplaceAllString(r.repl, `\$1`))
		if err != nil {
			panic("redact: unquotable replacement: " + err.Error())
		}
		expr = "regexp_replace(" + expr + ", " + pat + ", " + repl + ", 'g')"
	}
	return expr
}

// Wrap returns err with its text redacted (nil for nil). errors.Is and
// errors.As still see err.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err}
}

// redacted is an error whose text is its cause's, redacted.
type redacted struct{ err error }

func (r redacted) Error() string { return Text(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }
