package covidcam_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// Max |p_bf16 - p_fp32| of the fixture models on the fixture images (measured
// at most 0.03). The N(0,1) input tensors of expected.safetensors are no
// images and move further (0.06 seen on bottleneck.input.0): their bound is
// looser, their top class must agree all the same.
const (
	bf16Tol      = 0.05
	bf16TolNoise = 0.1
)

var precisionImages = []string{"sample_64.png", "sample_97x131.png", "png/gray1.png",
	"png/gray8.png", "png/rgb8.png"}

// ONEDNN_MAX_CPU_ISA values below AVX512_CORE_BF16: they take native bf16 away.
var isaBelowBF16 = map[string]bool{"SSE41": true, "AVX": true, "AVX2": true,
	"AVX2_VNNI": true, "AVX512_CORE": true, "AVX512_CORE_VNNI": true}

// bf16Native tells, without the library, whether a BF16 session should work
// here: /proc/cpuinfo has avx512_bf16 or amx_bf16 and ONEDNN_MAX_CPU_ISA (if
// set) does not cap the ISA below AVX512_CORE_BF16.
func bf16Native() (bool, string) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false, "no /proc/cpuinfo"
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(info), "\n") {
		if !strings.HasPrefix(line, "flags") {
			continue
		}
		_, flags, _ := strings.Cut(line, ":")
		for _, f := range strings.Fields(flags) {
			seen[f] = true
		}
	}
	var have []string
	for _, f := range []string{"avx512_bf16", "amx_bf16"} {
		if seen[f] {
			have = append(have, f)
		}
	}
	if len(have) == 0 {
		return false, "the CPU flags have neither avx512_bf16 nor amx_bf16"
	}
	isa := strings.ToUpper(strings.TrimSpace(os.Getenv("ONEDNN_MAX_CPU_ISA")))
	if isaBelowBF16[isa] {
		return false, fmt.Sprintf("ONEDNN_MAX_CPU_ISA=%s caps oneDNN below AVX512_CORE_BF16",
			isa)
	}
	return true, "CPU has " + strings.Join(have, ", ")
}

func newSession(t *testing.T, m *covidcam.Model, p covidcam.Precision) (*covidcam.Session,
	error) {
	t.Helper()
	s, err := m.NewSession(&covidcam.SessionOptions{Threads: 1, Precision: p})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestPrecisionNames(t *testing.T) {
	for _, c := range []struct {
		p    covidcam.Precision
		name string
	}{{covidcam.FP32, "fp32"}, {covidcam.BF16, "bf16"}, {covidcam.INT8, "int8"},
		{covidcam.AUTO, "auto"}} {
		if got := c.p.String(); got != c.name {
			t.Errorf("%d.String() = %q, want %q", int(c.p), got, c.name)
		}
		if got, err := covidcam.ParsePrecision(c.name); err != nil || got != c.p {
			t.Errorf("ParsePrecision(%q) = %v, %v", c.name, got, err)
		}
	}
	if covidcam.FP32 != 0 || covidcam.BF16 != 1 || covidcam.INT8 != 2 || covidcam.AUTO != 3 {
		t.Error("Precision values differ from covidcam.h")
	}
	for _, p := range []covidcam.Precision{4, -1, 1 << 40} {
		if got, want := p.String(), "Precision("+strconv.Itoa(int(p))+")"; got != want {
			t.Errorf("String of %d = %q, want %q", int(p), got, want)
		}
	}
	for _, s := range []string{"fp8", "", "FP32", "bf16 ", "bf16\x00"} {
		_, err := covidcam.ParsePrecision(s)
		var e *covidcam.Error
		if !errors.As(err, &e) || e.Status != covidcam.ErrInvalidArgument ||
			!strings.Contains(e.Message, "fp32, bf16, int8, auto") {
			t.Errorf("ParsePrecision(%q) = %v", s, err)
		}
	}
}

func TestPrecisionFP32(t *testing.T) {
	m, s := open(t, "basic")
	if p := s.Precision(); p != covidcam.FP32 {
		t.Errorf("default session precision %v", p)
	}
	s2, err := newSession(t, m, covidcam.FP32)
	if err != nil {
		t.Fatal(err)
	}
	if p := s2.Precision(); p != covidcam.FP32 {
		t.Errorf("FP32 session precision %v", p)
	}
	s2.Close()
	if p := s2.Precision(); p != covidcam.AUTO {
		t.Errorf("closed session precision %v, want auto", p)
	}
}

func TestPrecisionAuto(t *testing.T) {
	native, why := bf16Native()
	m, _ := open(t, "basic")
	s, err := newSession(t, m, covidcam.AUTO)
	if err != nil {
		t.Fatal(err)
	}
	want := covidcam.FP32
	if native {
		want = covidcam.BF16
	}
	if p := s.Precision(); p != want {
		t.Errorf("AUTO resolved to %v, want %v (%s)", p, want, why)
	}
	if _, err := s.Classify(fixture("sample_64.png")); err != nil {
		t.Error(err)
	}
}

func TestPrecisionBF16AvailableOrRefused(t *testing.T) {
	native, why := bf16Native()
	m, _ := open(t, "basic")
	s, err := newSession(t, m, covidcam.BF16)
	if native {
		if err != nil {
			t.Fatalf("BF16 session (%s): %v", why, err)
		}
		if p := s.Precision(); p != covidcam.BF16 {
			t.Errorf("BF16 session precision %v", p)
		}
		return
	}
	var e *covidcam.Error
	if !errors.As(err, &e) || e.Status != covidcam.ErrUnsupported ||
		!strings.Contains(e.Message, "AVX512-BF16") {
		t.Errorf("BF16 session (%s): %v, want ErrUnsupported naming AVX512-BF16", why, err)
	}
}

func TestPrecisionBF16AgreesWithFP32(t *testing.T) {
	native, why := bf16Native()
	if !native {
		t.Skipf("bf16 is not native here (%s): bf16 results not checked", why)
	}
	for _, name := range []string{"basic", "bottleneck"} {
		m, f := open(t, name)
		b, err := newSession(t, m, covidcam.BF16)
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string, tol float64, rf, rb covidcam.Result, ef, eb error) {
			if ef != nil || eb != nil {
				t.Fatalf("%s: %v, %v", what, ef, eb)
			}
			if rb.Top != rf.Top {
				t.Errorf("%s: bf16 top %d, fp32 %d", what, rb.Top, rf.Top)
			}
			if d := maxAbsDiff(t, rb.Probabilities, rf.Probabilities); d >= tol {
				t.Errorf("%s: probabilities differ by %g (>= %g)", what, d, tol)
			}
			if equalFloats(rb.Logits, rf.Logits) {
				t.Errorf("%s: bf16 logits equal fp32 exactly", what)
			}
		}
		for _, img := range precisionImages {
			rf, ef := f.Classify(fixture(img))
			rb, eb := b.Classify(fixture(img))
			check(name+" "+img, bf16Tol, rf, rb, ef, eb)
		}
		c, size := m.InputChannels(), m.InputSize()
		for k := 0; k < 3; k++ {
			in := expected(t, name+".input."+strconv.Itoa(k)).Data
			rf, ef := f.ClassifyTensor(in, c, size, size)
			rb, eb := b.ClassifyTensor(in, c, size, size)
			check(name+".input."+strconv.Itoa(k), bf16TolNoise, rf, rb, ef, eb)
		}
	}
}

func TestPrecisionINT8Refused(t *testing.T) {
	m, _ := open(t, "basic")
	if _, err := newSession(t, m, covidcam.INT8); !errors.Is(err, covidcam.ErrUnsupported) {
		t.Errorf("INT8 session: %v", err)
	}
	if _, err := newSession(t, m, 4); !errors.Is(err, covidcam.ErrInvalidArgument) {
		t.Errorf("Precision(4) session: %v", err)
	}
}

// An int8 session of a calibrated fixture runs on every CPU and agrees with
// fp32 on the top class (tests/api/test_int8.c checks its logits).
func TestPrecisionINT8Calibrated(t *testing.T) {
	m, f := open(t, "basic_int8")
	s, err := newSession(t, m, covidcam.INT8)
	if err != nil {
		t.Fatalf("INT8 session: %v", err)
	}
	if got := s.Precision(); got != covidcam.INT8 {
		t.Fatalf("Precision() = %v", got)
	}
	for _, img := range []string{"sample_64.png", "sample_97x131.png"} {
		rf, ef := f.Classify(fixture(img))
		r8, e8 := s.Classify(fixture(img))
		if ef != nil || e8 != nil {
			t.Fatalf("%s: %v %v", img, ef, e8)
		}
		if rf.Top != r8.Top {
			t.Errorf("%s: int8 top %d, fp32 %d", img, r8.Top, rf.Top)
		}
	}
}
