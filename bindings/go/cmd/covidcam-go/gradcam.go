package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// covidcam-go gradcam: examples/covidcam-gradcam.c in Go (single-image outputs).
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
		if o.json {
			fmt.Fprintln(stdout, errorLine(file, err))
		}
		return 1
	}
	defer hm.Close()
	info, _ := hm.ImageInfo()
	trust, _ := hm.Assessment()
	warnings := append(info.Warnings(), trust.Sentences()...)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: %s: warning: %s\n", prog, file, w)
	}
	outputs, err := writeOutputs(hm, o)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %s\n", prog, file, describe(err))
		if o.json {
			fmt.Fprintln(stdout, errorLine(file, err))
		}
		return 1
	}
	r := hm.Result()
	if o.json {
		w, h := hm.RawSize()
		line := append(fileFields("file", file), object{{"top", r.Label},
			{"probabilities", classMap(r.Classes, r.Probabilities)},
			{"class", hm.ClassName()}, {"probability", f32(hm.Probability())},
			{"method", hm.Method().String()}, {"layer", hm.Layer()},
			{"raw_size", []int{h, w}}, {"outputs", outputs}, {"ms", ms},
			{"image", imageObject(info)}}...)
		fmt.Fprintln(stdout, dumps(append(line, trustFields(trust, warnings)...)))
		return 0
	}
	fmt.Fprintf(stdout, "%s: %s (%.4f); %s of %s (%.4f) at %s\n", file, r.Label,
		r.Probabilities[r.Top], hm.Method(), hm.ClassName(), hm.Probability(), hm.Layer())
	for i, c := range r.Classes {
		fmt.Fprintf(stdout, "  %s %.4f\n", pad(c, 20), r.Probabilities[i])
	}
	for _, f := range outputs {
		if !strings.HasSuffix(f.key, "_bytes") {
			fmt.Fprintf(stdout, "  %s %s\n", pad(f.key, 8), f.value)
		}
	}
	if line := trust.OODLine(); line != "" {
		fmt.Fprintln(stdout, line)
	}
	return 0
}

// writeOutputs writes the requested files and lists them as the JSON
// "outputs" object, or returns the first failure (naming the output).
func writeOutputs(hm *covidcam.Heatmap, o *camOptions) (object, error) {
	outputs := object{}
	if o.overlay != "" {
		if err := hm.WriteOverlay(o.overlay, float32(o.alpha)); err != nil {
			return nil, outputError("overlay", o.overlay, err)
		}
		outputs = append(outputs, fileFields("overlay", o.overlay)...)
	}
	if o.heatmap != "" {
		if err := hm.WriteColormap(o.heatmap); err != nil {
			return nil, outputError("heatmap", o.heatmap, err)
		}
		outputs = append(outputs, fileFields("heatmap", o.heatmap)...)
	}
	return outputs, nil
}

// outputError names the output in the message, as the C program does.
func outputError(kind, path string, err error) error {
	var e *covidcam.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s %s: %w", kind, path, err)
	}
	return &covidcam.Error{Op: e.Op, Status: e.Status,
		Message: fmt.Sprintf("%s %s: %s", kind, path, e.Message)}
}
