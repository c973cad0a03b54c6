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
	"strconv"
	"strings"
	"time"

	"covidcam"
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

// ------------------------------------------------------------------ classify

func classifyMain(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := newFlags("classify", &o, stderr)
	if rc := parse(fs, &o, args); rc >= 0 {
		return rc
	}
	m, s := open(fs.Name(), &o, stderr)
	if m == nil {
		return 1
	}
	defer m.Close()
	defer s.Close()
	failed := 0
	for _, f := range fs.Args() {
		t0 := time.Now()
		r, err := s.Classify(f)
		ms := elapsedMs(t0)
		if err != nil {
			failed = 1
			fmt.Fprintf(stderr, "%s: %s: %s\n", fs.Name(), f, describe(err))
			if o.json {
				var e *covidcam.Error
				errors.As(err, &e)
				fmt.Fprintln(stdout, dumps(object{{"file", f}, {"status", e.Status.Error()},
					{"error", e.Message}}))
			}
			continue
		}
		if o.json {
			fmt.Fprintln(stdout, dumps(object{{"file", f}, {"top", r.Label},
				{"probabilities", classMap(r.Classes, r.Probabilities)},
				{"logits", classMap(r.Classes, r.Logits)}, {"ms", ms}}))
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", f, r.Label)
		for i, c := range r.Classes {
			fmt.Fprintf(stdout, "  %s %.4f\n", pad(c, 20), r.Probabilities[i])
		}
	}
	return failed
}

// ------------------------------------------------------------------ gradcam

type camOptions struct {
	options
	layer, class, method string
	alpha                float64
	overlay, heatmap     string
}

func gradcamMain(args []string, stdout, stderr io.Writer) int {
	var o camOptions
	fs := newFlags("gradcam", &o.options, stderr)
	for _, n := range []string{"l", "layer"} {
		fs.StringVar(&o.layer, n, "", "target block: layer4 (default), layer3, layer2.0...")
	}
	for _, n := range []string{"c", "class"} {
		fs.StringVar(&o.class, n, "", "class to explain, name or index (default: top)")
	}
	for _, n := range []string{"M", "method"} {
		fs.StringVar(&o.method, n, "gradcam", "gradcam, gradcam++ or layercam")
	}
	for _, n := range []string{"a", "alpha"} {
		fs.Float64Var(&o.alpha, n, 0.5, "heatmap opacity in the overlay, 0..1")
	}
	for _, n := range []string{"o", "overlay"} {
		fs.StringVar(&o.overlay, n, "", "write the overlay PNG (one IMAGE only)")
	}
	fs.StringVar(&o.heatmap, "heatmap", "", "write the colormap PNG (one IMAGE only)")
	if rc := parse(fs, &o.options, args); rc >= 0 {
		return rc
	}
	opts, rc := camArgs(fs, &o)
	if rc >= 0 {
		return rc
	}
	m, s := open(fs.Name(), &o.options, stderr)
	if m == nil {
		return 1
	}
	defer m.Close()
	defer s.Close()
	if rc := resolve(fs.Name(), m, &o, opts, stderr); rc >= 0 {
		return rc
	}
	failed := 0
	for _, f := range fs.Args() {
		failed |= explain(fs.Name(), s, &o, opts, f, stdout, stderr)
	}
	return failed
}

func camArgs(fs *flag.FlagSet, o *camOptions) (*covidcam.GradCAMOptions, int) {
	method, err := covidcam.ParseMethod(o.method)
	why := ""
	switch {
	case err != nil:
		why = fmt.Sprintf("unknown method '%s' (gradcam, gradcam++, layercam)", o.method)
	case !(o.alpha >= 0 && o.alpha <= 1):
		why = fmt.Sprintf("--alpha needs a number in [0, 1], not '%g'", o.alpha)
	case fs.NArg() > 1 && (o.overlay != "" || o.heatmap != ""):
		why = "several IMAGEs cannot share one output file"
	}
	if why != "" {
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), why)
		return nil, 2
	}
	return &covidcam.GradCAMOptions{Method: method, Layer: o.layer}, -1
}

// resolve checks --layer and turns --class (name, else index) into opts.
func resolve(prog string, m *covidcam.Model, o *camOptions, opts *covidcam.GradCAMOptions,
	stderr io.Writer) int {
	if o.layer != "" && !contains(m.Layers(), o.layer) {
		fmt.Fprintf(stderr, "%s: unknown --layer '%s'; this model has: %s\n", prog, o.layer,
			strings.Join(m.Layers(), " "))
		return 2
	}
	if o.class == "" {
		return -1
	}
	opts.UseClass = true
	if opts.Class = m.ClassIndex(o.class); opts.Class >= 0 {
		return -1
	}
	n := m.NumClasses()
	if i, err := strconv.Atoi(o.class); err == nil && i >= 0 && i < n {
		opts.Class = i
		return -1
	}
	fmt.Fprintf(stderr, "%s: --class '%s' is neither a class name nor an index in [0, %d]: %s\n",
		prog, o.class, n-1, strings.Join(m.Classes(), " "))
	return 2
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func explain(prog string, s *covidcam.Session, o *camOptions, opts *covidcam.GradCAMOptions,
	file string, stdout, stderr io.Writer) int {
	t0 := time.Now()
	hm, err := s.GradCAM(file, opts)
	ms := elapsedMs(t0)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %s\n", prog, file, describe(err))
		return 1
	}
	defer hm.Close()
	outputs := object{}
	if o.overlay != "" {
		if err := hm.WriteOverlay(o.overlay, float32(o.alpha)); err != nil {
			fmt.Fprintf(stderr, "%s: %s: %s\n", prog, o.overlay, describe(err))
			return 1
		}
		outputs = append(outputs, field{"overlay", o.overlay})
	}
	if o.heatmap != "" {
		if err := hm.WriteColormap(o.heatmap); err != nil {
			fmt.Fprintf(stderr, "%s: %s: %s\n", prog, o.heatmap, describe(err))
			return 1
		}
		outputs = append(outputs, field{"heatmap", o.heatmap})
	}
	r := hm.Result()
	if o.json {
		w, h := hm.RawSize()
		fmt.Fprintln(stdout, dumps(object{{"file", file}, {"top", r.Label},
			{"probabilities", classMap(r.Classes, r.Probabilities)},
			{"class", hm.ClassName()}, {"probability", f32(hm.Probability())},
			{"method", hm.Method().String()}, {"layer", hm.Layer()},
			{"raw_size", []int{h, w}}, {"outputs", outputs}, {"ms", ms}}))
		return 0
	}
	fmt.Fprintf(stdout, "%s: %s (%.4f); %s of %s (%.4f) at %s\n", file, r.Label,
		r.Probabilities[r.Top], hm.Method(), hm.ClassName(), hm.Probability(), hm.Layer())
	for i, c := range r.Classes {
		fmt.Fprintf(stdout, "  %s %.4f\n", pad(c, 20), r.Probabilities[i])
	}
	for _, f := range outputs {
		fmt.Fprintf(stdout, "  %s %s\n", pad(f.key, 8), f.value)
	}
	return 0
}
