// Package format owns the canonical layout of nudge source (`nudge fmt`).
//
// File prints a parsed file; Source parses and prints, returning the input
// unchanged when it has syntax errors. The layout is fixed: declarations are
// separated by one blank line, except that consecutive brand/import lines
// and consecutive cap/quiet lines stay together; rules are laid out as
//
//	rule name "Title"
//	  if <condition>
//	  then <action> and <action>
//	  limit once per member every 7 days
//
// with a condition longer than the line limit broken before each top-level
// `and`/`or`. Keywords, spacing, duration units (singular for 1, plural
// otherwise), clocks (HH:MM) and string escapes are canonical; explicit
// parentheses are kept. Comments are kept in source order next to the code
// they were written with: each output line knows the source range of the
// code it prints; own-line comments go above the line whose code they
// preceded or sat inside (a condition joined onto one line), a trailing
// comment at the end of the line that printed the code before it (when
// several land on one line, all but the last go above it). Nothing that
// carries a comment is reordered: a journey's header lines keep their
// source order.
//
// Formatting is idempotent and preserves meaning: parsing the output gives
// the same tree as parsing the input, ignoring positions. The package never
// resolves names or types.
package format
