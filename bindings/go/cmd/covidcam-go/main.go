// Command covidcam-go is the Go counterpart of the C example programs
// covidcam-classify and covidcam-gradcam: the same text and JSON output on
// the same inputs.
//
//	covidcam-go classify -m model.safetensors [-j] [--csv FILE] [-t N] [-J N]
//	        [--precision P] [--batch N] [--pattern GLOB] [-q] IMAGE|FOLDER|-...
//	covidcam-go gradcam -m model.safetensors [-l LAYER] [-c CLASS] [-M METHOD]
//	        [-a ALPHA] [-j] [--csv FILE] [-t N] [-J N] [--pattern GLOB]
//	        [--precision P] [-q]
//	        [-o OVERLAY.png] [--heatmap HEAT.png] [--npy MAP.npy] IMAGE|FOLDER|-...
//	covidcam-go gradcam ... --out-dir DIR [--overlay] [--heatmap] [--npy] IMAGE|FOLDER|-...
//
// Options come before the IMAGEs (Go's flag package stops at the first
// operand).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: covidcam-go classify -m MODEL [-j] [--csv FILE] [-t N] [-J N]
                            [--precision P] [--batch N] [--pattern GLOB] [-q]
                            IMAGE|FOLDER|-...
       covidcam-go gradcam -m MODEL [-l LAYER] [-c CLASS] [-M METHOD] [-a ALPHA]
                           [-j] [--csv FILE] [-t N] [-J N] [--pattern GLOB]
                           [--precision P] [-q]
                           [-o OVERLAY.png] [--heatmap HEAT.png] [--npy MAP.npy]
                           IMAGE|FOLDER|-...
       covidcam-go gradcam ... --out-dir DIR [--overlay] [--heatmap] [--npy]
                           IMAGE|FOLDER|-...
Options and their meaning are those of covidcam-classify and covidcam-gradcam.
`

// run is main with its streams, for the tests; it returns the exit status:
// 0, 1 when an image failed, 2 on usage errors.
func run(args []string, stdout, stderr io.Writer) int {
	return runIn(args, os.Stdin, stdout, stderr)
}

// runIn is run reading "-" lists from stdin.
func runIn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "classify":
		return classifyMain(args[1:], stdin, stdout, stderr)
	case "gradcam":
		return gradcamMain(args[1:], stdin, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "covidcam-go: unknown command %q\n%s", args[0], usage)
	return 2
}

// options are the flags shared by both commands; each has a short and a long name.
type options struct {
	model, csv, pattern string
	json, quiet         bool
	threads, jobs       int
	threadsSet          bool
	usePattern          bool
	precisionArg        string // --precision as given
	precision           covidcam.Precision
	batchArg            string // classify --batch as given
	batch               int    // images per ClassifyFiles call; 0: one by one
}

// Help texts of the C programs (covidcam-classify's usage()).
var (
	precisionHelp = "fp32 (default), bf16 (CPUs with AVX512-BF16 or AMX), int8\n" +
		"(files made by covidcam-quantize) or auto (int8 for such\n" +
		"files, else bf16 where the CPU has it, else fp32)"
	batchHelp = fmt.Sprintf("classify N images per network pass in each worker (1 to\n"+
		"%d, default 1); results agree with one by one up to\n"+
		"float rounding (last digits of --json values)", covidcam.MaxBatchLimit)
)

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
		fs.IntVar(&o.threads, n, 0, "oneDNN threads per worker (default: cores / workers)")
	}
	for _, n := range []string{"J", "jobs"} {
		fs.IntVar(&o.jobs, n, 0, "workers, one session each (default: min(cores, 8))")
	}
	for _, n := range []string{"q", "quiet"} {
		fs.BoolVar(&o.quiet, n, false, "no progress and no summary on stderr")
	}
	fs.StringVar(&o.csv, "csv", "", "also write one CSV row per image to FILE")
	fs.StringVar(&o.pattern, "pattern", "", "only files in FOLDERs whose name matches GLOB")
	fs.StringVar(&o.precisionArg, "precision", "fp32", precisionHelp)
	if name == "classify" {
		fs.StringVar(&o.batchArg, "batch", "1", batchHelp)
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
	case o.jobs < 0 || o.jobs > 1024:
		why = fmt.Sprintf("--jobs needs an integer in [1, 1024], not '%d'", o.jobs)
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "t", "threads":
			o.threadsSet = true
		case "pattern":
			o.usePattern = true
		case "J", "jobs":
			if o.jobs == 0 {
				why = "--jobs needs an integer in [1, 1024], not '0'"
			}
		case "precision":
			p, err := covidcam.ParsePrecision(o.precisionArg)
			if err != nil {
				why = fmt.Sprintf("--precision needs fp32, bf16, int8 or auto, not '%s'",
					o.precisionArg)
			}
			o.precision = p
		case "batch":
			n, ok := parseInt(o.batchArg, 1, covidcam.MaxBatchLimit)
			if !ok {
				why = fmt.Sprintf("--batch needs an integer in [1, %d], not '%s'",
					covidcam.MaxBatchLimit, o.batchArg)
			}
			o.batch = n
		}
	})
	if why != "" {
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), why)
		fs.Usage()
		return 2
	}
	return -1
}

// parseInt is cli_parse_int: a whole decimal integer (strtol's syntax:
// leading white space, a sign) in [lo, hi].
func parseInt(s string, lo, hi int) (int, bool) {
	v, err := strconv.ParseInt(strings.TrimLeft(s, " \t\n\v\f\r"), 10, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		return 0, false
	}
	return int(v), true
}

// open loads the model and makes n sessions of it with `threads` threads
// each, in --precision, taking --batch images per batch call (cli_open_pool).
func open(prog string, o *options, threads, n int, stderr io.Writer) (*covidcam.Model,
	[]*covidcam.Session) {
	m, err := covidcam.Load(o.model)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot load model %s: %s\n", prog, o.model, describe(err))
		return nil, nil
	}
	var sessions []*covidcam.Session
	for i := 0; i < n; i++ {
		s, err := m.NewSession(&covidcam.SessionOptions{Threads: threads,
			Precision: o.precision, MaxBatch: o.batch})
		if err != nil {
			closeAll(sessions)
			m.Close()
			fmt.Fprintf(stderr, "%s: cannot create a session: %s\n", prog, describe(err))
			return nil, nil
		}
		sessions = append(sessions, s)
	}
	return m, sessions
}

func closeAll(sessions []*covidcam.Session) {
	for _, s := range sessions {
		s.Close()
	}
}

// expandInputs lists the images of the operands; nil after a message when
// there is none.
func expandInputs(prog string, fs *flag.FlagSet, o *options, stdin io.Reader,
	stderr io.Writer) *inputs {
	in := expand(fs.Args(), o.pattern, o.usePattern, stdin)
	if len(in.items) == 0 {
		fmt.Fprintf(stderr, "%s: no images found in the given folders or list\n", prog)
		return nil
	}
	return in
}

// createFile opens a CSV or index file; nil after a message.
func createFile(prog, path string, stderr io.Writer) *os.File {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(err))
		return nil
	}
	return f
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
