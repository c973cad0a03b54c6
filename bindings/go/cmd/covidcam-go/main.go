// Command covidcam-go is the Go counterpart of the C example programs
// covidcam-classify and covidcam-gradcam: the same text and JSON output on
// the same inputs.
//
//	covidcam-go classify -m model.safetensors [-j] [-t N] IMAGE...
//	covidcam-go gradcam -m model.safetensors [-l LAYER] [-c CLASS] [-M METHOD]
//	        [-a ALPHA] [-j] [-t N] [-o OVERLAY.png] [--heatmap HEAT.png] IMAGE...
//
// Options come before the IMAGEs (Go's flag package stops at the first
// operand). The batch mode of covidcam-gradcam (--out-dir) and --npy are left
// to the C program.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: covidcam-go classify -m MODEL [-j] [-t N] IMAGE...
       covidcam-go gradcam -m MODEL [-l LAYER] [-c CLASS] [-M METHOD] [-a ALPHA]
                           [-j] [-t N] [-o OVERLAY.png] [--heatmap HEAT.png] IMAGE...
`

// run is main with its streams, for the tests; it returns the exit status:
// 0, 1 when an image failed, 2 on usage errors.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "classify":
		return classifyMain(args[1:], stdout, stderr)
	case "gradcam":
		return gradcamMain(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "covidcam-go: unknown command %q\n%s", args[0], usage)
	return 2
}

// options are the flags shared by both commands; each has a short and a long name.
type options struct {
	model   string
	json    bool
	threads int
}

func newFlags(name string, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("covidcam-go "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, n := range []string{"m", "model"} {
		fs.StringVar(&o.model, n, "", "covidcam safetensors model")
	}
	for _, n := range []string{"j", "json"} {
		fs.BoolVar(&o.json, n, false, "one JSON object per image and line")
	}
	for _, n := range []string{"t", "threads"} {
		fs.IntVar(&o.threads, n, 0, "oneDNN threads (0 = all cores)")
	}
	return fs
}

func parse(fs *flag.FlagSet, o *options, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	why := ""
	switch {
	case o.model == "":
		why = "--model is required"
	case fs.NArg() == 0:
		why = "no IMAGE given"
	case o.threads < 0 || o.threads > 1024:
		why = fmt.Sprintf("--threads needs an integer in [0, 1024], not '%d'", o.threads)
	}
	if why != "" {
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), why)
		fs.Usage()
		return 2
	}
	return -1
}

func open(prog string, o *options, stderr io.Writer) (*covidcam.Model, *covidcam.Session) {
	m, err := covidcam.Load(o.model)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot load model %s: %s\n", prog, o.model, describe(err))
		return nil, nil
	}
	s, err := m.NewSession(&covidcam.SessionOptions{Threads: o.threads})
	if err != nil {
		m.Close()
		fmt.Fprintf(stderr, "%s: cannot create a session: %s\n", prog, describe(err))
		return nil, nil
	}
	return m, s
}

// describe gives "status: message" as the C programs print it.
func describe(err error) string {
	var e *covidcam.Error
	if errors.As(err, &e) {
		return e.Status.Error() + ": " + e.Message
	}
	return err.Error()
}

// pad is printf's %-*s, which counts bytes.
func pad(s string, width int) string {
	if n := width - len(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

func elapsedMs(t0 time.Time) float64 {
	return math.Round(float64(time.Since(t0).Nanoseconds())/1e6*1e3) / 1e3
}
