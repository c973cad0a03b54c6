package covidcam_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// One Model shared by goroutines, one Session each (the documented use):
// every goroutine must get exactly the serial results. Run with -race.
func TestConcurrentSessions(t *testing.T) {
	m, s := open(t, "basic")
	files := append(listXrays(2), fixture("sample_97x131.png"), fixture("sample_64.png"))
	var inputs [][]float32
	for k := 0; k < 3; k++ {
		inputs = append(inputs, expected(t, fmt.Sprintf("basic.input.%d", k)).Data)
	}
	var want [][]float32
	var wantCam [][]float32
	for _, in := range inputs {
		r, err := s.ClassifyTensor(in, 1, 64, 64)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Logits)
	}
	for _, f := range files {
		r, err := s.Classify(f)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Logits)
		hm, err := s.GradCAM(f, &covidcam.GradCAMOptions{Layer: "layer3"})
		if err != nil {
			t.Fatal(err)
		}
		wantCam = append(wantCam, hm.Data())
		hm.Close()
	}

	const workers = 4
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(m, inputs, files, want, wantCam)
		}()
	}
	// Model queries run alongside.
	for i := 0; i < 50; i++ {
		if m.NumClasses() != 3 || len(m.Layers()) != 10 || m.InputSize() != 64 {
			t.Error("model queries changed under load")
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func worker(m *covidcam.Model, inputs [][]float32, files []string, want,
	wantCam [][]float32) error {
	s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	for iter := 0; iter < 10; iter++ {
		for i, in := range inputs {
			r, err := s.ClassifyTensor(in, 1, 64, 64)
			if err != nil {
				return err
			}
			if !equalFloats(r.Logits, want[i]) {
				return fmt.Errorf("tensor %d: %v, want %v", i, r.Logits, want[i])
			}
		}
		for i, f := range files {
			r, err := s.Classify(f)
			if err != nil {
				return err
			}
			if !equalFloats(r.Logits, want[len(inputs)+i]) {
				return fmt.Errorf("%s: %v, want %v", f, r.Logits, want[len(inputs)+i])
			}
			hm, err := s.GradCAM(f, &covidcam.GradCAMOptions{Layer: "layer3"})
			if err != nil {
				return err
			}
			d := hm.Data()
			hm.Close()
			if !equalFloats(d, wantCam[i]) {
				return fmt.Errorf("%s: Grad-CAM map differs", f)
			}
		}
	}
	return nil
}

// A Session shared by goroutines is serialized, not corrupted; a Heatmap
// may be read from several goroutines at once.
func TestSharedSessionAndHeatmap(t *testing.T) {
	_, s := open(t, "bottleneck")
	in := expected(t, "bottleneck.input.1").Data
	want, err := s.ClassifyTensor(in, 3, 72, 72)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := s.GradCAMTensor(in, 3, 72, 72, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hm.Close()
	wantMap := hm.Data()
	var wg sync.WaitGroup
	bad := make(chan string, 16)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				r, err := s.ClassifyTensor(in, 3, 72, 72)
				if err != nil || !equalFloats(r.Logits, want.Logits) {
					bad <- fmt.Sprint("shared session:", r.Logits, err)
					return
				}
				if !equalFloats(hm.Data(), wantMap) {
					bad <- "heatmap read differs"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Error(b)
	}
}

// Sessions opened and closed concurrently keep the model's count right.
func TestConcurrentSessionLifetimes(t *testing.T) {
	m, err := covidcam.Load(fixture("basic.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1})
				if err != nil {
					t.Error(err)
					return
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Errorf("Close after all sessions closed: %v", err)
	}
}
