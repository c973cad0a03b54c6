package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// Runs over many images (examples/batch.c, pool.c, progress.c, csv_row.c in
// Go): goroutines with one Session each over the one model do the images,
// and the results are written in input order: stderr messages, the text or
// --json line, --csv rows, the --out-dir index files, progress and summary.

const (
	numStatus      = 8 // covidcam statuses 0..COVIDCAM_ERR_LIMIT
	aheadPerWorker = 4
	plainEvery     = 10 * time.Second
	barEvery       = 100 * time.Millisecond
)

// result is what one image gave.
type result struct {
	obj      object // the --json object; nil: cannot be formatted
	out, err string // stdout text without --json; stderr lines
	status   int    // 0, a covidcam status, -1
	top      int
}

func statusOf(err error) int {
	var e *covidcam.Error
	if errors.As(err, &e) {
		return int(e.Status)
	}
	return -1
}

// fail records a failure as the C programs report it.
func (r *result) fail(prog, file string, err error) {
	r.err += fmt.Sprintf("%s: %s: %s\n", prog, file, describe(err))
	r.obj = errorObject(file, err)
	r.status = statusOf(err)
}

// planWorkers is cli_plan_workers: workers and oneDNN threads per worker.
func planWorkers(items, jobs, threads int, threadsSet bool) (int, int) {
	n := runtime.NumCPU()
	j := 0
	switch {
	case jobs > 0:
		j = jobs
	case threadsSet && threads > 0:
		j = n / threads
	case threadsSet:
		j = 1
	default:
		j = min(n, 8)
	}
	j = max(1, min(j, items))
	if threadsSet {
		return j, threads
	}
	if j == 1 {
		return 1, 0
	}
	return j, max(1, n/j)
}

// ------------------------------------------------------------ CSV

var csvTail = []string{"ood", "ood_score", "warnings", "error", "file_bytes"}

type csvColumns struct {
	classes, extra []string
}

func (o object) get(key string) (any, bool) {
	for _, f := range o {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

// validText is the string with U+FFFD for each byte that is not UTF-8.
func validText(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return validText(x)
	case bool:
		return fmt.Sprint(x)
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = validText(s)
		}
		return strings.Join(parts, "; ")
	}
	return dumps(v)
}

func csvField(s string) string {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func csvLine(fields []string) string {
	for i, f := range fields {
		fields[i] = csvField(f)
	}
	return strings.Join(fields, ",") + "\r\n"
}

func (c *csvColumns) header() string {
	h := append([]string{"file", "status", "top"}, c.classes...)
	h = append(append(h, c.extra...), csvTail...)
	return csvLine(h)
}

func (c *csvColumns) row(o object) string {
	val := func(k string) string { v, _ := o.get(k); return csvValue(v) }
	status := "ok"
	if v, ok := o.get("status"); ok {
		status = v.(string)
	}
	f := []string{val("file"), status, val("top")}
	sub := func(k string) object { v, _ := o.get(k); x, _ := v.(object); return x }
	probs, outputs := sub("probabilities"), sub("outputs")
	for _, cl := range c.classes {
		v, _ := probs.get(cl)
		f = append(f, csvValue(v))
	}
	for _, k := range c.extra {
		v, ok := o.get(k)
		if !ok {
			v, _ = outputs.get(k)
		}
		f = append(f, csvValue(v))
	}
	for _, k := range csvTail {
		f = append(f, val(k))
	}
	return csvLine(f)
}

// ------------------------------------------------------------ progress

type progress struct {
	prog               string
	classes            []string
	total, done, nfail int
	byStatus           [numStatus + 1]int
	byClass            []int
	t0, last           time.Time
	tty, show, drawn   bool
	w                  io.Writer
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func eta(s float64) string {
	t := int64(s + 0.5)
	if t >= 3600 {
		return fmt.Sprintf("%dh%02dm", t/3600, t/60%60)
	}
	return fmt.Sprintf("%dm%02ds", t/60, t%60)
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.drawn = false
}

func (p *progress) draw(now time.Time) {
	s := now.Sub(p.t0).Seconds()
	rate := 0.0
	if s > 0 {
		rate = float64(p.done) / s
	}
	left := "?"
	if rate > 0 {
		left = eta(float64(p.total-p.done) / rate)
	}
	pct := 100
	if p.total > 0 {
		pct = int(100 * float64(p.done) / float64(p.total))
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d/%d images (%d%%), %.2f images/s, ETA %s\n", p.prog, p.done,
			p.total, pct, rate, left)
		return
	}
	fill := pct * 30 / 100
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %3d%% %.2f images/s ETA %s\033[K", strings.Repeat("#", fill),
		strings.Repeat(".", 30-fill), p.done, p.total, pct, rate, left)
	p.drawn = true
}

func (p *progress) step(status, top int) {
	p.done++
	if status != 0 {
		p.nfail++
		if status > 0 && status < numStatus {
			p.byStatus[status]++
		} else {
			p.byStatus[numStatus]++
		}
	} else if top >= 0 && top < len(p.byClass) {
		p.byClass[top]++
	}
	if !p.show || p.done == p.total {
		return
	}
	every := plainEvery
	if p.tty {
		every = barEvery
	}
	if now := time.Now(); now.Sub(p.last) >= every {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) finish(notImages, notFiles int) {
	p.clear()
	if !p.show {
		return
	}
	s := time.Since(p.t0).Seconds()
	fmt.Fprintf(p.w, "%s: %d images, %d ok, %d failed", p.prog, p.done, p.done-p.nfail, p.nfail)
	var reasons []string
	for i := 1; i <= numStatus; i++ {
		if p.byStatus[i] == 0 {
			continue
		}
		name := "output error"
		if i < numStatus {
			name = covidcam.Status(i).Error()
		}
		reasons = append(reasons, fmt.Sprintf("%s: %d", name, p.byStatus[i]))
	}
	if len(reasons) > 0 {
		fmt.Fprintf(p.w, " (%s)", strings.Join(reasons, ", "))
	}
	fmt.Fprintln(p.w)
	if notImages > 0 || notFiles > 0 {
		fmt.Fprintf(p.w, "%s: skipped in folders: %d not images, %d not regular files\n", p.prog,
			notImages, notFiles)
	}
	parts := make([]string, len(p.classes))
	for i, c := range p.classes {
		parts[i] = fmt.Sprintf(" %s %d", c, p.byClass[i])
	}
	rate := 0.0
	if s > 0 {
		rate = float64(p.done) / s
	}
	fmt.Fprintf(p.w, "%s: top class:%s\n%s: %.2f s, %.2f images/s\n", p.prog,
		strings.Join(parts, ","), p.prog, s, rate)
}

// ------------------------------------------------------------ the run

type imageFunc func(s *covidcam.Session, it item, i int, r *result)

// chunkFunc does `len(items)` consecutive images with one batch call of the
// session, filling rs[k] for items[k] (cli_chunk_fn). Items whose status is
// set (they could not be listed) already have their error result and must be
// left out of the call.
type chunkFunc func(s *covidcam.Session, items []item, rs []result)

type batch struct {
	prog                 string
	classes              []string
	in                   *inputs
	json, quiet          bool
	csv, indexCSV, index io.Writer // nil when not written
	columns              csvColumns
	image                imageFunc
	chunk                chunkFunc // with chunkSize > 1: the images go by chunks instead
	chunkSize            int
	stdout, stderr       io.Writer
}

const jsonFailure = `{"status":"out of memory","error":"cannot format the JSON line"}`

// run does every input on one goroutine per session, by chunks of chunkSize
// images when a chunk function is set (the output is the same), and writes
// the results in input order; 0 when every image succeeded, else 1.
func (b *batch) run(sessions []*covidcam.Session) int {
	items := b.in.items
	show := !b.quiet && (len(items) > 1 || b.in.anyFolder)
	p := &progress{prog: b.prog, classes: b.classes, total: len(items), show: show,
		byClass: make([]int, len(b.classes)), t0: time.Now(), w: b.stderr,
		tty: isTerminal(b.stderr)}
	p.last = p.t0
	for _, w := range []io.Writer{b.csv, b.indexCSV} {
		if w != nil {
			io.WriteString(w, b.columns.header())
		}
	}
	results := make([]chan result, len(items))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	// listed is the result of an item before its image is done: the
	// error of one that could not be listed.
	listed := func(it item) (r result) {
		r.top = -1
		if it.status != 0 {
			r.fail(b.prog, it.path, &covidcam.Error{Status: covidcam.Status(it.status),
				Message: it.err})
		}
		return r
	}
	work := func(s *covidcam.Session, i int) {
		r := listed(items[i])
		if items[i].status == 0 {
			b.image(s, items[i], i, &r)
		}
		results[i] <- r
	}
	units, size := len(items), 1
	if b.chunk != nil && b.chunkSize > 1 {
		size = b.chunkSize
		units = (len(items) + size - 1) / size
		// Chunk c: images c * size on, in one batch call (work_chunk).
		work = func(s *covidcam.Session, c int) {
			first := c * size
			chunk := items[first:min(first+size, len(items))]
			rs := make([]result, len(chunk))
			for k, it := range chunk {
				rs[k] = listed(it)
			}
			b.chunk(s, chunk, rs)
			for k := range rs {
				results[first+k] <- rs[k]
			}
		}
	}
	// A token per unit (item or chunk) a worker may start: at most
	// aheadPerWorker per worker beyond the one being written.
	next := make(chan int, len(sessions)*aheadPerWorker)
	go func() {
		for u := 0; u < units; u++ {
			next <- u
		}
		close(next)
	}()
	for _, s := range sessions {
		go func(s *covidcam.Session) {
			for i := range next {
				work(s, i)
			}
		}(s)
	}
	failed := 0
	for i := range items {
		r := <-results[i]
		b.emit(p, r)
		if r.status != 0 {
			failed = 1
		}
	}
	p.finish(b.in.notImages, b.in.notFiles)
	return failed
}

func (b *batch) emit(p *progress, r result) {
	if r.err != "" {
		p.clear()
		io.WriteString(b.stderr, r.err)
	}
	line := jsonFailure
	if r.obj != nil {
		line = dumps(r.obj)
	}
	if b.json {
		fmt.Fprintln(b.stdout, line)
	} else {
		io.WriteString(b.stdout, r.out)
	}
	if b.index != nil && r.obj != nil {
		fmt.Fprintln(b.index, line)
	}
	for _, w := range []io.Writer{b.csv, b.indexCSV} {
		if w != nil && r.obj != nil {
			io.WriteString(w, b.columns.row(r.obj))
		}
	}
	p.step(r.status, r.top)
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}
