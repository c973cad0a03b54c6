package covidcam_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// openBatch opens a model with a one-image session and a session of
// maxBatch images (one thread each).
func openBatch(t *testing.T, name string, maxBatch int) (*covidcam.Model, *covidcam.Session,
	*covidcam.Session) {
	t.Helper()
	m, single := open(t, name)
	batch, err := m.NewSession(&covidcam.SessionOptions{Threads: 1, MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: this session closes before the model.
	t.Cleanup(func() { batch.Close() })
	if got := batch.MaxBatch(); got != maxBatch {
		t.Fatalf("MaxBatch() = %d, want %d", got, maxBatch)
	}
	return m, single, batch
}

// sameRow checks a batch result against the one-image result: a batch
// kernel sums in another order, so fp32 logits move by 1e-5 of their scale.
func sameRow(t *testing.T, what string, one, b covidcam.Result) {
	t.Helper()
	scale := 1.0
	for _, z := range one.Logits {
		scale = math.Max(scale, math.Abs(float64(z)))
	}
	tol := 1e-5 * scale
	if d := maxAbsDiff(t, b.Logits, one.Logits); d > tol {
		t.Errorf("%s: batch logits off by %g (tolerance %g)", what, d, tol)
	}
	if d := maxAbsDiff(t, b.Probabilities, one.Probabilities); d > tol {
		t.Errorf("%s: batch probabilities off by %g (tolerance %g)", what, d, tol)
	}
	if b.Top != one.Top && math.Abs(float64(one.Logits[one.Top]-one.Logits[b.Top])) > 2*tol {
		t.Errorf("%s: top class %d in the batch, %d alone", what, b.Top, one.Top)
	}
	if b.Top >= 0 && b.Label != b.Classes[b.Top] {
		t.Errorf("%s: label %q for top %d", what, b.Label, b.Top)
	}
}

func TestBatchTensors(t *testing.T) {
	for _, c := range []struct {
		model           string
		maxBatch, count int
	}{{"basic", 6, 6}, {"basic", 6, 2}, {"bottleneck", 4, 4}, {"basic", 1, 1}} {
		m, single, batch := openBatch(t, c.model, c.maxBatch)
		var tensors [][]float32
		for i := 0; i < c.count; i++ {
			x := expected(t, fmt.Sprintf("%s.input.%d", c.model, i%3)).Data
			// inputs 3.. are inputs 0..2 scaled, so no two rows are equal
			y := make([]float32, len(x))
			for k := range x {
				y[k] = x[k] * (1 + 0.25*float32(i/3))
			}
			tensors = append(tensors, y)
		}
		size, ch := m.InputSize(), m.InputChannels()
		rs, err := batch.ClassifyTensorBatch(tensors, ch, size, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != c.count {
			t.Fatalf("%d results for %d tensors", len(rs), c.count)
		}
		for i, x := range tensors {
			one, err := single.ClassifyTensor(x, ch, size, size)
			if err != nil {
				t.Fatal(err)
			}
			sameRow(t, fmt.Sprintf("%s max_batch %d tensor %d", c.model, c.maxBatch, i), one,
				rs[i])
			info, err := batch.BatchImageInfo(i)
			if err != nil || info.Format != covidcam.FormatTensor {
				t.Errorf("tensor %d: BatchImageInfo = %v, %v", i, info.Format, err)
			}
		}
		// rows are independent slices: appending to one leaves the next alone
		if len(rs) > 1 {
			next := rs[1].Logits[0]
			_ = append(rs[0].Logits, 42)
			if rs[1].Logits[0] != next {
				t.Error("appending to a row's logits overwrote the next row")
			}
		}
	}
}

func TestBatchPixels(t *testing.T) {
	_, single, batch := openBatch(t, "basic", 4)
	ws, hs := []int{64, 97, 40, 130}, []int{64, 131, 55, 70}
	var images []covidcam.GrayImage
	for i := range ws {
		stride := ws[i] + 3
		if i == 2 {
			stride = 0 // packed rows
		}
		rowLen := stride
		if stride == 0 {
			rowLen = ws[i]
		}
		px := make([]byte, rowLen*hs[i])
		for k := range px {
			px[k] = byte((uint32(k)*2654435761)>>13) + byte(i*40)
		}
		images = append(images, covidcam.GrayImage{Pixels: px, Width: ws[i], Height: hs[i],
			Stride: stride})
	}
	rs, err := batch.ClassifyPixelsBatch(images)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range images {
		stride := g.Stride
		if stride == 0 {
			stride = g.Width
		}
		one, err := single.ClassifyPixels(g.Pixels, g.Width, g.Height, stride)
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("pixels %d (%dx%d)", i, g.Width, g.Height)
		sameRow(t, what, one, rs[i])
		a1, err := single.Assessment()
		if err != nil {
			t.Fatal(err)
		}
		ab, err := batch.BatchAssessment(i)
		if err != nil {
			t.Fatal(err)
		}
		if ab.Bits != a1.Bits || strings.Join(ab.Warnings, ",") != strings.Join(a1.Warnings, ",") {
			t.Errorf("%s: batch warnings %v, alone %v", what, ab.Warnings, a1.Warnings)
		}
		i1, err := single.ImageInfo()
		if err != nil {
			t.Fatal(err)
		}
		ib, err := batch.BatchImageInfo(i)
		if err != nil {
			t.Fatal(err)
		}
		if ib != i1 || ib.Format != covidcam.FormatPixels || ib.Width != g.Width {
			t.Errorf("%s: batch image info %+v, alone %+v", what, ib, i1)
		}
	}
	// a bad image fails the whole call, naming it; the Go checks first ...
	bad := append([]covidcam.GrayImage(nil), images...)
	bad[1].Pixels = bad[1].Pixels[:10]
	if _, err := batch.ClassifyPixelsBatch(bad); !errors.Is(err, covidcam.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "image 1: pixel slice too short") {
		t.Errorf("short pixels: %v", err)
	}
	// ... then the library's
	bad[1] = images[1]
	bad[1].Width = 0
	if _, err := batch.ClassifyPixelsBatch(bad); !errors.Is(err, covidcam.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "image 1: bad image geometry") {
		t.Errorf("zero width: %v", err)
	}
	if _, err := batch.BatchAssessment(0); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("BatchAssessment after a failed call: %v", err)
	}
}

func TestClassifyFiles(t *testing.T) {
	_, single, batch := openBatch(t, "bottleneck", 5)
	garbage := filepath.Join(t.TempDir(), "garbage.png")
	if err := os.WriteFile(garbage, []byte("this is not an image, only text"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{fixture("sample_97x131.png"), fixture("no-such-file.png"), garbage,
		fixture("png/err_bad_adler.png"), fixture("sample_64.png")}
	rs, err := batch.ClassifyFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(paths) {
		t.Fatalf("%d results for %d paths", len(rs), len(paths))
	}
	wantStatus := map[int]covidcam.Status{1: covidcam.ErrIO, 2: covidcam.ErrBadFormat,
		3: covidcam.ErrBadFormat}
	for i, p := range paths {
		r := rs[i]
		if r.Path != p {
			t.Errorf("result %d is for %q, want %q", i, r.Path, p)
		}
		one, oneErr := single.Classify(p)
		if oneErr != nil {
			// a failed file: the one-file error, status and message
			var e1, eb *covidcam.Error
			if !errors.As(oneErr, &e1) || !errors.As(r.Err, &eb) {
				t.Errorf("%s: batch error %v, alone %v", p, r.Err, oneErr)
				continue
			}
			if eb.Status != e1.Status || eb.Message != e1.Message || eb.Op != "ClassifyFiles" {
				t.Errorf("%s: batch error %v, alone %v", p, r.Err, oneErr)
			}
			if !errors.Is(r.Err, e1.Status) {
				t.Errorf("%s: errors.Is(%v, %v) is false", p, r.Err, e1.Status)
			}
			if st, ok := wantStatus[i]; ok && !errors.Is(r.Err, st) {
				t.Errorf("%s: %v is not %v", p, r.Err, st)
			}
			if r.Top != -1 || r.Label != "" || !math.IsNaN(float64(r.Probabilities[0])) ||
				!math.IsNaN(float64(r.Logits[len(r.Logits)-1])) {
				t.Errorf("%s: failed file's result %+v", p, r.Result)
			}
			if _, err := batch.BatchAssessment(i); !errors.Is(err, covidcam.ErrInvalidArgument) {
				t.Errorf("%s: BatchAssessment of a failed file: %v", p, err)
			}
			if _, err := batch.BatchImageInfo(i); !errors.Is(err, covidcam.ErrInvalidArgument) {
				t.Errorf("%s: BatchImageInfo of a failed file: %v", p, err)
			}
			continue
		}
		if _, ok := wantStatus[i]; ok {
			t.Errorf("%s: classified alone, expected a failure", p)
		}
		if r.Err != nil {
			t.Errorf("%s: %v", p, r.Err)
			continue
		}
		sameRow(t, p, one, r.Result)
		a1, err := single.Assessment()
		if err != nil {
			t.Fatal(err)
		}
		ab, err := batch.BatchAssessment(i)
		if err != nil {
			t.Fatal(err)
		}
		if ab.Bits != a1.Bits || ab.OODAvailable != a1.OODAvailable || ab.OOD != a1.OOD ||
			math.Abs(ab.OODScore-a1.OODScore) > 1e-4*math.Max(1, a1.OODScore) {
			t.Errorf("%s: batch assessment %+v, alone %+v", p, ab, a1)
		}
		i1, err := single.ImageInfo()
		if err != nil {
			t.Fatal(err)
		}
		ib, err := batch.BatchImageInfo(i)
		if err != nil {
			t.Fatal(err)
		}
		if ib != i1 || ib.Format != covidcam.FormatPNG {
			t.Errorf("%s: batch image info %+v, alone %+v", p, ib, i1)
		}
	}
	for i := range wantStatus {
		if rs[i].Err == nil {
			t.Errorf("%s classified", paths[i])
		}
	}
	// after a batch call the one-image queries have no image
	if _, err := batch.Assessment(); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("Assessment after a batch call: %v", err)
	}
	if _, err := batch.BatchAssessment(len(paths)); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("BatchAssessment past the batch: %v", err)
	}
	// all good
	good := []string{paths[0], paths[4]}
	rs, err = batch.ClassifyFiles(good)
	if err != nil || len(rs) != 2 || rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("good files: %v %+v", err, rs)
	}
	// a NUL in a path fails the call as a whole, naming the path
	if _, err := batch.ClassifyFiles([]string{paths[0], "a\x00b"}); !errors.Is(err,
		covidcam.ErrInvalidArgument) || !strings.Contains(err.Error(), "image 1: path") {
		t.Errorf("NUL in a path: %v", err)
	}
}

func TestBatchLimits(t *testing.T) {
	if covidcam.MaxBatchLimit != 256 {
		t.Errorf("MaxBatchLimit = %d", covidcam.MaxBatchLimit)
	}
	m, s := open(t, "basic")
	for _, n := range []int{-1, covidcam.MaxBatchLimit + 1, 1 << 40} {
		s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1, MaxBatch: n})
		if err == nil {
			s.Close()
			t.Errorf("MaxBatch %d accepted", n)
		} else if !errors.Is(err, covidcam.ErrInvalidArgument) ||
			!strings.Contains(err.Error(), "MaxBatch must be in [0, 256]") {
			t.Errorf("MaxBatch %d: %v", n, err)
		}
	}
	full, err := m.NewSession(&covidcam.SessionOptions{Threads: 1,
		MaxBatch: covidcam.MaxBatchLimit})
	if err != nil {
		if !errors.Is(err, covidcam.ErrLimit) {
			t.Errorf("MaxBatch %d: %v", covidcam.MaxBatchLimit, err)
		}
	} else {
		if full.MaxBatch() != covidcam.MaxBatchLimit {
			t.Errorf("MaxBatch() = %d", full.MaxBatch())
		}
		full.Close()
	}
	if s.MaxBatch() != 1 { // MaxBatch 0 is 1
		t.Errorf("default MaxBatch() = %d", s.MaxBatch())
	}
	size, ch := m.InputSize(), m.InputChannels()
	x := expected(t, "basic.input.0").Data
	check := func(what string, err error, want string) {
		t.Helper()
		if !errors.Is(err, covidcam.ErrInvalidArgument) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrInvalidArgument with %q", what, err, want)
		}
	}
	_, err = s.ClassifyTensorBatch([][]float32{x, x}, ch, size, size)
	check("2 tensors", err, "2 images, more than the session's MaxBatch 1")
	_, err = s.ClassifyFiles([]string{fixture("sample_64.png"), fixture("sample_64.png")})
	check("2 files", err, "more than the session's MaxBatch 1")
	img := covidcam.GrayImage{Pixels: make([]byte, 64*64), Width: 64, Height: 64}
	_, err = s.ClassifyPixelsBatch([]covidcam.GrayImage{img, img})
	check("2 images", err, "more than the session's MaxBatch 1")
	_, err = s.ClassifyTensorBatch(nil, ch, size, size)
	check("no tensors", err, "no images")
	_, err = s.ClassifyFiles(nil)
	check("no files", err, "no images")
	_, err = s.ClassifyTensorBatch([][]float32{x[:10]}, ch, size, size)
	check("short tensor", err, "image 0: tensor slice too short")
	_, err = s.ClassifyTensorBatch([][]float32{x}, ch, size+1, size)
	check("wrong size", err, "image 0")
	bad := append([]float32(nil), x...)
	bad[5] = float32(math.NaN())
	_, err = s.ClassifyTensorBatch([][]float32{bad}, ch, size, size)
	check("NaN", err, "image 0: tensor element 5")
	// one image through the batch of one
	rs, err := s.ClassifyTensorBatch([][]float32{x}, ch, size, size)
	if err != nil || len(rs) != 1 {
		t.Fatalf("batch of one: %v", err)
	}
	if _, err := s.BatchAssessment(-1); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("BatchAssessment(-1): %v", err)
	}
	if _, err := s.BatchImageInfo(1 << 40); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("BatchImageInfo(1<<40): %v", err)
	}
	// a closed session
	c, err := m.NewSession(&covidcam.SessionOptions{Threads: 1, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.MaxBatch() != 0 {
		t.Errorf("closed session's MaxBatch() = %d", c.MaxBatch())
	}
	_, err = c.ClassifyFiles([]string{fixture("sample_64.png")})
	check("closed session", err, "session is closed")
	_, err = c.BatchAssessment(0)
	check("closed session", err, "session is closed")
}
