package compiler

import (
	"context"
	"math/rand/v2"
	"testing"
)

func TestZZDbg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	db := openDB(t)
	src := "brand \"acme\"\nimport \"crm\"\nrule r\n  if purchased in last 7 days\n  then tag \"x\"\n"
	p, info, err := compileText(src)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := 0; i < 200; i++ {
		g := &gen{rng: rng}
		ds := g.dataset()
		load(t, db, ds.members, ds.events, ds.tags)
		got, err := runRule(context.Background(), db, p.Rules[0], ds.now, ds.wm)
		if err != nil {
			t.Fatal(err)
		}
		want := newRefWorld(info, ds.members, ds.events, ds.tags, ds.now, ds.wm).fire(info.Rules[0])
		if !sameFirings(got, want) {
			bad++
		}
	}
	t.Logf("%d mismatches", bad)
}
