package main

import (
	"fmt"
	"io"
	"time"
)

// covidcam-go classify: examples/covidcam-classify.c in Go.
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
				fmt.Fprintln(stdout, errorLine(f, err))
			}
			continue
		}
		info, _ := s.ImageInfo()
		trust, _ := s.Assessment()
		warnings := append(info.Warnings(), trust.Sentences()...)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "%s: %s: warning: %s\n", fs.Name(), f, w)
		}
		if o.json {
			out := append(fileFields("file", f), object{{"top", r.Label},
				{"probabilities", classMap(r.Classes, r.Probabilities)},
				{"logits", classMap(r.Classes, r.Logits)}, {"ms", ms},
				{"image", imageObject(info)}}...)
			out = append(out, trustFields(trust, warnings)...)
			fmt.Fprintln(stdout, dumps(out))
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", f, r.Label)
		for i, c := range r.Classes {
			fmt.Fprintf(stdout, "  %s %.4f\n", pad(c, 20), r.Probabilities[i])
		}
		if line := trust.OODLine(); line != "" {
			fmt.Fprintln(stdout, line)
		}
	}
	return failed
}
