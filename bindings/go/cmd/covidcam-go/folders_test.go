package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary act as covidcam-go itself (COVIDCAM_GO_CLI=1),
// so that tests/formats/cli_folders.py can run it as a program: folders,
// stdin lists, --pattern, --csv, the pool, the summary and --out-dir are
// checked there, for every front end, against values it computes itself.
func TestMain(m *testing.M) {
	if os.Getenv("COVIDCAM_GO_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestFolders(t *testing.T) {
	script := filepath.Join(envOr("CC_SOURCE_ROOT", root), "tests", "formats", "cli_folders.py")
	self := selfPath(t)
	args := []string{script, fixtures, shared, "--classify", self + " classify",
		"--gradcam", self + " gradcam"}
	build := envOr("CC_BUILD_ROOT", filepath.Join(root, "build"))
	for _, tool := range []string{"classify", "gradcam"} {
		if p := filepath.Join(build, "examples", "covidcam-"+tool); fileExists(p) {
			args = append(args, "--reference-"+tool, p)
		}
	}
	runScript(t, args)
}

// TestCAMOptions runs tests/formats/cli_cam_options.py on this command:
// every method, layer lists, --eigen-smooth, --aug-smooth and --label, maps
// equal to the Python binding's, byte-identical to the C program if built.
func TestCAMOptions(t *testing.T) {
	src := envOr("CC_SOURCE_ROOT", root)
	script := filepath.Join(src, "tests", "formats", "cli_cam_options.py")
	args := []string{script, fixtures, src, "--gradcam", selfPath(t) + " gradcam"}
	build := envOr("CC_BUILD_ROOT", filepath.Join(root, "build"))
	if p := filepath.Join(build, "examples", "covidcam-gradcam"); fileExists(p) {
		args = append(args, "--reference", p)
	}
	runScript(t, args)
}

// selfPath is this test binary, which acts as covidcam-go (TestMain).
func selfPath(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// runScript runs a tests/formats script (args[0]) with python3 on this
// binary as the command under test; skips without python3.
func runScript(t *testing.T, args []string) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "COVIDCAM_GO_CLI=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", args[0], err, out)
	}
	t.Logf("%s", out)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
