// Package examples embeds the example rule files, one per business case, so
// `nudge demo` can run them from any directory. The files themselves are the
// documentation: each opens with the business story it implements.
package examples

import "embed"

// Files holds the examples directory; callers pick the *.nudge files.
//
//go:embed *
var Files embed.FS
