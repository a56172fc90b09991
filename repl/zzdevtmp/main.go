package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"nudge/repl"
	"nudge/runtime"
	"nudge/runtime/demodata"
)

func main() {
	ctx := context.Background()
	path := "/tmp/repl-dev.duckdb"
	_, statErr := os.Stat(path)
	db, err := runtime.Open(ctx, path)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer db.Close()
	now := demodata.DefaultNow
	if statErr != nil {
		st, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: 20000, Seed: 1})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(st.BrandNames())
	}
	_ = time.Now
	brand := os.Getenv("BRAND")
	if err := repl.Run(ctx, repl.Config{DB: db, Paths: os.Args[1:], Now: &now, Brand: brand}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
