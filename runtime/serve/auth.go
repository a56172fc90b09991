package serve

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode"
)

// Tokens are the bearer tokens the service accepts: the main token
// (NUDGE_TOKEN) may do everything; a brand token (NUDGE_TOKEN_<BRAND>) may
// read and write its brand's rows only and may not reload the rules. With
// no token at all every request is let through (allowed on loopback only).
type Tokens struct {
	Main  string
	Brand map[string]string // brand key (BrandKey) -> token
}

// TokensFromEnv reads NUDGE_TOKEN and NUDGE_TOKEN_<BRAND> from environ
// (os.Environ's form).
func TokensFromEnv(environ []string) Tokens {
	t := Tokens{Brand: map[string]string{}}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		switch {
		case k == "NUDGE_TOKEN":
			t.Main = v
		case strings.HasPrefix(k, "NUDGE_TOKEN_"):
			t.Brand[strings.TrimPrefix(k, "NUDGE_TOKEN_")] = v
		}
	}
	return t
}

// Any reports whether some token is set.
func (t Tokens) Any() bool { return t.Main != "" || len(t.Brand) > 0 }

// BrandKey is a brand's name in its token variable: upper case, every
// character other than a letter or digit an underscore (brand "acme-cn":
// NUDGE_TOKEN_ACME_CN).
func BrandKey(brand string) string {
	return strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return unicode.ToUpper(r)
		}
		return '_'
	}, brand)
}

// principal is who made a request: everyone (no tokens), the main token's
// holder, or a brand token's.
type principal struct {
	all      bool   // may do everything
	brandKey string // else: the brand key it may read and write
}

// may reports whether p may read or write brand's rows.
func (p principal) may(brand string) bool { return p.all || BrandKey(brand) == p.brandKey }

// authenticate returns the request's principal, or an API error (401).
func (t Tokens) authenticate(r *http.Request) (principal, *apiError) {
	if !t.Any() {
		return principal{all: true}, nil
	}
	// The scheme is case-insensitive (RFC 9110 §11.1): "bearer" will do.
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return principal{}, &apiError{status: http.StatusUnauthorized,
			Message: "missing bearer token: send the header 'Authorization: Bearer <token>' with the service's NUDGE_TOKEN (or a brand's NUDGE_TOKEN_<BRAND>)"}
	}
	if t.Main != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t.Main)) == 1 {
		return principal{all: true}, nil
	}
	for key, bt := range t.Brand {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(bt)) == 1 {
			return principal{brandKey: key}, nil
		}
	}
	return principal{}, &apiError{status: http.StatusUnauthorized, Message: "invalid bearer token: it is neither NUDGE_TOKEN nor a NUDGE_TOKEN_<BRAND> of this service"}
}

// forbidden is the error for a brand a token may not read or write.
func forbidden(brand string) *apiError {
	return &apiError{status: http.StatusForbidden,
		Message: fmt.Sprintf("this token may not read or write brand %q: use NUDGE_TOKEN or NUDGE_TOKEN_%s", brand, BrandKey(brand))}
}

// isLoopback reports whether a listen address (host:port) binds only the
// loopback interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
