package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file name that is not UTF-8 still gives one valid JSON line per image,
// success or failure, identical to the C program's, with the exact bytes in
// file_bytes.
func TestNonUTF8NamesJSON(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "x\xff\xfe.png")
	data, err := os.ReadFile(fixture("sample_64.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, data, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no\xffne.png")
	for _, tool := range []string{"classify", "gradcam"} {
		args := []string{"-m", fixture("basic.safetensors"), "-t", "1", "--json", good}
		if tool == "classify" {
			args = append(args, missing)
		}
		rc, _ := compare(t, tool, args...)
		var out, errb bytes.Buffer
		if got := run(append([]string{tool}, args...), &out, &errb); got != rc {
			t.Fatalf("%s: exit %d, C %d", tool, got, rc)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for i, l := range lines {
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("%s line %d is not JSON: %v: %q", tool, i, err, l)
			}
			want := []string{good, missing}[i]
			raw, _ := hex.DecodeString(obj["file_bytes"].(string))
			if string(raw) != want {
				t.Errorf("%s line %d: file_bytes %q, want %q", tool, i, raw, want)
			}
		}
	}
}
