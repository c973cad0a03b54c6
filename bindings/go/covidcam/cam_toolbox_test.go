package covidcam_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// The 0.4 CAM toolbox against tests/fixtures/expected_cams.safetensors
// (tools/make_cam_fixtures.py): every method at one and two layers,
// eigen_smooth, aug_smooth; names from the library; labelled overlays.

func camFixture(t *testing.T) map[string]tensor {
	t.Helper()
	m, _, err := readSafetensors(fixture("expected_cams.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// oneThreadSession loads a fixture model and opens a 1-thread session on it.
func oneThreadSession(t *testing.T, file string) (*covidcam.Model, *covidcam.Session) {
	t.Helper()
	m, err := covidcam.Load(fixture(file))
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

func fixtureMethodName(m covidcam.Method) string {
	if m == covidcam.GradCAMPP {
		return "gradcampp"
	}
	return m.String()
}

func TestCAMToolboxMatchesPyTorch(t *testing.T) {
	cams := camFixture(t)
	m, s := oneThreadSession(t, "bottleneck.safetensors")
	defer m.Close()
	defer s.Close()
	x := expected(t, "bottleneck.input.0").Data
	res, err := s.ClassifyTensor(x, 3, 72, 72)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := s.Input(); err != nil || !equalFloats(in, x) {
		t.Errorf("Input after ClassifyTensor: %v (equal %v)", err, equalFloats(in, x))
	}
	check := func(layers string, method covidcam.Method, eigen bool, aug covidcam.AugSmooth) {
		t.Helper()
		hm, err := s.GradCAMTensor(x, 3, 72, 72, &covidcam.GradCAMOptions{Method: method,
			Layer: layers, EigenSmooth: eigen, AugSmooth: aug})
		if err != nil {
			t.Fatal(err)
		}
		defer hm.Close()
		key := "cam2.bottleneck." + strings.ReplaceAll(layers, ",", "+") + "." +
			itoa(res.Top) + "." + fixtureMethodName(method)
		if eigen {
			key += ".eigen"
		}
		key += map[covidcam.AugSmooth]string{covidcam.AugNone: "",
			covidcam.AugIntensity: ".aug", covidcam.AugFlip: ".augflip"}[aug] + ".map"
		want, ok := cams[key]
		if !ok {
			t.Fatalf("fixture lacks %s", key)
		}
		closeTo(t, key, hm.Data(), want.Data)
		if hm.Method() != method || hm.EigenSmooth() != eigen || hm.AugSmooth() != aug {
			t.Errorf("%s: heatmap reports %v eigen=%v aug=%v", key, hm.Method(),
				hm.EigenSmooth(), hm.AugSmooth())
		}
	}
	for _, method := range covidcam.Methods {
		check("layer3", method, false, covidcam.AugNone)
		check("layer3,layer4", method, false, covidcam.AugNone)
		if method != covidcam.EigenCAM && method != covidcam.EigenGradCAM {
			check("layer3", method, true, covidcam.AugNone)
		}
	}
	for _, aug := range []covidcam.AugSmooth{covidcam.AugIntensity, covidcam.AugFlip} {
		check("layer4", covidcam.GradCAM, false, aug)
		check("layer4", covidcam.LayerCAM, false, aug)
	}
	if _, err := s.GradCAMTensor(x, 3, 72, 72, &covidcam.GradCAMOptions{AugSmooth: 3}); err == nil {
		t.Error("aug_smooth 3 accepted")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestMethodNames(t *testing.T) {
	want := []string{"gradcam", "gradcam++", "layercam", "hirescam", "xgradcam", "eigencam",
		"eigengradcam", "scorecam"}
	for i, m := range covidcam.Methods {
		if m.String() != want[i] {
			t.Errorf("%d: %q, want %q", i, m.String(), want[i])
		}
		back, err := covidcam.ParseMethod(want[i])
		if err != nil || back != m {
			t.Errorf("ParseMethod(%q) = %v, %v", want[i], back, err)
		}
	}
	if m, err := covidcam.ParseMethod("gradcampp"); err != nil || m != covidcam.GradCAMPP {
		t.Errorf("gradcampp: %v %v", m, err)
	}
	_, err := covidcam.ParseMethod("saliency")
	if err == nil || !strings.Contains(err.Error(), "eigengradcam, scorecam") {
		t.Errorf("saliency: %v", err)
	}
	if _, err := covidcam.ParseMethod("grad\x00cam"); err == nil {
		t.Error("NUL accepted")
	}
	if a, err := covidcam.ParseAugSmooth("flip"); err != nil || a != covidcam.AugFlip {
		t.Errorf("flip: %v %v", a, err)
	}
}

func TestLabelledOverlay(t *testing.T) {
	m, s := oneThreadSession(t, "basic.safetensors")
	defer m.Close()
	defer s.Close()
	hm, err := s.GradCAM(fixture("sample_97x131.png"), &covidcam.GradCAMOptions{
		Method: covidcam.XGradCAM, AugSmooth: covidcam.AugIntensity})
	if err != nil {
		t.Fatal(err)
	}
	defer hm.Close()
	label, err := hm.Label()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(label, hm.ClassName()+" ") ||
		!strings.HasSuffix(label, "| xgradcam "+hm.Layer()+" aug") {
		t.Errorf("label %q", label)
	}
	dir := t.TempDir()
	plain, labelled := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	if err := hm.WriteOverlay(plain, 0.5); err != nil {
		t.Fatal(err)
	}
	if err := hm.WriteLabelledOverlay(labelled, 0.5, label); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(plain)
	b, _ := os.ReadFile(labelled)
	if len(a) == 0 || string(a) == string(b) {
		t.Error("the labelled overlay equals the plain one")
	}
	rgb := make([]byte, 3*64*64)
	if err := covidcam.DrawLegend(rgb, 64, 64, label); err != nil {
		t.Fatal(err)
	}
	p0, p1 := rgb[3*(56*64+3):3*(56*64+3)+3], rgb[3*(56*64+60):3*(56*64+60)+3]
	if string(p0) != string([]byte{0, 0, 128}) || string(p1) != string([]byte{128, 0, 0}) {
		t.Errorf("colour bar ends %v %v, want jet(0) (0,0,128) and jet(1) (128,0,0)", p0, p1)
	}
	if err := covidcam.DrawLegend(rgb[:10], 64, 64, "x"); err == nil {
		t.Error("short buffer accepted")
	}
}
