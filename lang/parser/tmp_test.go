package parser

import (
	"os"
	"strings"
	"testing"
)

func BenchmarkTmpBig(b *testing.B) {
	src, _ := os.ReadFile("testdata/valid/spec.nudge")
	big := []byte(strings.Repeat(string(src), 200))
	for i := 0; i < b.N; i++ {
		ParseFile("big", big)
	}
}
