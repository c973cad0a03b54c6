package covidcam_test

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

const tol = 1e-4 // oneDNN accumulation order vs float64 PyTorch references

var _ io.Closer = (*covidcam.Model)(nil)
var _ io.Closer = (*covidcam.Session)(nil)
var _ io.Closer = (*covidcam.Heatmap)(nil)

func open(t testing.TB, name string) (*covidcam.Model, *covidcam.Session) {
	t.Helper()
	m, err := covidcam.Load(fixture(name + ".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1})
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m, s
}

func softmax(z []float32) []float32 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v))
	}
	sum := 0.0
	out := make([]float32, len(z))
	for _, v := range z {
		sum += math.Exp(float64(v) - mx)
	}
	for i, v := range z {
		out[i] = float32(math.Exp(float64(v)-mx) / sum)
	}
	return out
}

func checkResult(t *testing.T, what string, r covidcam.Result, logits []float32) {
	t.Helper()
	if d := maxAbsDiff(t, r.Logits, logits); d > tol {
		t.Errorf("%s: logits differ by %g", what, d)
	}
	if d := maxAbsDiff(t, r.Probabilities, softmax(logits)); d > tol {
		t.Errorf("%s: probabilities differ by %g", what, d)
	}
	top := 0
	for i, v := range logits {
		if v > logits[top] {
			top = i
		}
	}
	if r.Top != top || r.Label != r.Classes[top] {
		t.Errorf("%s: top %d %q, want %d", what, r.Top, r.Label, top)
	}
}

func TestVersionAndStatus(t *testing.T) {
	hdr, err := os.ReadFile(filepath.Join(fixtures, "..", "..", "include", "covidcam.h"))
	if err != nil {
		t.Skip("covidcam.h not found:", err)
	}
	var parts []string
	for _, key := range []string{"MAJOR", "MINOR", "PATCH"} {
		for _, line := range strings.Split(string(hdr), "\n") {
			if strings.HasPrefix(line, "#define COVIDCAM_VERSION_"+key+" ") {
				f := strings.Fields(line)
				parts = append(parts, f[len(f)-1])
			}
		}
	}
	if v := covidcam.Version(); v != strings.Join(parts, ".") {
		t.Errorf("Version() = %q, header says %v", v, parts)
	}
	if covidcam.Status(99).Error() != "unknown status" || covidcam.ErrIO.Error() == "" {
		t.Error("status strings")
	}
}

func TestModelQueries(t *testing.T) {
	for _, name := range []string{"basic", "bottleneck"} {
		tensors, meta, err := readSafetensors(fixture(name + ".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := open(t, name)
		var classes []string
		json.Unmarshal([]byte(meta["classes"]), &classes)
		if strings.Join(m.Classes(), ",") != strings.Join(classes, ",") {
			t.Errorf("%s: classes %v, want %v", name, m.Classes(), classes)
		}
		if m.NumClasses() != tensors["fc.weight"].Shape[0] {
			t.Errorf("%s: NumClasses %d", name, m.NumClasses())
		}
		if s, _ := strconv.Atoi(meta["input_size"]); m.InputSize() != s {
			t.Errorf("%s: InputSize %d, want %d", name, m.InputSize(), s)
		}
		if m.Temperature() != 1 {
			t.Errorf("%s: Temperature %g, want 1 (no temperature in the file)", name, m.Temperature())
		}
		if m.InputChannels() != tensors["conv1.weight"].Shape[1] {
			t.Errorf("%s: InputChannels %d", name, m.InputChannels())
		}
		if m.Arch() != meta["arch"] {
			t.Errorf("%s: Arch %q", name, m.Arch())
		}
		if v, ok := m.Metadata("std"); !ok || v != meta["std"] {
			t.Errorf("%s: Metadata(std) = %q %v", name, v, ok)
		}
		if _, ok := m.Metadata("nope"); ok {
			t.Error("Metadata(nope) found")
		}
		for i, c := range classes {
			if m.ClassIndex(c) != i {
				t.Errorf("ClassIndex(%q) = %d", c, m.ClassIndex(c))
			}
		}
		if m.ClassIndex("Flu") != -1 {
			t.Error("ClassIndex(Flu)")
		}
	}
	m, _ := open(t, "basic")
	want := "layer1.0 layer2.0 layer2.1 layer3.0 layer4.0 layer4.1 layer1 layer2 layer3 layer4"
	if got := strings.Join(m.Layers(), " "); got != want {
		t.Errorf("Layers() = %s", got)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := covidcam.Load("/nonexistent/model.safetensors")
	var e *covidcam.Error
	if !errors.As(err, &e) || !errors.Is(err, covidcam.ErrIO) || e.Op != "Load" ||
		!strings.Contains(e.Message, "/nonexistent/model.safetensors") {
		t.Errorf("Load(missing) = %v", err)
	}
	data, err := os.ReadFile(fixture("basic.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		data []byte
		want covidcam.Status
		word string
	}{
		{nil, covidcam.ErrBadFormat, "too short"},
		{[]byte("garbage that is not a model"), covidcam.ErrLimit, "header"},
		{data[:len(data)/2], covidcam.ErrBadFormat, "data_offsets"},
	}
	for _, c := range cases {
		_, err := covidcam.LoadBytes(c.data)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.word) {
			t.Errorf("LoadBytes(%d bytes) = %v, want %v", len(c.data), err, c.want)
		}
	}
	m, err := covidcam.LoadBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.InputSize() != 64 {
		t.Error("LoadBytes model")
	}
	m.Close()
}

func TestClose(t *testing.T) {
	m, err := covidcam.Load(fixture("basic.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("Model.Close with an open session = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error("second Session.Close:", err)
	}
	if _, err := s.Classify(fixture("sample_64.png")); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("Classify on a closed session = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
	if _, err := m.NewSession(nil); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("NewSession on a closed model = %v", err)
	}
	if m.InputSize() != 0 || m.Layers() != nil {
		t.Error("queries on a closed model")
	}
}

func TestSessionOptions(t *testing.T) {
	m, _ := open(t, "basic")
	// BF16 and AUTO depend on the CPU: precision_test.go
	if _, err := m.NewSession(&covidcam.SessionOptions{Precision: covidcam.INT8}); !errors.Is(
		err, covidcam.ErrUnsupported) {
		t.Errorf("INT8 session: %v", err)
	}
	if _, err := m.NewSession(&covidcam.SessionOptions{Threads: -1}); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("Threads -1: %v", err)
	}
}

func TestClassifyMatchesPyTorch(t *testing.T) {
	for _, name := range []string{"basic", "bottleneck"} {
		m, s := open(t, name)
		c, size := m.InputChannels(), m.InputSize()
		for k := 0; k < 3; k++ {
			in := expected(t, name+".input."+strconv.Itoa(k)).Data
			r, err := s.ClassifyTensor(in, c, size, size)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, name, r, expected(t, name+".logits."+strconv.Itoa(k)).Data)
		}
		path := fixture("sample_97x131.png")
		want := expected(t, name+".png97.logits").Data
		r, err := s.Classify(path)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, name+" png97", r, want)
		data, _ := os.ReadFile(path)
		r2, err := s.ClassifyPNG(data)
		if err != nil || !equalFloats(r2.Logits, r.Logits) {
			t.Errorf("ClassifyPNG: %v %v", r2.Logits, err)
		}
		pix, w, h := decodeGray(t, path)
		r3, err := s.ClassifyPixels(pix, w, h, w)
		if err != nil || !equalFloats(r3.Logits, r.Logits) {
			t.Errorf("ClassifyPixels: %v %v", r3.Logits, err)
		}
		pre, err := m.Preprocess(pix, w, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, pre, expected(t, name+".png97.tensor").Data); d > 1e-5 {
			t.Errorf("Preprocess differs by %g", d)
		}
	}
}

func TestRealXrays(t *testing.T) {
	m, s := open(t, "basic")
	for _, f := range xrays(t, 3) {
		r, err := s.Classify(f)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, r.Probabilities, softmax(r.Logits)); d > 1e-6 {
			t.Errorf("%s: probabilities are not the softmax of the logits (%g)", f, d)
		}
		pix, w, h := decodeGray(t, f)
		pr, err := s.ClassifyPixels(pix, w, h, w)
		if err != nil || !equalFloats(pr.Logits, r.Logits) {
			t.Errorf("%s: pixels %v vs file %v (%v)", f, pr.Logits, r.Logits, err)
		}
		pre, _ := m.Preprocess(pix, w, h, w)
		tr, err := s.ClassifyTensor(pre, 1, 64, 64)
		if err != nil || !equalFloats(tr.Logits, r.Logits) {
			t.Errorf("%s: tensor %v vs file %v (%v)", f, tr.Logits, r.Logits, err)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	_, s := open(t, "basic")
	in := expected(t, "basic.input.0").Data
	cases := []struct {
		name string
		err  error
		want covidcam.Status
		word string
	}{
		{"missing file", second(s.Classify("/nonexistent.png")), covidcam.ErrIO,
			"/nonexistent.png"},
		{"a model, not an image", second(s.Classify(fixture("basic.safetensors"))),
			covidcam.ErrUnsupported, "safetensors"},
		{"bad png bytes", second(s.ClassifyPNG([]byte("\x89PNG\r\n\x1a\nxxxx"))),
			covidcam.ErrBadFormat, ""},
		{"tensor dims", second(s.ClassifyTensor(in, 1, 32, 32)), covidcam.ErrInvalidArgument,
			"32"},
		{"short tensor", second(s.ClassifyTensor(in[:100], 1, 64, 64)),
			covidcam.ErrInvalidArgument, "too short"},
		{"short pixels", second(s.ClassifyPixels(make([]byte, 99), 10, 10, 10)),
			covidcam.ErrInvalidArgument, "too short"},
		{"stride < width", second(s.ClassifyPixels(make([]byte, 100), 10, 10, 5)),
			covidcam.ErrInvalidArgument, ""},
		{"huge png", second(s.Classify(fixture("png/err_huge.png"))), covidcam.ErrLimit, ""},
	}
	for _, c := range cases {
		var e *covidcam.Error
		if !errors.As(c.err, &e) || e.Status != c.want || !strings.Contains(e.Message, c.word) {
			t.Errorf("%s: %v, want %v containing %q", c.name, c.err, c.want, c.word)
		}
	}
	r, err := s.ClassifyTensor(in, 1, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "after errors", r, expected(t, "basic.logits.0").Data)
}

func second[T any](_ T, err error) error { return err }
