package covidcam_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"covidcam"
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
	// With the DICOM decoder built (CC_HAVE_DICOM, from meson) an empty DICOM
	// is the decoder's BAD_FORMAT; without it, UNSUPPORTED by name.
	dicom := append(make([]byte, 128), []byte("DICM\x02\x00\x00\x00")...)
	dicomStatus, dicomWord := covidcam.ErrUnsupported, "looks like DICOM"
	if os.Getenv("CC_HAVE_DICOM") == "1" {
		dicomStatus, dicomWord = covidcam.ErrBadFormat, "DICOM"
	}
	for _, c := range []struct {
		data   []byte
		status covidcam.Status
		word   string
	}{{dicom, dicomStatus, dicomWord}, {[]byte("GIF89a\x00\x00"), covidcam.ErrUnsupported, "GIF"}} {
		_, err := s.ClassifyImage(c.data)
		var e *covidcam.Error
		if !errors.As(err, &e) || e.Status != c.status || !strings.Contains(e.Message, c.word) {
			t.Errorf("%q: %v", c.word, err)
		}
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
