package covidcam_test

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

var methods = map[string]covidcam.Method{"gradcam": covidcam.GradCAM,
	"gradcampp": covidcam.GradCAMPP, "layercam": covidcam.LayerCAM}

func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	scale := 1e-6
	for _, v := range want {
		scale = math.Max(scale, float64(v))
	}
	if d := maxAbsDiff(t, got, want); d > tol*scale+1e-6 {
		t.Errorf("%s: differs by %g (max %g)", what, d, scale)
	}
}

func TestGradCAMMatchesPyTorch(t *testing.T) {
	expected(t, "basic.logits.0") // loads the map
	var names []string
	for name := range expectedMap {
		if strings.HasPrefix(name, "cam.basic.") || strings.HasPrefix(name, "cam.bottleneck.") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) < 100 {
		t.Fatalf("only %d Grad-CAM references", len(names))
	}
	sessions := map[string]*covidcam.Session{}
	for _, n := range []string{"basic", "bottleneck"} {
		_, sessions[n] = open(t, n)
	}
	for _, name := range names {
		// cam.<model>.<k>.<layer>.<class>.<method>.<raw|map>; the layer may hold a dot.
		p := strings.Split(name, ".")
		model, k := p[1], p[2]
		cls, _ := strconv.Atoi(p[len(p)-3])
		method, kind := p[len(p)-2], p[len(p)-1]
		layer := strings.Join(p[3:len(p)-3], ".")
		s := sessions[model]
		m := s.Model()
		in := expected(t, model+".input."+k).Data
		hm, err := s.GradCAMTensor(in, m.InputChannels(), m.InputSize(), m.InputSize(),
			&covidcam.GradCAMOptions{Method: methods[method], Layer: layer, UseClass: true,
				Class: cls})
		if err != nil {
			t.Fatal(name, err)
		}
		want := expected(t, name)
		if hm.Class() != cls || hm.Method() != methods[method] {
			t.Errorf("%s: class %d method %v", name, hm.Class(), hm.Method())
		}
		if kind == "raw" {
			raw, w, h := hm.Raw()
			if h != want.Shape[0] || w != want.Shape[1] {
				t.Errorf("%s: raw %dx%d", name, w, h)
			}
			closeTo(t, name, raw, want.Data)
		} else {
			closeTo(t, name, hm.Data(), want.Data)
		}
		hm.Close()
	}
}

func TestHeatmap(t *testing.T) {
	_, s := open(t, "basic")
	path := fixture("sample_97x131.png")
	r, err := s.Classify(path)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := s.GradCAM(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hm.Close()
	hr := hm.Result()
	if !equalFloats(hr.Logits, r.Logits) || hr.Top != r.Top || hm.Class() != r.Top ||
		hm.ClassName() != r.Label || hm.Probability() != r.Probabilities[r.Top] {
		t.Errorf("heatmap result %+v vs %+v", hr, r)
	}
	if hm.Layer() != "layer4.1" || hm.Size() != 64 || hm.Method() != covidcam.GradCAM {
		t.Errorf("layer %s size %d method %v", hm.Layer(), hm.Size(), hm.Method())
	}
	if w, h := hm.ImageSize(); w != 97 || h != 131 {
		t.Errorf("ImageSize %dx%d", w, h)
	}
	same, err := hm.Resize(64, 64)
	if err != nil || maxAbsDiff(t, same, hm.Data()) > 1e-6 {
		t.Errorf("Resize to the same size: %v", err)
	}
	// Files written by the library decode to the in-memory renderings.
	pix, w, h := decodeGray(t, path)
	dir := t.TempDir()
	for _, alpha := range []float32{0.5, 0.2} {
		out := filepath.Join(dir, "o.png")
		if err := hm.WriteOverlay(out, alpha); err != nil {
			t.Fatal(err)
		}
		rgb, err := hm.Overlay(pix, w, h, w, alpha)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeRGB(t, out); !bytes.Equal(got, rgb) {
			t.Errorf("overlay file differs from Overlay at alpha %g", alpha)
		}
	}
	if err := hm.WriteColormap(filepath.Join(dir, "c.png")); err != nil {
		t.Fatal(err)
	}
	cm, err := hm.Colormap(w, h)
	if err != nil || !bytes.Equal(decodeRGB(t, filepath.Join(dir, "c.png")), cm) {
		t.Errorf("colormap file differs from Colormap (%v)", err)
	}
	gray, _ := hm.Overlay(pix, w, h, w, 0)
	for i, v := range pix {
		if gray[3*i] != v || gray[3*i+1] != v || gray[3*i+2] != v {
			t.Fatal("alpha 0 does not keep the image")
		}
	}
}

func decodeRGB(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	out := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			out = append(out, byte(r>>8), byte(g>>8), byte(bb>>8))
		}
	}
	return out
}

func TestHeatmapOutlivesSessionAndModel(t *testing.T) {
	m, err := covidcam.Load(fixture("basic.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := m.NewSession(nil)
	hm, err := s.GradCAM(fixture("sample_64.png"), &covidcam.GradCAMOptions{Layer: "layer2"})
	if err != nil {
		t.Fatal(err)
	}
	want := hm.Data()
	s.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !equalFloats(hm.Data(), want) || hm.Layer() != "layer2.1" || hm.ClassName() == "" {
		t.Error("heatmap changed after its model was closed")
	}
	hm.Close()
	hm.Close()
	if hm.Data() != nil || hm.ClassName() != "" {
		t.Error("closed heatmap still returns data")
	}
	if _, err := hm.Resize(4, 4); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("Resize on a closed heatmap: %v", err)
	}
}

func TestGradCAMErrors(t *testing.T) {
	_, s := open(t, "basic")
	path := fixture("sample_64.png")
	_, err := s.GradCAM(path, &covidcam.GradCAMOptions{Layer: "layer9"})
	if !errors.Is(err, covidcam.ErrInvalidArgument) || !strings.Contains(err.Error(), "layer4.1") {
		t.Errorf("unknown layer: %v", err)
	}
	_, err = s.GradCAM(path, &covidcam.GradCAMOptions{UseClass: true, Class: 3})
	if !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("class 3: %v", err)
	}
	_, err = s.GradCAM(path, &covidcam.GradCAMOptions{Method: 8})
	if !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("method 8: %v", err)
	}
	if _, err := covidcam.ParseMethod("saliency"); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("ParseMethod: %v", err)
	}
	names := map[string]covidcam.Method{"gradcam": covidcam.GradCAM,
		"gradcam++": covidcam.GradCAMPP, "gradcampp": covidcam.GradCAMPP,
		"layercam": covidcam.LayerCAM}
	for n, want := range names {
		if m, err := covidcam.ParseMethod(n); err != nil || m != want {
			t.Errorf("ParseMethod(%s) = %v, %v", n, m, err)
		}
	}
	in := expected(t, "basic.input.0").Data
	hm, err := s.GradCAMTensor(in, 1, 64, 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hm.Close()
	dir := t.TempDir()
	if err := hm.WriteOverlay(filepath.Join(dir, "o.png"), 0.5); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("overlay of a tensor heatmap: %v", err)
	}
	if err := hm.WriteColormap(filepath.Join(dir, "no", "c.png")); !errors.Is(err,
		covidcam.ErrIO) {
		t.Errorf("colormap into a missing directory: %v", err)
	}
	if _, err := hm.Overlay(make([]byte, 10), 4, 4, 4, 0.5); !errors.Is(err,
		covidcam.ErrInvalidArgument) {
		t.Errorf("short overlay pixels: %v", err)
	}
	if _, err := hm.Colormap(0, 3); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("Colormap(0, 3): %v", err)
	}
	// The library's message (the _errbuf renderers) names the culprit.
	_, err = hm.Overlay(make([]byte, 16), 4, 4, 4, 1.5)
	if !errors.Is(err, covidcam.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "image_weight -0.5 is not in [0, 1]") {
		t.Errorf("Overlay with alpha 1.5: %v", err)
	}
}
