package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"nudge/compiler"
	"nudge/lang"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/runtime/ruletest"
	"nudge/stdlib"
)

func newTestCmd(s *streams) *cobra.Command {
	var (
		runFlag, format string
		coverage        bool
		parallel        int
	)
	c := &cobra.Command{
		Use:   "test [--run REGEX] [--format text|json|junit] [--coverage] PATH...",
		Short: "Run the test blocks of *_test.nudge files",
		Long: `test runs every test block of the *_test.nudge files found in PATH (files or
directories, searched recursively). The tests of a directory run against the
rule files of that directory, each test in a fresh in-memory database, with
the same compiler and runtime as 'nudge run'. It prints PASS or FAIL per test
(with a diff of expected and actual decisions on failure) and a closing line
'N passed, M failed'. Exit status: 0 all passed, 1 a test failed or a file has
errors, 2 usage.

--coverage also lists the rules no expectation names and the branches of each
rule's condition (each 'or' alternative, each atom) that were never true for
any member at any tick of any test.`,
		Args: needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			switch format {
			case "text", "json", "junit":
			default:
				return usageError("--format: unknown format %q; use text, json or junit", format)
			}
			var re *regexp.Regexp
			if runFlag != "" {
				var err error
				if re, err = regexp.Compile(runFlag); err != nil {
					return usageError("--run: %v", err)
				}
			}
			dirs, err := findTestFiles(s, args)
			if err != nil {
				return problemError("%v", err)
			}
			if len(dirs) == 0 {
				return problemError("no *_test.nudge files in %s", strings.Join(args, ", "))
			}
			rep := &testReport{}
			var broken []string // the directories whose files did not load
			for _, d := range dirs {
				suite, ok := loadSuite(s, d)
				if !ok {
					broken = append(broken, d.dir)
					continue
				}
				results, cov, err := ruletest.Run(c.Context(), suite, ruletest.Options{Run: re, Coverage: coverage, Parallel: parallel})
				if err != nil {
					return problemError("%v", err)
				}
				rep.results = append(rep.results, results...)
				if cov != nil {
					rep.coverage = append(rep.coverage, cov.Report())
				}
			}
			// Files that did not load ran no test: a summary of the others
			// alone ("0 passed, 0 failed") would read as a clean run.
			if len(broken) > 0 && len(rep.results) == 0 {
				return problemError("no test ran: the files of %s did not load", strings.Join(broken, ", "))
			}
			if err := rep.print(s, format); err != nil {
				return err
			}
			if len(broken) > 0 {
				fmt.Fprintf(s.err, "nudge: the tests of %s did not run: their files did not load\n", strings.Join(broken, ", "))
			}
			if len(broken) > 0 || rep.failed() > 0 {
				return silentExit(exitProblems)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&runFlag, "run", "", "run only the tests whose name matches this regular expression")
	f.StringVar(&format, "format", "text", "output format: text, json or junit")
	f.BoolVar(&coverage, "coverage", false, "report untested rules and condition branches never true in any test")
	f.IntVar(&parallel, "parallel", goruntime.GOMAXPROCS(0), "how many tests run at once (each in its own in-memory database)")
	return c
}

// testDir is one directory's test files.
type testDir struct {
	dir   string
	files []string
}

// findTestFiles collects the *_test.nudge files of paths, grouped by
// directory (lang.Discover: entries that are not regular files are skipped
// with a warning, printed here).
func findTestFiles(s *streams, paths []string) ([]testDir, error) {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && !lang.IsTestFile(p) {
			return nil, fmt.Errorf("test %s: not a test file; name test files *%s (they run against the rule files of their directory)", p, lang.TestSuffix)
		}
	}
	files, warns, err := lang.Discover(paths, lang.IsTestFile)
	if err != nil {
		return nil, err // (names the path, as check and fmt say it)
	}
	if len(warns) > 0 {
		diag.RenderText(s.err, warns, nil)
	}
	byDir := map[string][]string{}
	for _, p := range files {
		d := filepath.Dir(p)
		byDir[d] = append(byDir[d], p)
	}
	var out []testDir
	for d, fs := range byDir {
		sort.Strings(fs)
		out = append(out, testDir{dir: d, files: fs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dir < out[j].dir })
	return out, nil
}

// loadSuite loads the rule files of d's directory and parses its test files;
// problems are printed and make ok false.
func loadSuite(s *streams, d testDir) (ruletest.Suite, bool) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		fmt.Fprintf(s.err, "nudge: %v\n", err)
		return ruletest.Suite{}, false
	}
	var rules []string
	var diags diag.List
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !lang.IsRuleFile(n) {
			continue
		}
		p := filepath.Join(d.dir, n)
		if t := e.Type(); t&fs.ModeSymlink == 0 && !t.IsRegular() {
			// (as lang.Discover does in a directory)
			diags.Warnf(diag.Span{File: p}, check.CodeNotRegularFile, "skipped: this is not a regular file")
			continue
		}
		rules = append(rules, p)
	}
	var srcs []lang.Source
	for _, p := range rules {
		b, ds, err := lang.ReadFile(p)
		if err != nil {
			fmt.Fprintf(s.err, "nudge: %v\n", err)
			return ruletest.Suite{}, false
		}
		diags = append(diags, ds...)
		if b != nil {
			srcs = append(srcs, lang.Source{Name: p, Src: b})
		}
	}
	// The test files are checked with the rule files, as `nudge check`
	// checks them (a number with too many digits in a step is the same
	// error there as in a rule), and after them, so that the rules keep
	// their order.
	tests := map[string]bool{}
	for _, p := range d.files {
		b, ds, err := lang.ReadFile(p)
		if err != nil {
			fmt.Fprintf(s.err, "nudge: %v\n", err)
			return ruletest.Suite{}, false
		}
		diags = append(diags, ds...)
		if b == nil {
			continue
		}
		tests[p] = true
		srcs = append(srcs, lang.Source{Name: p, Src: b})
	}
	prog, ds := lang.LoadSources(srcs, stdlib.Env())
	diags = append(diags, ds...)
	var files []*ast.File
	for _, f := range prog.Files {
		if !tests[f.Name] {
			continue
		}
		for _, decl := range f.Decls {
			switch decl.(type) {
			case *ast.TestDecl, *ast.BadDecl:
			default:
				diags.Errorf(decl.Pos(), "test", "a test file holds only test blocks; put rules, segments and policies in a file that does not end in _test.nudge")
			}
		}
		files = append(files, f)
	}
	var compiled *compiler.Program
	if !diags.HasErrors() {
		var cdiags diag.List
		compiled, cdiags = compiler.Compile(prog.Info)
		diags = append(diags, cdiags...)
	}
	diags = diags.Dedup()
	if len(diags) > 0 {
		diag.RenderText(s.err, diags, prog.Sources)
	}
	if diags.HasErrors() {
		return ruletest.Suite{}, false
	}
	return ruletest.Suite{Info: prog.Info, Program: compiled, Files: files}, true
}

// testReport collects the results of every directory.
type testReport struct {
	results  []*ruletest.Result
	coverage []*ruletest.CoverageReport
}

func (r *testReport) failed() int {
	n := 0
	for _, t := range r.results {
		if !t.Passed() {
			n++
		}
	}
	return n
}

func (r *testReport) summary() string {
	return fmt.Sprintf("%d passed, %d failed", len(r.results)-r.failed(), r.failed())
}

func (r *testReport) print(s *streams, format string) error {
	switch format {
	case "json":
		if err := r.printJSON(s.out); err != nil {
			return err
		}
		fmt.Fprintln(s.err, r.summary())
		return nil
	case "junit":
		if err := r.printJUnit(s.out); err != nil {
			return err
		}
		fmt.Fprintln(s.err, r.summary())
		return nil
	}
	w := s.out
	for _, t := range r.results {
		status := "PASS"
		if !t.Passed() {
			status = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s:%d  %s\n", status, t.File, t.Span.Start.Line, t.Name)
		for _, f := range t.Failures {
			fmt.Fprintf(w, "    %s: %s\n", posText(f), f.Message)
			if f.Tick > 0 && len(f.Diff) > 0 {
				fmt.Fprintf(w, "      tick %d at %s:\n", f.Tick, f.TickAt.Format("2006-01-02 15:04:05"))
			}
			for _, l := range f.Diff {
				fmt.Fprintf(w, "      %c %s\n", l.Op, l.Text)
			}
		}
	}
	for _, c := range r.coverage {
		c.WriteText(w)
	}
	fmt.Fprintln(w, r.summary())
	return nil
}

func posText(f ruletest.Failure) string {
	return fmt.Sprintf("%s:%d:%d", f.Span.File, f.Span.Start.Line, f.Span.Start.Col)
}

func diffText(f ruletest.Failure) string {
	var b strings.Builder
	if f.Tick > 0 && len(f.Diff) > 0 {
		fmt.Fprintf(&b, "tick %d at %s:\n", f.Tick, f.TickAt.Format("2006-01-02 15:04:05"))
	}
	for _, l := range f.Diff {
		fmt.Fprintf(&b, "%c %s\n", l.Op, l.Text)
	}
	return b.String()
}

type jsonFailure struct {
	File    string   `json:"file"`
	Line    int      `json:"line"`
	Col     int      `json:"col"`
	Message string   `json:"message"`
	Tick    int      `json:"tick,omitempty"`
	Diff    []string `json:"diff,omitempty"`
}

type jsonTest struct {
	File      string        `json:"file"`
	Line      int           `json:"line"`
	Name      string        `json:"name"`
	Passed    bool          `json:"passed"`
	Ticks     int           `json:"ticks"`
	ElapsedMS float64       `json:"elapsed_ms"`
	Failures  []jsonFailure `json:"failures"`
}

func (r *testReport) printJSON(w io.Writer) error {
	out := struct {
		Tests    []jsonTest                 `json:"tests"`
		Passed   int                        `json:"passed"`
		Failed   int                        `json:"failed"`
		Coverage []*ruletest.CoverageReport `json:"coverage,omitempty"`
	}{Tests: []jsonTest{}, Passed: len(r.results) - r.failed(), Failed: r.failed(), Coverage: r.coverage}
	for _, t := range r.results {
		jt := jsonTest{File: t.File, Line: t.Span.Start.Line, Name: t.Name, Passed: t.Passed(), Ticks: t.Ticks,
			ElapsedMS: float64(t.Elapsed.Microseconds()) / 1000, Failures: []jsonFailure{}}
		for _, f := range t.Failures {
			jf := jsonFailure{File: f.Span.File, Line: f.Span.Start.Line, Col: f.Span.Start.Col, Message: f.Message, Tick: f.Tick}
			for _, l := range f.Diff {
				jf.Diff = append(jf.Diff, string(l.Op)+" "+l.Text)
			}
			jt.Failures = append(jt.Failures, jf)
		}
		out.Tests = append(out.Tests, jt)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// JUnit XML, as read by CI systems (Jenkins, GitLab, GitHub actions).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func (r *testReport) printJUnit(w io.Writer) error {
	out := junitSuites{Tests: len(r.results), Failures: r.failed()}
	idx := map[string]int{}
	var total float64
	times := map[string]float64{}
	for _, t := range r.results {
		i, ok := idx[t.File]
		if !ok {
			i = len(out.Suites)
			idx[t.File] = i
			out.Suites = append(out.Suites, junitSuite{Name: t.File})
		}
		sec := t.Elapsed.Seconds()
		total += sec
		times[t.File] += sec
		jc := junitCase{Name: t.Name, Classname: strings.TrimSuffix(filepath.Base(t.File), lang.Ext), Time: fmt.Sprintf("%.3f", sec)}
		if !t.Passed() {
			var msgs []string
			var text strings.Builder
			for _, f := range t.Failures {
				msgs = append(msgs, f.Message)
				fmt.Fprintf(&text, "%s: %s\n%s", posText(f), f.Message, diffText(f))
			}
			jc.Failure = &junitFailure{Message: strings.Join(msgs, "; "), Type: "expectation", Text: text.String()}
			out.Suites[i].Failures++
		}
		out.Suites[i].Tests++
		out.Suites[i].Cases = append(out.Suites[i].Cases, jc)
	}
	for i := range out.Suites {
		out.Suites[i].Time = fmt.Sprintf("%.3f", times[out.Suites[i].Name])
	}
	out.Time = fmt.Sprintf("%.3f", total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
