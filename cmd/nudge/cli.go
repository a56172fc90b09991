package main

// Main runs the nudge command line and returns the process exit code.
func Main() int { return 0 }
