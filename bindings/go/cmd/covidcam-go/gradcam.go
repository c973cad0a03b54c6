package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// covidcam-go gradcam: examples/covidcam-gradcam.c in Go.
type camOptions struct {
	options
	layer, class, method  string
	augSmooth             string
	eigenSmooth, label    bool
	alpha                 float64
	overlay, heatmap, npy string
	outDir                string
	batch                 bool // --out-dir: the output options are switches
}

// batchMode is true when --out-dir is among the options, which then makes
// --overlay, --heatmap and --npy switches rather than file names.
func batchMode(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		n := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && (n == "out-dir" || strings.HasPrefix(n, "out-dir=")) {
			return true
		}
	}
	return false
}

type switchFlag struct{ p *string }

func (f switchFlag) String() string { return "" }
func (f switchFlag) Set(v string) error {
	if v == "true" {
		*f.p = "yes"
	} else if v != "false" {
		return fmt.Errorf("takes no value with --out-dir")
	}
	return nil
}
func (f switchFlag) IsBoolFlag() bool { return true }

func gradcamFlags(o *camOptions, args []string, stderr io.Writer) *flag.FlagSet {
	fs := newFlags("gradcam", &o.options, stderr)
	for _, n := range []string{"l", "layer"} {
		fs.StringVar(&o.layer, n, "",
			"target block: layer4 (default), layer3, layer2.0...; several, comma-separated")
	}
	for _, n := range []string{"c", "class"} {
		fs.StringVar(&o.class, n, "", "class to explain, name or index (default: top)")
	}
	for _, n := range []string{"M", "method"} {
		fs.StringVar(&o.method, n, "gradcam", "the CAM method: "+methodList())
	}
	fs.BoolVar(&o.eigenSmooth, "eigen-smooth", false,
		"first principal component instead of the weighted sum")
	fs.StringVar(&o.augSmooth, "aug-smooth", "none", "none, intensity or flip (docs/gradcam.md)")
	fs.BoolVar(&o.label, "label", false,
		"draw the class, probability, method and layer and a colour bar on the overlay")
	for _, n := range []string{"a", "alpha"} {
		fs.Float64Var(&o.alpha, n, 0.5, "heatmap opacity in the overlay, 0..1")
	}
	fs.StringVar(&o.outDir, "out-dir", "", "write the outputs of every image under DIR")
	o.batch = batchMode(args)
	outputs := map[string]*string{"o": &o.overlay, "overlay": &o.overlay,
		"heatmap": &o.heatmap, "npy": &o.npy}
	for _, n := range []string{"o", "overlay", "heatmap", "npy"} {
		if o.batch {
			fs.Var(switchFlag{outputs[n]}, n, "write this output for every image")
		} else {
			fs.StringVar(outputs[n], n, "", "write this output (one IMAGE only)")
		}
	}
	return fs
}

func gradcamMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o camOptions
	fs := gradcamFlags(&o, args, stderr)
	if rc := parse(fs, &o.options, args); rc >= 0 {
		return rc
	}
	opts, rc := camArgs(fs, &o)
	if rc >= 0 {
		return rc
	}
	prog := fs.Name()
	if o.batch && o.overlay == "" && o.heatmap == "" && o.npy == "" {
		o.overlay = "yes"
	}
	in := expandInputs(prog, fs, &o.options, stdin, stderr)
	if in == nil {
		return 1
	}
	if !o.batch && len(in.items) > 1 && (o.overlay != "" || o.heatmap != "" || o.npy != "") {
		fmt.Fprintf(stderr, "%s: several IMAGEs need --out-dir to write images or maps\n", prog)
		return 2
	}
	jobs, threads := planWorkers(len(in.items), o.jobs, o.threads, o.threadsSet)
	m, sessions := open(prog, &o.options, threads, jobs, stderr)
	if m == nil {
		return 1
	}
	defer m.Close()
	defer closeAll(sessions)
	if rc := resolve(prog, m, &o, opts, stderr); rc >= 0 {
		return rc
	}
	b := &batch{prog: prog, classes: m.Classes(), in: in, json: o.json, quiet: o.quiet,
		columns: csvColumns{m.Classes(), csvExtra}, stdout: stdout, stderr: stderr}
	var names []outName
	if o.batch {
		if err := makeDir(o.outDir); err != nil {
			fmt.Fprintf(stderr, "%s: cannot create directory %s: %s\n", prog, o.outDir,
				dirError(err))
			return 1
		}
		names = nameOutputs(o.outDir, in.items)
		for _, f := range []struct {
			name string
			w    *io.Writer
		}{{"index.csv", &b.indexCSV}, {"index.jsonl", &b.index}} {
			file := createFile(prog, o.outDir+"/"+f.name, stderr)
			if file == nil {
				return 1
			}
			defer file.Close()
			*f.w = file
		}
	}
	if o.csv != "" {
		f := createFile(prog, o.csv, stderr)
		if f == nil {
			return 1
		}
		defer f.Close()
		b.csv = f
	}
	b.image = func(s *covidcam.Session, it item, i int, r *result) {
		var name *outName
		if names != nil {
			name = &names[i]
		}
		explain(prog, s, &o, opts, it.path, name, r)
	}
	return b.run(sessions)
}

var csvExtra = []string{"class", "probability", "overlay", "heatmap", "npy"}

// outName is where an input's outputs go under --out-dir: prefix
// "DIR/SUB/NAME", or why there is none.
type outName struct{ prefix, why string }

const pathMax = 4096

// cliStem is cli_stem on the last component of rel ("" when it is empty or
// too long).
func cliStem(rel string) string {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	if dot := strings.LastIndexByte(base, '.'); dot > 0 {
		base = base[:dot]
	}
	if len(base) >= pathMax {
		return ""
	}
	return base
}

// nameOutputs is name_outputs: the path under its folder without the
// extension; NAME~2, NAME~3... for later inputs that would clash.
func nameOutputs(dir string, items []item) []outName {
	taken := map[string]bool{}
	out := make([]outName, len(items))
	for i, it := range items {
		if it.status != 0 {
			continue
		}
		d := it.rel[:strings.LastIndexByte(it.rel, '/')+1]
		s := cliStem(it.rel)
		if s == "" || len(d) >= pathMax {
			out[i].why = "cannot name outputs after this path"
			continue
		}
		name := d + s
		for k := 2; taken[name]; k++ {
			name = fmt.Sprintf("%s%s~%d", d, s, k)
		}
		taken[name] = true
		prefix := dir + "/" + name
		if len(prefix)+12 >= pathMax {
			out[i].why = "output path too long"
			continue
		}
		out[i].prefix = prefix
	}
	return out
}

func makeDir(d string) error {
	err := os.Mkdir(d, 0o777)
	if err == nil {
		return nil
	}
	if st, serr := os.Stat(d); os.IsExist(err) && serr == nil && st.IsDir() {
		return nil
	}
	if os.IsExist(err) {
		return syscall.ENOTDIR
	}
	return err
}

func dirError(err error) string {
	if errors.Is(err, syscall.ENOTDIR) {
		return "not a directory"
	}
	return strerror(err)
}

// makeParents creates the folders of path below root (which exists).
func makeParents(root, path string) error {
	parts := strings.Split(path[len(root)+1:], "/")
	d := root
	for _, p := range parts[:len(parts)-1] {
		d += "/" + p
		if err := makeDir(d); err != nil {
			return &covidcam.Error{Status: covidcam.Status(errIO),
				Message: fmt.Sprintf("cannot create directory %s: %s", d, strerror(err))}
		}
	}
	return nil
}

func camArgs(fs *flag.FlagSet, o *camOptions) (*covidcam.GradCAMOptions, int) {
	method, err := covidcam.ParseMethod(o.method)
	aug, augErr := covidcam.ParseAugSmooth(o.augSmooth)
	why := ""
	switch {
	case err != nil:
		why = fmt.Sprintf("unknown method '%s' (%s)", o.method, methodList())
	case augErr != nil:
		why = fmt.Sprintf("--aug-smooth needs none, intensity or flip, not '%s'", o.augSmooth)
	case !(o.alpha >= 0 && o.alpha <= 1):
		why = fmt.Sprintf("--alpha needs a number in [0, 1], not '%g'", o.alpha)
	}
	if why != "" {
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), why)
		return nil, 2
	}
	return &covidcam.GradCAMOptions{Method: method, Layer: o.layer, EigenSmooth: o.eigenSmooth,
		AugSmooth: aug}, -1
}

// methodList is "gradcam, gradcam++, ..." from the library's names.
func methodList() string {
	names := make([]string, len(covidcam.Methods))
	for i, m := range covidcam.Methods {
		names[i] = m.String()
	}
	return strings.Join(names, ", ")
}

// resolve checks --layer and turns --class (name, else index) into opts.
func resolve(prog string, m *covidcam.Model, o *camOptions, opts *covidcam.GradCAMOptions,
	stderr io.Writer) int {
	if o.layer != "" {
		// each name of a comma list; the library refuses the rest (empty, too many)
		for _, name := range strings.Split(o.layer, ",") {
			name = strings.Trim(name, " ")
			if !contains(m.Layers(), name) {
				fmt.Fprintf(stderr, "%s: unknown --layer '%s'; this model has: %s\n", prog, name,
					strings.Join(m.Layers(), " "))
				return 2
			}
		}
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
	file string, name *outName, r *result) {
	paths := [3]string{o.overlay, o.heatmap, o.npy}
	if name != nil {
		if name.prefix == "" {
			r.fail(prog, file, &covidcam.Error{Status: 1, Message: name.why})
			return
		}
		for k, suffix := range []string{".overlay.png", ".heatmap.png", ".npy"} {
			if paths[k] != "" {
				paths[k] = name.prefix + suffix
			}
		}
	}
	t0 := time.Now()
	hm, err := s.GradCAM(file, opts)
	ms := elapsedMs(t0)
	if err != nil {
		r.fail(prog, file, err)
		return
	}
	defer hm.Close()
	info, _ := hm.ImageInfo()
	trust, _ := hm.Assessment()
	warnings := append(info.Warnings(), trust.Sentences()...)
	for _, w := range warnings {
		r.err += fmt.Sprintf("%s: %s: warning: %s\n", prog, file, w)
	}
	if name != nil {
		first := paths[0]
		for _, p := range paths {
			if first == "" {
				first = p
			}
		}
		if err := makeParents(o.outDir, first); err != nil {
			r.fail(prog, file, err)
			return
		}
	}
	outputs, err := writeOutputs(hm, paths, o.alpha, o.label)
	if err != nil {
		r.fail(prog, file, err)
		return
	}
	res := hm.Result()
	r.top = res.Top
	w, h := hm.RawSize()
	line := append(fileFields("file", file), object{{"top", res.Label},
		{"probabilities", classMap(res.Classes, res.Probabilities)},
		{"class", hm.ClassName()}, {"probability", f32(hm.Probability())},
		{"method", hm.Method().String()}, {"layer", hm.Layer()},
		{"raw_size", []int{h, w}}, {"outputs", outputs}, {"ms", ms}}...)
	if hm.EigenSmooth() {
		line = append(line, field{"eigen_smooth", true})
	}
	if a := hm.AugSmooth(); a != covidcam.AugNone {
		line = append(line, field{"aug_smooth", a.String()})
	}
	line = append(line, field{"image", imageObject(info)})
	r.obj = append(line, trustFields(trust, warnings)...)
	if o.json {
		return
	}
	r.out = fmt.Sprintf("%s: %s (%.4f); %s of %s (%.4f) at %s\n", file, res.Label,
		res.Probabilities[res.Top], hm.Method(), hm.ClassName(), hm.Probability(), hm.Layer())
	for i, c := range res.Classes {
		r.out += fmt.Sprintf("  %s %.4f\n", pad(c, 20), res.Probabilities[i])
	}
	for _, f := range outputs {
		if !strings.HasSuffix(f.key, "_bytes") {
			r.out += fmt.Sprintf("  %s %s\n", pad(f.key, 8), f.value)
		}
	}
	if line := trust.OODLine(); line != "" {
		r.out += line + "\n"
	}
}

// writeOutputs writes the requested files (overlay, heatmap, npy; "" = not
// wanted) and lists them as the JSON "outputs" object, or returns the first
// failure (naming the output).
func writeOutputs(hm *covidcam.Heatmap, paths [3]string, alpha float64,
	label bool) (object, error) {
	outputs := object{}
	if p := paths[0]; p != "" {
		write := func() error { return hm.WriteOverlay(p, float32(alpha)) }
		if label {
			write = func() error {
				text, err := hm.Label()
				if err != nil {
					return err
				}
				return hm.WriteLabelledOverlay(p, float32(alpha), text)
			}
		}
		if err := write(); err != nil {
			return nil, outputError("overlay", p, err)
		}
		outputs = append(outputs, fileFields("overlay", p)...)
	}
	if p := paths[1]; p != "" {
		if err := hm.WriteColormap(p); err != nil {
			return nil, outputError("heatmap", p, err)
		}
		outputs = append(outputs, fileFields("heatmap", p)...)
	}
	if p := paths[2]; p != "" {
		n := hm.Size()
		if err := writeNPY(p, hm.Data(), n, n); err != nil {
			return nil, &covidcam.Error{Status: covidcam.Status(errIO),
				Message: fmt.Sprintf("npy %s: cannot write: %s", p, strerror(err))}
		}
		outputs = append(outputs, fileFields("npy", p)...)
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
