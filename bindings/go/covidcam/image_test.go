package covidcam_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// Every format through the binding: a JPEG by path and bytes equals the
// pixels PIL decoded from it (tests/fixtures/jpeg/exif_o6.pil.gray, 47 x 61
// after the EXIF rotation), with the image info of sessions, heatmaps and
// Probe; DICOM and GIF are refused by name.
func TestImageFormats(t *testing.T) {
	m, s := openBasic(t)
	defer m.Close()
	defer s.Close()
	jpg := fixture("jpeg/exif_o6.jpg")
	data, err := os.ReadFile(jpg)
	if err != nil {
		t.Fatal(err)
	}
	gray, err := os.ReadFile(fixture("jpeg/exif_o6.pil.gray"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.ClassifyPixels(gray, 47, 61, 47)
	if err != nil {
		t.Fatal(err)
	}
	byPath, err := s.Classify(jpg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.ImageInfo()
	if err != nil {
		t.Fatal(err)
	}
	byBytes, err := s.ClassifyImage(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref.Probabilities {
		if ref.Probabilities[i] != byPath.Probabilities[i] ||
			ref.Probabilities[i] != byBytes.Probabilities[i] {
			t.Fatalf("class %d: pixels %v, path %v, bytes %v", i, ref.Probabilities[i],
				byPath.Probabilities[i], byBytes.Probabilities[i])
		}
	}
	if info.Format != covidcam.FormatJPEG || info.Width != 47 || info.Height != 61 ||
		info.Orientation != 6 || info.Photometric != "GRAY" || len(info.Warnings()) != 0 {
		t.Fatalf("info %+v", info)
	}
	if _, err := s.ClassifyPNG(data); err == nil {
		t.Fatal("ClassifyPNG accepted a JPEG")
	}
	if _, err := s.ImageInfo(); err == nil {
		t.Fatal("ImageInfo after a failed call")
	}
	hm, err := s.GradCAMImage(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	hi, err := hm.ImageInfo()
	hm.Close()
	if err != nil || hi != info {
		t.Fatalf("heatmap info %+v, %v", hi, err)
	}
	pi, err := covidcam.Probe(data)
	if err != nil || pi != info {
		t.Fatalf("probe %+v, %v", pi, err)
	}
	// a JPEG named .png is still a JPEG
	p := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := covidcam.ProbeFile(p); err != nil || fi.Format != covidcam.FormatJPEG {
		t.Fatalf("probe file %+v, %v", fi, err)
	}
	// DICM and no file meta group: recognised as DICOM and refused (the
	// decoder's BAD_FORMAT, or UNSUPPORTED in a build without one)
	dicom := append(make([]byte, 128), []byte("DICM\x02\x00\x00\x00")...)
	_, err = s.ClassifyImage(dicom)
	var e *covidcam.Error
	if !errors.As(err, &e) || (e.Status != covidcam.ErrBadFormat && e.Status != covidcam.ErrUnsupported) ||
		!strings.Contains(e.Message, "DICOM") {
		t.Errorf("empty DICOM: %v", err)
	}
	_, err = s.ClassifyImage([]byte("GIF89a\x00\x00"))
	if !errors.As(err, &e) || e.Status != covidcam.ErrUnsupported || !strings.Contains(e.Message, "GIF") {
		t.Errorf("GIF: %v", err)
	}
}

// A real DICOM fixture: a lateral DX view is classified, described and warned about.
func TestDICOMFile(t *testing.T) {
	_, s := openBasic(t)
	path := fixture("dicom/signed16_window.dcm")
	if _, err := s.Classify(path); err != nil {
		var e *covidcam.Error
		if errors.As(err, &e) && e.Status == covidcam.ErrUnsupported {
			t.Skipf("this build has no DICOM decoder: %v", err)
		}
		t.Fatal(err)
	}
	info, err := s.ImageInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != covidcam.FormatDICOM || info.Modality != "DX" || info.ViewPosition != "LL" ||
		info.Width != 64 || info.Height != 64 {
		t.Fatalf("info %+v", info)
	}
	if w := info.Warnings(); len(w) == 0 || !strings.Contains(strings.Join(w, " "), "LL") {
		t.Errorf("warnings %q lack the lateral view", w)
	}
}

func TestImageWarnings(t *testing.T) {
	i := covidcam.ImageInfo{Format: covidcam.FormatDICOM, Modality: "CT", ViewPosition: "LL"}
	w := i.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "LL") || !strings.Contains(w[1], "'CT'") {
		t.Fatalf("%q", w)
	}
	i = covidcam.ImageInfo{Format: covidcam.FormatDICOM, Modality: "DX", ViewPosition: "PA"}
	if len(i.Warnings()) != 0 {
		t.Fatal(i.Warnings())
	}
}

func openBasic(t *testing.T) (*covidcam.Model, *covidcam.Session) {
	t.Helper()
	m, err := covidcam.Load(fixture("basic.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1})
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}

// chestLike is a caricature of a frontal film: dark lungs either side of a
// bright mediastinum (the bands the library's polarity check compares).
func chestLike(w, h int) []byte {
	px := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 90 + (x*7+y*13)%21 - 10
			switch {
			case (x*100 >= 15*w && x*100 < 33*w) || (x*100 >= 67*w && x*100 < 85*w):
				v -= 50
			case x*100 >= 42*w && x*100 < 58*w:
				v += 120
			}
			px[y*w+x] = byte(v)
		}
	}
	return px
}

func TestAssessment(t *testing.T) {
	m, s := openBasic(t)
	defer m.Close()
	defer s.Close()
	if _, err := s.Assessment(); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Fatalf("assessment before any call: %v", err)
	}
	px := chestLike(100, 90)
	if _, err := s.ClassifyPixels(px, 100, 90, 100); err != nil {
		t.Fatal(err)
	}
	a, err := s.Assessment()
	if err != nil || len(a.Warnings) != 0 || a.OODAvailable || a.OOD || m.HasOOD() {
		t.Fatalf("upright film: %+v %v", a, err)
	}
	for i := range px {
		px[i] = 255 - px[i]
	}
	ref, _ := s.ClassifyPixels(px, 100, 90, 100)
	a, _ = s.Assessment()
	if len(a.Warnings) != 1 || a.Warnings[0] != "likely_inverted" || a.Bits != covidcam.WarnLikelyInverted ||
		len(a.Sentences()) != 1 || !strings.HasPrefix(a.Sentences()[0], "likely_inverted: ") {
		t.Fatalf("inverted film: %+v %q", a, a.Sentences())
	}
	f, err := s.Features()
	if err != nil || len(f) != m.NumFeatures() || len(f) == 0 {
		t.Fatalf("features: %d of %d, %v", len(f), m.NumFeatures(), err)
	}
	hm, err := s.GradCAMPixels(px, 100, 90, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hm.Close()
	ha, err := hm.Assessment()
	if err != nil || ha.Bits != a.Bits || hm.Result().Probabilities[0] != ref.Probabilities[0] {
		t.Fatalf("heatmap assessment %+v, %v", ha, err)
	}
}
