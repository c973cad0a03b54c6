package main

// #include <string.h>
import "C"

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
)

// The images a command line names (examples/inputs.c in Go): files as given,
// folders walked recursively for the files whose first bytes are PNG, JPEG
// or DICOM, "-" for a list of paths on stdin; inputs in the order given, the
// images under each folder sorted by the bytes of their path.

const sniffBytes = 256
const errIO = 2 // COVIDCAM_ERR_IO

type item struct {
	path, rel string // what to open; the name under --out-dir
	status    int    // set when the walk could not read it
	err       string
}

type inputs struct {
	items               []item
	notImages, notFiles int
	anyFolder           bool
}

const vrs = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV"

// looksLikeImage is cli_looks_like_image: the signatures of include/covidcam.h.
func looksLikeImage(b []byte) bool {
	if bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}) {
		return true
	}
	if len(b) < 8 {
		return false
	}
	if len(b) >= 132 && string(b[128:132]) == "DICM" {
		return true
	}
	group, elem := int(b[0])|int(b[1])<<8, int(b[2])|int(b[3])<<8
	if (group != 2 && group != 8) || elem > 0x20 {
		return false
	}
	for i := 0; i+1 < len(vrs); i += 2 {
		if vrs[i] == b[4] && vrs[i+1] == b[5] {
			return true
		}
	}
	vlen := uint64(b[4]) | uint64(b[5])<<8 | uint64(b[6])<<16 | uint64(b[7])<<24
	return vlen <= uint64(len(b)-8)
}

// strerror is the C library's message for an errno, as the C programs print it.
func strerror(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return C.GoString(C.strerror(C.int(en)))
	}
	return err.Error()
}

func join(a, b string) string {
	if a != "" && !strings.HasSuffix(a, "/") && b != "" {
		return a + "/" + b
	}
	return a + b
}

func (in *inputs) fail(path, rel, what string, err error) {
	in.items = append(in.items, item{path, rel, errIO, what + ": " + strerror(err)})
}

func sniff(path string) (bool, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer syscall.Close(fd)
	buf := make([]byte, sniffBytes)
	got := 0
	for got < len(buf) {
		n, err := syscall.Read(fd, buf[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			break
		}
		got += n
	}
	return looksLikeImage(buf[:got]), nil
}

func (in *inputs) visit(path, rel, name, pattern string, usePattern bool) {
	st, err := os.Lstat(path)
	if err != nil {
		in.fail(path, rel, "cannot stat", err)
		return
	}
	if st.IsDir() {
		in.walk(path, rel, pattern, usePattern)
		return
	}
	if usePattern && !fnmatch(pattern, name) {
		return
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if st, err = os.Stat(path); err != nil {
			in.fail(path, rel, "cannot stat", err)
			return
		}
	}
	if !st.Mode().IsRegular() {
		in.notFiles++
		return
	}
	image, err := sniff(path)
	if err != nil {
		in.fail(path, rel, "cannot read", err)
		return
	}
	if !image {
		in.notImages++
		return
	}
	in.items = append(in.items, item{path: path, rel: rel})
}

func (in *inputs) walk(dir, reldir, pattern string, usePattern bool) {
	f, err := os.Open(dir)
	if err != nil {
		in.fail(dir, reldir, "cannot read folder", err)
		return
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		in.fail(dir, reldir, "cannot read folder", err)
		return
	}
	for _, n := range names {
		in.visit(join(dir, n), join(reldir, n), n, pattern, usePattern)
	}
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 && i+1 < len(path) {
		return path[i+1:]
	}
	return path
}

func (in *inputs) addOne(arg, pattern string, usePattern bool) {
	if st, err := os.Stat(arg); err != nil || !st.IsDir() {
		in.items = append(in.items, item{path: arg, rel: baseName(arg)})
		return
	}
	in.anyFolder = true
	first := len(in.items)
	in.walk(arg, "", pattern, usePattern)
	sub := in.items[first:]
	sort.SliceStable(sub, func(i, j int) bool { return sub[i].rel < sub[j].rel })
}

// expand lists the inputs of the operands; "-" reads stdin.
func expand(args []string, pattern string, usePattern bool, stdin io.Reader) *inputs {
	in := &inputs{}
	for _, a := range args {
		if a != "-" {
			in.addOne(a, pattern, usePattern)
			continue
		}
		in.anyFolder = true
		data, _ := io.ReadAll(stdin)
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line != "" {
				in.addOne(line, pattern, usePattern)
			}
		}
	}
	return in
}

// fnmatch is fnmatch(3) with no flags in the C locale, on bytes.
func fnmatch(p, n string) bool {
	pi, ni := 0, 0
	for pi < len(p) {
		c := p[pi]
		switch {
		case c == '*':
			for pi < len(p) && p[pi] == '*' {
				pi++
			}
			if pi == len(p) {
				return true
			}
			for k := ni; k <= len(n); k++ {
				if fnmatch(p[pi:], n[k:]) {
					return true
				}
			}
			return false
		case ni >= len(n):
			return false
		case c == '?':
			pi, ni = pi+1, ni+1
			continue
		case c == '[':
			if ok, next, valid := bracket(p, pi, n[ni]); valid {
				if !ok {
					return false
				}
				pi, ni = next, ni+1
				continue
			}
		case c == '\\' && pi+1 < len(p):
			pi++
			c = p[pi]
		}
		if n[ni] != c {
			return false
		}
		pi, ni = pi+1, ni+1
	}
	return ni == len(n)
}

var classes = map[string]func(c byte) bool{
	"alnum":  func(c byte) bool { return isAlpha(c) || isDigit(c) },
	"alpha":  isAlpha,
	"blank":  func(c byte) bool { return c == ' ' || c == '\t' },
	"cntrl":  func(c byte) bool { return c < 32 || c == 127 },
	"digit":  isDigit,
	"graph":  func(c byte) bool { return c >= 33 && c <= 126 },
	"lower":  func(c byte) bool { return c >= 'a' && c <= 'z' },
	"print":  func(c byte) bool { return c >= 32 && c <= 126 },
	"punct":  func(c byte) bool { return c >= 33 && c <= 126 && !isAlpha(c) && !isDigit(c) },
	"space":  func(c byte) bool { return c == ' ' || (c >= 9 && c <= 13) },
	"upper":  func(c byte) bool { return c >= 'A' && c <= 'Z' },
	"xdigit": func(c byte) bool { return isDigit(c) || (c|32 >= 'a' && c|32 <= 'f') },
}

func isAlpha(c byte) bool { return (c|32) >= 'a' && (c|32) <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// bracket matches ch against the bracket expression at p[i]; valid is false
// when it is not one (the '[' is then a literal, as in glibc).
func bracket(p string, i int, ch byte) (ok bool, next int, valid bool) {
	j := i + 1
	neg := j < len(p) && (p[j] == '!' || p[j] == '^')
	if neg {
		j++
	}
	first, hit := true, false
	for j < len(p) {
		c := p[j]
		if c == ']' && !first {
			return hit != neg, j + 1, true
		}
		first = false
		if c == '[' && j+1 < len(p) && p[j+1] == ':' {
			end := strings.Index(p[j+2:], ":]")
			if end < 0 {
				return false, 0, false
			}
			f, known := classes[p[j+2:j+2+end]]
			if !known {
				return false, 0, false
			}
			hit = hit || (ch < 128 && f(ch))
			j += 2 + end + 2
			continue
		}
		if c == '\\' && j+1 < len(p) {
			j++
			c = p[j]
		}
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			hi := p[j+2]
			if hi == '\\' && j+3 < len(p) {
				j++
				hi = p[j+2]
			}
			hit = hit || (c <= ch && ch <= hi)
			j += 3
		} else {
			hit = hit || ch == c
			j++
		}
	}
	return false, 0, false
}
