package report

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromiumPath is the browser the HTML check runs: where Debian's chromium
// package installs it (`apt-get install -y chromium`; .ci/run installs it),
// or NUDGE_CHROMIUM.
var chromiumPath = cmp.Or(os.Getenv("NUDGE_CHROMIUM"), "/usr/bin/chromium")

// chromiumRequired reports whether the environment demands the browser
// check: in CI (CI set, as .ci/run and CI services do) or with
// NUDGE_REQUIRE_CHROMIUM=1.
func chromiumRequired(getenv func(string) string) bool {
	return getenv("CI") != "" || getenv("NUDGE_REQUIRE_CHROMIUM") == "1"
}

// requireChromium skips the test when Chromium is not installed, unless
// the environment requires it (chromiumRequired): then the test fails, so
// CI cannot pass without the browser check.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	msg := fmt.Sprintf("headless Chromium is not installed at %s (install Debian's package: apt-get install -y chromium)", chromiumPath)
	if chromiumRequired(os.Getenv) {
		t.Fatalf("%s; CI or NUDGE_REQUIRE_CHROMIUM=1 requires the browser rendering check", msg)
	}
	t.Skipf("%s; skipping the browser rendering check (set NUDGE_REQUIRE_CHROMIUM=1 to make this a failure)", msg)
}

// TestRequireChromium runs TestHTMLRendersInChromium in a child process
// with no browser at NUDGE_CHROMIUM: it must fail where the environment
// requires the check and skip elsewhere.
func TestRequireChromium(t *testing.T) {
	if os.Getenv("NUDGE_CHROMIUM") != "" {
		t.Skip("running as the child of TestRequireChromium")
	}
	cases := []struct {
		name string
		env  []string
		fail bool
		want string
	}{
		{"CI", []string{"CI=true"}, true, "requires the browser rendering check"},
		{"NUDGE_REQUIRE_CHROMIUM", []string{"NUDGE_REQUIRE_CHROMIUM=1"}, true, "requires the browser rendering check"},
		{"local", nil, false, "SKIP: TestHTMLRendersInChromium"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestHTMLRendersInChromium$", "-test.v")
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); k != "CI" && k != "NUDGE_REQUIRE_CHROMIUM" {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(append(cmd.Env, "NUDGE_CHROMIUM="+filepath.Join(t.TempDir(), "no-chromium")), c.env...)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != c.fail {
				t.Fatalf("child failed=%v (%v), want %v:\n%s", failed, err, c.fail, out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("child output lacks %q:\n%s", c.want, out)
			}
		})
	}
}

// chromium runs headless Chromium on file with extra flags and returns its
// standard output.
// A browser that dies of a signal (Chromium sometimes segfaults on a
// loaded machine, before it reads the page) is run once more: its crash
// says nothing of the report.
func chromium(t *testing.T, file string, extra ...string) []byte {
	t.Helper()
	for attempt := 1; ; attempt++ {
		out, errb, err := runChromium(t, file, extra)
		var exit *exec.ExitError
		// (ExitCode is -1 for a process a signal ended, and for one the
		// timeout killed, which runChromium reports as the context's error.)
		if attempt == 1 && errors.As(err, &exit) && exit.ExitCode() == -1 {
			t.Logf("chromium %v died (%v); running it again", extra, err)
			continue
		}
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, errb)
		}
		return out
	}
}

func runChromium(t *testing.T, file string, extra []string) (out, errOut []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, extra...)
	args = append(args, "file://"+file)
	cmd := exec.CommandContext(ctx, chromiumPath, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err = cmd.Run(); ctx.Err() != nil {
		err = ctx.Err()
	}
	return o.Bytes(), e.Bytes(), err
}

var rectRE = regexp.MustCompile(`<rect class="([^"]*)" x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)"`)

// TestHTMLRendersInChromium opens the HTML report in headless Chromium:
// the DOM Chromium built must hold the charts' bars with the expected
// heights, and a screenshot must show the bars' colours.
func TestHTMLRendersInChromium(t *testing.T) {
	requireChromium(t)
	db, prog := fixture(t)
	rep, err := Build(context.Background(), db, Options{Program: prog, End: t0.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// One browser run dumps the DOM and takes the screenshot.
	shot := filepath.Join(t.TempDir(), "shot.png")
	dom := chromium(t, file, "--dump-dom", "--screenshot="+shot, "--window-size=1000,1400", "--hide-scrollbars")
	var heights []string
	var classes []string
	for _, m := range rectRE.FindAllSubmatch(dom, -1) {
		classes = append(classes, string(m[1]))
		heights = append(heights, string(m[2]))
	}
	// welcome: rate bars .25 and .10 scaled to 160px; histogram shares
	// .4 .2 .1 .1 .2 0 scaled to 160px. store_a: rates .3 and .2; all
	// conversions on day 1.
	want := []string{"160", "64", "160", "80", "40", "40", "80", "0", "160", "106.7", "0", "160", "0", "0", "0", "0"}
	if len(heights) != len(want) {
		t.Fatalf("DOM has %d bars %v, want %d\n%s", len(heights), heights, len(want), dom)
	}
	nonZero := 0
	for i := range want {
		if heights[i] != want[i] {
			t.Errorf("bar %d (%s): height %s, want %s", i, classes[i], heights[i], want[i])
		}
		if h, _ := strconv.ParseFloat(heights[i], 64); h > 0 {
			nonZero++
		}
	}
	if nonZero < 8 {
		t.Errorf("only %d bars have a height", nonZero)
	}

	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	treated, day := countColour(img, 0x2b, 0x7b, 0xb9), countColour(img, 0xe0, 0x7b, 0x39)
	t.Logf("screenshot %v: %d px of treated-bar blue, %d px of histogram orange", img.Bounds().Size(), treated, day)
	// a 44x160 bar is 7040 px; the histogram of welcome alone is 44*400 px
	if treated < 7040 || day < 44*400 {
		t.Errorf("the screenshot shows too few bar pixels: %d blue, %d orange", treated, day)
	}
	if dst := os.Getenv("NUDGE_REPORT_SCREENSHOT"); dst != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(dst, b, 0o644)
	}
}

// countColour counts the pixels of img with exactly the colour r, g, b.
func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint8(cr>>8) == r && uint8(cg>>8) == g && uint8(cb>>8) == b {
				n++
			}
		}
	}
	return n
}
