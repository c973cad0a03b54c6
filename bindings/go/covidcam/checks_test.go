package covidcam_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// Arguments a C int or a C string cannot carry are refused, never truncated.
func TestArgumentsNotTruncated(t *testing.T) {
	m, err := covidcam.Load(fixture("basic.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.NewSession(&covidcam.SessionOptions{Threads: 1<<32 + 1}); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("Threads 1<<32+1: %v", err)
	}
	s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := m.InputSize()
	tensor := make([]float32, n*n)
	for _, c := range []int{1 << 32, 1<<32 + 2} {
		_, err := s.GradCAMTensor(tensor, 1, n, n, &covidcam.GradCAMOptions{UseClass: true, Class: c})
		if !errors.Is(err, covidcam.ErrInvalidArgument) || !strings.Contains(err.Error(), "Class") {
			t.Errorf("Class %d: %v", c, err)
		}
	}
	if _, err := s.GradCAMTensor(tensor, 1, n, n, &covidcam.GradCAMOptions{Layer: "layer1\x00junk"}); !errors.Is(err, covidcam.ErrInvalidArgument) || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("layer with NUL: %v", err)
	}
	if _, err := s.Classify(fixture("sample_64.png") + "\x00.txt"); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("path with NUL: %v", err)
	}
	if _, err := s.ClassifyPixels(make([]byte, 64), 8, 8, -8); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("negative stride: %v", err)
	}
	if _, err := s.ClassifyPixels(make([]byte, 64), 1<<32+8, 8, 8); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("width 1<<32+8: %v", err)
	}
	if _, ok := m.Metadata("format\x00x"); ok {
		t.Error("Metadata with NUL found a key")
	}
	if _, err := covidcam.Load(fixture("basic.safetensors") + "\x00x"); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("Load path with NUL: %v", err)
	}
}
