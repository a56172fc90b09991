# The index of how to work on nudge. A newcomer needs two targets:
#   make demo   build, generate demo data, run the example rules, show what fired
#   make test   every test (unit, golden, property, script tests) and rule checks
GO      ?= go
BIN     := bin/nudge
DEMO_DB ?= demo.duckdb
MEMBERS ?= 100000
FUZZTIME ?= 60s

.PHONY: all build demo test bench fuzz lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/nudge

demo: build
	rm -f $(DEMO_DB) $(DEMO_DB).wal
	./$(BIN) demo --db $(DEMO_DB) --members $(MEMBERS)

# (the examples' test files run in runtime/ruletest's TestExamples, which
# also requires every rule and branch covered: not again as `nudge test`)
test: build lint
	$(GO) test -count=1 -timeout 20m ./...
	./$(BIN) check examples/

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# every fuzz target of the repository (each `func FuzzX` in a _test.go file),
# FUZZTIME each
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		for n in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$n ./$$(dirname $$f)"; \
			$(GO) test -run '^$$' -fuzz "^$$n\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); \
		done; \
	done

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin $(DEMO_DB) $(DEMO_DB).wal
