package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The command must print exactly what the C example programs print on the
// same inputs (apart from the measured "ms") and exit with the same status.

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

var (
	root     = filepath.Join("..", "..", "..", "..")
	fixtures = envOr("CC_FIXTURES", filepath.Join(root, "tests", "fixtures"))
	shared   = envOr("CC_SHARED_DATA", filepath.Join(root, "..", "shared", "data", "cxr"))
	msField  = regexp.MustCompile(`,"ms":[-+0-9.e]+`)
	// what depends on time on stderr: the summary's time and rate, progress lines
	timeLine     = regexp.MustCompile(`(?m)^(covidcam[- ]\w+( \w+)?): [0-9.]+ s, [0-9.]+ images/s$`)
	progressLine = regexp.MustCompile(`(?m)^covidcam[- ]\w+( \w+)?: \d+/\d+ images \(\d+%\), .* ETA .*\n`)
)

func noTimes(s string) string {
	return progressLine.ReplaceAllString(timeLine.ReplaceAllString(s, "$1: TIME"), "")
}

func fixture(name string) string { return filepath.Join(fixtures, name) }

// cProgram finds a C example: $CC_EXAMPLE_<NAME>, else the build tree.
func cProgram(t *testing.T, tool string) string {
	if p := os.Getenv("CC_EXAMPLE_" + strings.ToUpper(tool)); p != "" {
		return p
	}
	p := filepath.Join(envOr("CC_BUILD_ROOT", filepath.Join(root, "build")), "examples",
		"covidcam-"+tool)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("covidcam-%s not built (set CC_EXAMPLE_%s or CC_BUILD_ROOT)", tool,
			strings.ToUpper(tool))
	}
	return p
}

func xrays(perClass int) []string {
	dirs, _ := filepath.Glob(filepath.Join(shared, "val", "*"))
	sort.Strings(dirs)
	var out []string
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.png"))
		sort.Strings(files)
		if len(files) > perClass {
			files = files[:perClass]
		}
		out = append(out, files...)
	}
	return out
}

// compare runs both programs; "@" at the start of an argument becomes a
// per-program directory. It returns the C exit status and stdout.
func compare(t *testing.T, tool string, args ...string) (int, string) {
	t.Helper()
	return compareIn(t, false, tool, args...)
}

// compareFresh is compare running the Go command as a process of its own
// (this test binary, TestMain), as the C program runs: the last digits of
// bf16 and fp32 results depend on the precision of the first session the
// library creates in a process, so runs inside this one after others in
// another precision need not match the C program's.
func compareFresh(t *testing.T, tool string, args ...string) (int, string) {
	t.Helper()
	return compareIn(t, true, tool, args...)
}

// runProcess runs this test binary as covidcam-go; its exit status.
func runProcess(t *testing.T, args []string, stdout, stderr *bytes.Buffer) int {
	cmd := exec.Command(selfPath(t), args...)
	cmd.Env = append(os.Environ(), "COVIDCAM_GO_CLI=1")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		return ee.ExitCode()
	}
	return 0
}

func compareIn(t *testing.T, fresh bool, tool string, args ...string) (int, string) {
	t.Helper()
	exe := cProgram(t, tool)
	cDir, goDir := t.TempDir(), t.TempDir()
	subst := func(dir string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = a
			if strings.HasPrefix(a, "@") {
				out[i] = dir + a[1:]
			}
		}
		return out
	}
	cmd := exec.Command(exe, subst(cDir)...)
	var cOut, cErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cOut, &cErr
	cRC := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		cRC = ee.ExitCode()
	}
	var goOut, goErr bytes.Buffer
	var goRC int
	if fresh {
		goRC = runProcess(t, append([]string{tool}, subst(goDir)...), &goOut, &goErr)
	} else {
		goRC = run(append([]string{tool}, subst(goDir)...), &goOut, &goErr)
	}
	norm := func(s, dir string) string {
		return strings.ReplaceAll(noTimes(msField.ReplaceAllString(s, "")), dir, "@")
	}
	if goRC != cRC {
		t.Errorf("%v: exit %d, C %d\nC stderr: %s\nGo stderr: %s", args, goRC, cRC, cErr.String(),
			goErr.String())
	}
	if g, c := norm(goOut.String(), goDir), norm(cOut.String(), cDir); g != c {
		t.Errorf("%v: stdout differs\nC:  %s\nGo: %s", args, c, g)
	}
	// Messages match too, apart from the program name; usage errors come
	// from different option parsers.
	cMsg := strings.ReplaceAll(norm(cErr.String(), cDir), "covidcam-"+tool, "covidcam-go "+tool)
	if g := norm(goErr.String(), goDir); cRC != 2 && g != cMsg {
		t.Errorf("%v: stderr differs\nC:  %s\nGo: %s", args, cMsg, g)
	}
	names, _ := filepath.Glob(filepath.Join(cDir, "*"))
	for _, n := range names {
		want, _ := os.ReadFile(n)
		got, err := os.ReadFile(filepath.Join(goDir, filepath.Base(n)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%v: output %s differs (%v)", args, filepath.Base(n), err)
		}
	}
	return cRC, cOut.String()
}

func TestClassifyMatchesC(t *testing.T) {
	files := xrays(4)
	if len(files) == 0 {
		t.Log("no shared X-rays: fixtures only")
	}
	basic := fixture("basic.safetensors")
	args := append([]string{"-m", basic, "-t", "1", "--json", fixture("sample_97x131.png")},
		files...)
	rc, out := compare(t, "classify", append(args, "/nonexistent.png", basic)...)
	if rc != 1 || strings.Count(out, "\n") != len(files)+3 {
		t.Errorf("C exit %d with %d lines", rc, strings.Count(out, "\n"))
	}
	compare(t, "classify", "-m", fixture("bottleneck.safetensors"), "-t", "1",
		fixture("sample_97x131.png"), fixture("sample_64.png"))
	compare(t, "classify", "-m", "/nonexistent.safetensors", fixture("sample_64.png"))
}

func TestGradCAMMatchesC(t *testing.T) {
	basic, bottleneck := fixture("basic.safetensors"), fixture("bottleneck.safetensors")
	sample := fixture("sample_97x131.png")
	for _, method := range []string{"gradcam", "gradcam++", "layercam"} {
		compare(t, "gradcam", "-m", bottleneck, "-t", "1", "-M", method, "-a", "0.25",
			"-o", "@/o.png", "--heatmap", "@/h.png", "-c", "2", sample)
		compare(t, "gradcam", "-m", basic, "-t", "1", "-j", "-M", method, "-l", "layer3",
			"-o", "@/o.png", sample)
	}
	for _, f := range xrays(2) {
		compare(t, "gradcam", "-m", basic, "-t", "1", "-j", "-c", "COVID", "-l", "layer2.0",
			"-o", "@/o.png", f)
	}
	if rc, _ := compare(t, "gradcam", "-m", basic, "-o", "/nonexistent/o.png", sample); rc != 1 {
		t.Errorf("C exit %d for an unwritable overlay", rc)
	}
	rc, _ := compare(t, "gradcam", "-m", basic, "-j", sample, fixture("sample_64.png"),
		"/nonexistent.png")
	if rc != 1 {
		t.Errorf("C exit %d for a missing image", rc)
	}
	for _, bad := range [][]string{{"-l", "nope"}, {"-c", "7"}, {"-c", "Flu"}} {
		if rc, _ := compare(t, "gradcam", append(append([]string{"-m", basic}, bad...),
			sample)...); rc != 2 {
			t.Errorf("%v: C exit %d", bad, rc)
		}
	}
}

// TestPrecisionMatchesC: --precision on both commands, a bad value (usage
// error), int8 (reserved: the session cannot be created) and auto.
func TestPrecisionMatchesC(t *testing.T) {
	basic, sample := fixture("basic.safetensors"), fixture("sample_97x131.png")
	for _, tool := range []string{"classify", "gradcam"} {
		if rc, _ := compareFresh(t, tool, "-m", basic, "--precision", "x", sample); rc != 2 {
			t.Errorf("%s --precision x: C exit %d", tool, rc)
		}
		if rc, _ := compareFresh(t, tool, "-m", basic, "-t", "1", "--precision", "int8",
			sample); rc != 1 {
			t.Errorf("%s --precision int8: C exit %d", tool, rc)
		}
		for _, p := range []string{"auto", "fp32"} {
			if rc, _ := compareFresh(t, tool, "-m", basic, "-t", "1", "-j", "--precision", p,
				sample, fixture("sample_64.png")); rc != 0 {
				t.Errorf("%s --precision %s: C exit %d", tool, p, rc)
			}
		}
	}
	compareFresh(t, "classify", append([]string{"-m", basic, "-t", "1", "--precision", "auto"},
		xrays(1)...)...)
}

// TestBatchMatchesC: classify --batch N gives the output of one by one, in
// input order, with the per-image errors of a folder's bad file and of a
// missing operand inside the chunks.
func TestBatchMatchesC(t *testing.T) {
	basic := fixture("basic.safetensors")
	dir := t.TempDir()
	files := []string{fixture("sample_97x131.png"), fixture("sample_64.png"),
		fixture(filepath.Join("png", "err_bad_zlib.png"))}
	for _, f := range append(files, xrays(1)...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image\n"), 0o644)
	for _, n := range []string{"2", "3"} {
		rc, out := compareFresh(t, "classify", "-m", basic, "-t", "1", "-J", "2", "--batch", n,
			"--json", "--csv", "@/rows.csv", dir, "/nonexistent.png", fixture("sample_64.png"))
		if rc != 1 || strings.Count(out, "\n") < 5 {
			t.Errorf("--batch %s: C exit %d with %d lines", n, rc, strings.Count(out, "\n"))
		}
		compareFresh(t, "classify", "-m", basic, "-t", "1", "--batch", n, dir)
	}
	for _, n := range []string{"0", "257", "x"} {
		if rc, _ := compareFresh(t, "classify", "-m", basic, "--batch", n, dir); rc != 2 {
			t.Errorf("--batch %s: C exit %d", n, rc)
		}
	}
}

// TestNewOptionMessages: the usage errors of --precision and --batch say
// what the C programs say.
func TestNewOptionMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"classify", "-m", "x", "--precision", "x", "a.png"},
			"covidcam-go classify: --precision needs fp32, bf16, int8 or auto, not 'x'\n"},
		{[]string{"gradcam", "-m", "x", "--precision", "FP32", "a.png"},
			"covidcam-go gradcam: --precision needs fp32, bf16, int8 or auto, not 'FP32'\n"},
		{[]string{"classify", "-m", "x", "--batch", "0", "a.png"},
			"covidcam-go classify: --batch needs an integer in [1, 256], not '0'\n"},
		{[]string{"classify", "-m", "x", "--batch", "2x", "a.png"},
			"covidcam-go classify: --batch needs an integer in [1, 256], not '2x'\n"},
	} {
		var out, errb bytes.Buffer
		if rc := run(c.args, &out, &errb); rc != 2 || !strings.HasPrefix(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, rc, errb.String(), c.want)
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"gradcam", "-m", "x", "--batch", "2", "a.png"}, &out, &errb); rc != 2 {
		t.Errorf("gradcam --batch: exit %d, want 2 (classify only)", rc)
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{}, {"classify"}, {"classify", "-m", "x"},
		{"gradcam", "-m", "x", "-M", "saliency", "a.png"}, {"gradcam", "-m", "x", "-a", "2",
			"a.png"}, {"gradcam", "-m", "x", "-o", "o.png", "a.png", "b.png"},
		{"classify", "-t", "-1", "-m", "x", "a.png"}, {"frobnicate"}} {
		if rc := run(args, &out, &errb); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
}
