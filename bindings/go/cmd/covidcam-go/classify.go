package main

import (
	"fmt"
	"io"
	"time"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// covidcam-go classify: examples/covidcam-classify.c in Go.
func classifyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o options
	fs := newFlags("classify", &o, stderr)
	if rc := parse(fs, &o, args); rc >= 0 {
		return rc
	}
	prog := fs.Name()
	in := expandInputs(prog, fs, &o, stdin, stderr)
	if in == nil {
		return 1
	}
	jobs, threads := planWorkers(len(in.items), o.jobs, o.threads, o.threadsSet)
	m, sessions := open(prog, &o, threads, jobs, stderr)
	if m == nil {
		return 1
	}
	defer m.Close()
	defer closeAll(sessions)
	b := &batch{prog: prog, classes: m.Classes(), in: in, json: o.json, quiet: o.quiet,
		columns: csvColumns{classes: m.Classes()}, stdout: stdout, stderr: stderr,
		image: func(s *covidcam.Session, it item, i int, r *result) {
			classifyImage(prog, &o, s, it.path, r)
		}}
	if o.csv != "" {
		f := createFile(prog, o.csv, stderr)
		if f == nil {
			return 1
		}
		defer f.Close()
		b.csv = f
	}
	return b.run(sessions)
}

func classifyImage(prog string, o *options, s *covidcam.Session, f string, r *result) {
	t0 := time.Now()
	res, err := s.Classify(f)
	ms := elapsedMs(t0)
	if err != nil {
		r.fail(prog, f, err)
		return
	}
	info, _ := s.ImageInfo()
	trust, _ := s.Assessment()
	warnings := append(info.Warnings(), trust.Sentences()...)
	for _, w := range warnings {
		r.err += fmt.Sprintf("%s: %s: warning: %s\n", prog, f, w)
	}
	r.top = res.Top
	obj := append(fileFields("file", f), object{{"top", res.Label},
		{"probabilities", classMap(res.Classes, res.Probabilities)},
		{"logits", classMap(res.Classes, res.Logits)}, {"ms", ms},
		{"image", imageObject(info)}}...)
	r.obj = append(obj, trustFields(trust, warnings)...)
	if o.json {
		return
	}
	r.out = fmt.Sprintf("%s: %s\n", f, res.Label)
	for i, c := range res.Classes {
		r.out += fmt.Sprintf("  %s %.4f\n", pad(c, 20), res.Probabilities[i])
	}
	if line := trust.OODLine(); line != "" {
		r.out += line + "\n"
	}
}
