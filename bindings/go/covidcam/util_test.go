package covidcam_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// Fixtures and data are found through the variables meson sets, else
// relative to this directory (bindings/go/covidcam).
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

var (
	fixtures = envOr("CC_FIXTURES", filepath.Join("..", "..", "..", "tests", "fixtures"))
	shared   = envOr("CC_SHARED_DATA", filepath.Join("..", "..", "..", "..", "shared", "data",
		"cxr"))
)

func fixture(name string) string { return filepath.Join(fixtures, name) }

type tensor struct {
	Shape []int
	Data  []float32
}

var (
	expectedOnce sync.Once
	expectedMap  map[string]tensor
	expectedErr  error
)

// readSafetensors returns the F32 tensors and the metadata of a file.
func readSafetensors(path string) (map[string]tensor, map[string]string, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	n := binary.LittleEndian.Uint64(buf[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+n], &header); err != nil {
		return nil, nil, err
	}
	meta := map[string]string{}
	out := map[string]tensor{}
	for name, raw := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, err
			}
			continue
		}
		var info struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, nil, err
		}
		if info.Dtype != "F32" {
			continue
		}
		data := buf[8+int(n)+info.Offsets[0] : 8+int(n)+info.Offsets[1]]
		t := tensor{Shape: info.Shape, Data: make([]float32, len(data)/4)}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		out[name] = t
	}
	return out, meta, nil
}

func expected(t testing.TB, name string) tensor {
	t.Helper()
	expectedOnce.Do(func() {
		expectedMap, _, expectedErr = readSafetensors(fixture("expected.safetensors"))
	})
	if expectedErr != nil {
		t.Fatal(expectedErr)
	}
	v, ok := expectedMap[name]
	if !ok {
		t.Fatalf("no %s in expected.safetensors", name)
	}
	return v
}

// decodeGray decodes a PNG with the standard library into 8-bit gray pixels
// (the library's conversion for gray images is the identity).
func decodeGray(t testing.TB, path string) ([]byte, int, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("%s: not an 8-bit gray PNG (%T)", path, img)
	}
	w, h := g.Rect.Dx(), g.Rect.Dy()
	return g.Pix, w, h
}

// listXrays returns up to perClass sorted PNGs of each class folder of val/.
func listXrays(perClass int) []string {
	dirs, _ := filepath.Glob(filepath.Join(shared, "val", "*"))
	sort.Strings(dirs)
	var out []string
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.png"))
		sort.Strings(files)
		if len(files) > perClass {
			files = files[:perClass]
		}
		out = append(out, files...)
	}
	return out
}

// xrays is listXrays, skipping the test when there is no data.
func xrays(t testing.TB, perClass int) []string {
	t.Helper()
	out := listXrays(perClass)
	if len(out) == 0 {
		t.Skipf("no X-rays under %s/val", shared)
	}
	return out
}

func maxAbsDiff(t testing.TB, a, b []float32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("lengths differ: %d vs %d", len(a), len(b))
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
