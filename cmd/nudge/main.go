// Command nudge checks, compiles and runs nudge rule files.
package main

import "os"

func main() { os.Exit(Main()) }
