package tui

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// MaxHistory is how many entries a History keeps (the oldest are dropped).
const MaxHistory = 1000

// History is the list of submitted inputs, oldest first, optionally persisted
// to a file so it survives sessions. In the file each entry is one line; a
// multi-line entry continues with a trailing `\`, as in line mode.
type History struct {
	path    string
	entries []string

	mu      sync.Mutex // guards unsaved: Flush runs outside the UI loop
	unsaved []string   // added, not yet appended to the file, in order
}

// LoadHistory reads the history file at path. A missing file is an empty
// history; path "" keeps the history in memory only.
func LoadHistory(path string) (*History, error) {
	h := &History{path: path}
	if path == "" {
		return h, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var cur []string
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cur = append(cur, rest)
			continue
		}
		cur = append(cur, line)
		h.add(strings.Join(cur, "\n"))
		cur = nil
	}
	if len(cur) > 0 {
		h.add(strings.Join(cur, "\n"))
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("read history %s: %w", path, err)
	}
	return h, nil
}

// Entries returns the entries, oldest first.
func (h *History) Entries() []string { return h.entries }

// Path returns the file the history is saved to ("" for none).
func (h *History) Path() string { return h.path }

// add appends entry in memory unless it is blank or repeats the last one,
// and reports whether it did.
func (h *History) add(entry string) bool {
	if strings.TrimSpace(entry) == "" {
		return false
	}
	if n := len(h.entries); n > 0 && h.entries[n-1] == entry {
		return false
	}
	h.entries = append(h.entries, entry)
	if len(h.entries) > MaxHistory {
		h.entries = append([]string(nil), h.entries[len(h.entries)-MaxHistory:]...)
	}
	return true
}

// Add records entry in memory and queues it for the file. It reports whether
// there is something for Flush to save. Add is called from the UI loop;
// Flush may run anywhere (a tea.Cmd), and entries reach the file in the
// order they were added even when several Flushes race.
func (h *History) Add(entry string) bool {
	if !h.add(entry) || h.path == "" {
		return false
	}
	h.mu.Lock()
	h.unsaved = append(h.unsaved, entry)
	h.mu.Unlock()
	return true
}

// Flush appends the queued entries to the history file.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.unsaved) == 0 {
		return nil
	}
	err := appendHistory(h.path, h.unsaved)
	h.unsaved = nil
	return err
}

func appendHistory(path string, entries []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(strings.ReplaceAll(e, "\n", "\\\n") + "\n")
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("save history %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save history %s: %w", path, err)
	}
	return nil
}
