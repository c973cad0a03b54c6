package main

import (
	"fmt"
	"io"
	"math"
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
	size := max(o.batch, 1)
	units := (len(in.items) + size - 1) / size
	jobs, threads := planWorkers(units, o.jobs, o.threads, o.threadsSet)
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
		},
		chunk: func(s *covidcam.Session, items []item, rs []result) {
			classifyChunk(prog, &o, s, items, rs)
		}, chunkSize: size}
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
	fillResult(prog, o, f, res, ms, info, trust, r)
}

// classifyChunk classifies the listable ones of items in one ClassifyFiles
// call into rs[k] (classify_chunk); "ms" is the call's time per image.
func classifyChunk(prog string, o *options, s *covidcam.Session, items []item, rs []result) {
	var paths []string
	var at []int
	for i, it := range items {
		if it.status == 0 {
			at = append(at, i)
			paths = append(paths, it.path)
		}
	}
	if len(paths) == 0 {
		return
	}
	t0 := time.Now()
	res, err := s.ClassifyFiles(paths)
	ms := math.Round(float64(time.Since(t0).Nanoseconds())/1e6/float64(len(paths))*1e3) / 1e3
	for j, f := range paths {
		r := &rs[at[j]]
		switch {
		case err != nil: // the call as a whole failed
			r.fail(prog, f, err)
		case res[j].Err != nil: // this image failed
			r.fail(prog, f, res[j].Err)
		default:
			info, _ := s.BatchImageInfo(j)
			trust, _ := s.BatchAssessment(j)
			fillResult(prog, o, f, res[j].Result, ms, info, trust, r)
		}
	}
}

// fillResult puts one classified image's output into *r: warnings, text,
// JSON (fill_result).
func fillResult(prog string, o *options, f string, res covidcam.Result, ms float64,
	info covidcam.ImageInfo, trust covidcam.Assessment, r *result) {
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
