// Package demodata generates deterministic, realistic demo data for nudge: the
// members and events of SPEC §6, shaped after the figures of SPEC §1 (two
// brands, 64% one-time buyers, 42% dormant for over a year, average order
// about 73 CNY, Chinese names and cities) and seeded so that every business
// case of SPEC §1 has members who qualify at the demo clock DefaultNow.
//
// Generation runs inside DuckDB as set-based SQL over range(): every random
// choice is a hash of (member index, seed, purpose), so the same Options give
// identical tables, and a million members with their 7.6 million events take
// about one CPU-minute instead of hours of row-by-row inserts. The
// package owns no tables: the caller creates members and events (stdlib
// SchemaSQL) before calling Generate.
package demodata
