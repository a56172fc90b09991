package lang

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/lang/parser"
)

// This file holds the limits on what a rule file may be, applied wherever
// rule files are read (check, fmt, explain, run, test, simulate, why,
// report, the REPL): only regular files, at most MaxFileSize bytes, nested at
// most MaxNesting levels deep. Every command finds files with Discover, reads
// them with ReadFile and parses them with ParseFile or ParseCondition.

// MaxFileSize is the size limit of one rule file, in bytes (1 MiB).
const MaxFileSize = 1 << 20

// MaxNesting is how deep parentheses, `not` and `where` may nest in a rule
// file, counted on the text before parsing: deeper text is not handed to the
// parser (whose recursion it would exhaust). The checker's limit on a
// condition's depth (check.MaxDepth) is lower and is what users meet.
const MaxNesting = 500

// Discover expands paths into the rule files to read, in order: a path that
// is not a directory is kept as given (ReadFile then says if it cannot be a
// rule file); directories are searched recursively, skipping hidden
// directories, for the files whose name match accepts. A matching entry that
// is not a regular file (a named pipe, a socket, a device, a symbolic link to
// one) is skipped with a warning naming it. A path that does not exist is an
// error.
func Discover(paths []string, match func(name string) bool) ([]string, diag.List, error) {
	var out []string
	var warns diag.List
	seen := map[string]bool{}
	add := func(p string) {
		if clean := filepath.Clean(p); !seen[clean] {
			seen[clean] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			// "X: no such file or directory", without Go's "stat X: "
			// (errors.Is(err, fs.ErrNotExist) still holds).
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("walk %s: %w", path, err)
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !match(d.Name()) {
				return nil
			}
			mode := d.Type()
			if mode&fs.ModeSymlink != 0 {
				if st, err := os.Stat(path); err == nil {
					mode = st.Mode().Type()
				}
			}
			if !mode.IsRegular() {
				warns.Warnf(diag.Span{File: path}, check.CodeNotRegularFile, "skipped: this is %s, not a regular file", kindOf(mode))
				return nil
			}
			found = append(found, path)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		sort.Strings(found)
		for _, f := range found {
			add(f)
		}
	}
	return out, warns, nil
}

// IsRuleFile reports whether a file name is a rule file's (*.nudge, not a
// test file).
func IsRuleFile(name string) bool {
	return strings.HasSuffix(name, Ext) && !strings.HasSuffix(name, TestSuffix)
}

// IsNudgeFile reports whether a file name is a rule or test file's (*.nudge).
func IsNudgeFile(name string) bool { return strings.HasSuffix(name, Ext) }

// IsTestFile reports whether a file name is a test file's (*_test.nudge).
func IsTestFile(name string) bool { return strings.HasSuffix(name, TestSuffix) }

// ReadFile reads the rule file at path. A path that is not a regular file
// (it is opened without blocking, so a named pipe cannot stall the command)
// or that holds more than MaxFileSize bytes is reported as an error
// diagnostic naming it, with nil text; other I/O problems are returned as
// error.
func ReadFile(path string) ([]byte, diag.List, error) {
	var diags diag.List
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read rule file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read rule file: %w", err)
	}
	if !st.Mode().IsRegular() {
		diags.Errorf(diag.Span{File: path}, check.CodeNotRegularFile, "this is %s, not a regular file; rule files must be regular files", kindOf(st.Mode().Type()))
		return nil, diags, nil
	}
	tooLarge := func() ([]byte, diag.List, error) {
		diags.Errorf(diag.Span{File: path}, check.CodeFileTooLarge, "this file is larger than 1 MiB, the limit for a rule file; split it into several files")
		return nil, diags, nil
	}
	if st.Size() > MaxFileSize {
		return tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			diags.Errorf(diag.Span{File: path}, check.CodeNotRegularFile, "this is a directory, not a regular file; rule files must be regular files")
			return nil, diags, nil
		}
		return nil, nil, fmt.Errorf("read rule file: %w", err)
	}
	if len(b) > MaxFileSize {
		return tooLarge()
	}
	return b, nil, nil
}

// kindOf names a file type for messages ("a named pipe").
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeDir != 0:
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a broken symbolic link"
	}
	return "not a regular file"
}

// ParseFile parses one rule or test file after checking the limits on its
// text (size and nesting); text beyond them is reported and not parsed (the
// file is then nil).
func ParseFile(name string, src []byte) (*ast.File, diag.List) {
	if ds := textLimits(name, src); ds.HasErrors() {
		return nil, ds
	}
	return parser.ParseFile(name, src)
}

// ParseCondition parses a condition typed at the REPL, with the limits of
// ParseFile.
func ParseCondition(name string, src []byte) (ast.Expr, diag.List) {
	if ds := textLimits(name, src); ds.HasErrors() {
		return nil, ds
	}
	return parser.ParseCondition(name, src)
}

// textLimits checks src against MaxFileSize and MaxNesting.
func textLimits(name string, src []byte) diag.List {
	var diags diag.List
	if len(src) > MaxFileSize {
		diags.Errorf(diag.Span{File: name}, check.CodeFileTooLarge, "this file is larger than 1 MiB, the limit for a rule file; split it into several files")
		return diags
	}
	if at, ok := tooDeep(src); ok {
		diags.Errorf(diag.Span{File: name, Start: at, End: at}, check.CodeTooDeep,
			"parentheses, `not` and `where` nest more than %d levels deep here; simplify the condition or split it into segments", MaxNesting)
	}
	return diags
}

// tooDeep scans src for nesting deeper than MaxNesting and returns the
// position of the token that goes past it. It over-estimates the parser's
// nesting (it needs no grammar): each open parenthesis is a level, and
// within one, each `not` (until the next `and`, `or` or comma) and each
// `where` (until the parenthesis closes, or at the top level until `then`
// or the next declaration) adds one. Strings and comments are skipped.
func tooDeep(src []byte) (diag.Pos, bool) {
	type level struct{ not, where int }
	stack := []level{{}}
	depth := 0 // levels above the top one plus the not and where counts
	line, col := 1, 1
	for i := 0; i < len(src); {
		c := src[i]
		pos := diag.Pos{Offset: i, Line: line, Col: col}
		switch {
		case c == '\n':
			line, col = line+1, 1
			i++
			continue
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '"':
			i, col = i+1, col+1
			for i < len(src) && src[i] != '"' && src[i] != '\n' {
				if src[i] == '\\' && i+1 < len(src) && src[i+1] != '\n' {
					i, col = i+1, col+1
				}
				i = nextRune(src, i, &col)
			}
			if i < len(src) && src[i] == '"' {
				i, col = i+1, col+1
			}
			continue
		case c == '(':
			stack = append(stack, level{})
			depth++
		case c == ')':
			if len(stack) > 1 {
				top := stack[len(stack)-1]
				depth -= 1 + top.not + top.where
				stack = stack[:len(stack)-1]
			}
		case c == ',':
			top := &stack[len(stack)-1]
			depth -= top.not
			top.not = 0
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			top := &stack[len(stack)-1]
			switch w := string(src[i:j]); {
			case w == "not":
				top.not++
				depth++
			case w == "where":
				top.where++
				depth++
			case w == "and" || w == "or":
				depth -= top.not
				top.not = 0
			case len(stack) == 1 && (w == "then" || parser.IsKeyword(w) && isDeclKeyword(w)):
				depth -= top.not + top.where
				*top = level{}
			}
			if depth > MaxNesting {
				return pos, true
			}
			col += j - i
			i = j
			continue
		}
		if depth > MaxNesting {
			return pos, true
		}
		i = nextRune(src, i, &col)
	}
	return diag.Pos{}, false
}

// nextRune returns the offset after the rune at i, counting one column.
func nextRune(src []byte, i int, col *int) int {
	*col++
	i++
	for i < len(src) && src[i]&0xC0 == 0x80 {
		i++
	}
	return i
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isDeclKeyword reports whether w starts a declaration.
func isDeclKeyword(w string) bool {
	switch w {
	case "rule", "segment", "brand", "import", "cap", "quiet", "event", "member", "test", "cost", "stock":
		return true
	}
	return false
}
