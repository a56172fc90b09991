package main

import "nudge/runtime/serve"

// refuseServed is the error of a command that must own the database file
// while a `nudge serve` process (found by its note beside the file) holds
// it; nil when none does.
func refuseServed(dbPath, instead string) error {
	n, ok := serve.ReadNote(dbPath)
	if !ok {
		return nil
	}
	return problemError("database %s is served by process %d at %s; %s", dbPath, n.PID, n.URL, instead)
}
