// Package covidcam is the Go binding of libcovidcam: chest X-ray
// classification on oneDNN with Grad-CAM explanations.
//
//	m, err := covidcam.Load("model.safetensors")
//	if err != nil { ... }
//	defer m.Close()
//	s, err := m.NewSession(nil)
//	if err != nil { ... }
//	defer s.Close()
//	r, err := s.Classify("xray.png")
//	fmt.Println(r.Label, r.Probabilities[r.Top])
//
// Concurrency: a *Model is safe for concurrent use by any number of
// goroutines. A *Session serves one goroutine at a time: give each goroutine
// its own session (calls on a shared session are serialized by a mutex, so
// sharing is safe but not parallel). A *Heatmap is independent of the session
// that made it and may be read from any goroutine.
//
// Close every Session before its Model; Model.Close refuses while sessions
// are open. Finalizers free forgotten handles, but Close releases the C memory
// deterministically.
//
// The package links libcovidcam through pkg-config (covidcam.pc); see
// README.md for building against an installed library or a meson build tree.
package covidcam

/*
#cgo pkg-config: covidcam
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Version returns the version of the linked libcovidcam ("0.5.0").
func Version() string {
	return C.GoString(C.covidcam_version())
}

// Status is a covidcam_status. The non-zero values are also the sentinel
// errors that errors.Is matches against an *Error.
type Status int

const (
	OK                 Status = C.COVIDCAM_OK
	ErrInvalidArgument Status = C.COVIDCAM_ERR_INVALID_ARGUMENT
	ErrIO              Status = C.COVIDCAM_ERR_IO
	ErrBadFormat       Status = C.COVIDCAM_ERR_BAD_FORMAT
	ErrUnsupported     Status = C.COVIDCAM_ERR_UNSUPPORTED
	ErrOutOfMemory     Status = C.COVIDCAM_ERR_OUT_OF_MEMORY
	ErrBackend         Status = C.COVIDCAM_ERR_BACKEND
	ErrLimit           Status = C.COVIDCAM_ERR_LIMIT
)

// Error returns the library's description of the status ("i/o error"...).
func (s Status) Error() string {
	return C.GoString(C.covidcam_status_string(C.covidcam_status(s)))
}

// String is the same as Error.
func (s Status) String() string { return s.Error() }

// Error is a failed libcovidcam call: the operation, the status and the
// library's message. It unwraps to its Status.
type Error struct {
	Op      string // the binding method, e.g. "Classify"
	Status  Status
	Message string // the library's message naming what was wrong
}

func (e *Error) Error() string {
	return fmt.Sprintf("covidcam: %s: %s: %s", e.Op, e.Status, e.Message)
}

// Unwrap makes errors.Is(err, covidcam.ErrIO) work.
func (e *Error) Unwrap() error { return e.Status }

func newError(op string, st C.covidcam_status, msg string) error {
	return &Error{Op: op, Status: Status(st), Message: msg}
}

func errClosed(op, what string) error {
	return &Error{Op: op, Status: ErrInvalidArgument, Message: what + " is closed"}
}

// errbuf is a C buffer for the functions that report through one.
type errbuf struct{ p *C.char }

func newErrbuf() errbuf {
	return errbuf{(*C.char)(C.calloc(C.COVIDCAM_ERRBUF_SIZE, 1))}
}

func (b errbuf) String() string { return C.GoString(b.p) }
func (b errbuf) free()          { C.free(unsafe.Pointer(b.p)) }
func (b errbuf) size() C.size_t { return C.COVIDCAM_ERRBUF_SIZE }

// noBytes stands in for empty input so that C sees a valid pointer with
// length 0 (and reports a short file) rather than NULL.
var noBytes [1]byte

// cbytes returns a C pointer to data for the duration of a call. Go memory
// holding no Go pointers may be passed to C as long as C keeps no reference,
// which every covidcam function guarantees.
func cbytes(data []byte) unsafe.Pointer {
	if len(data) == 0 {
		return unsafe.Pointer(&noBytes[0])
	}
	return unsafe.Pointer(&data[0])
}

func cfloats(data []float32) *C.float {
	if len(data) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&data[0]))
}

// goFloats copies n floats from C memory.
func goFloats(p *C.float, n int) []float32 {
	out := make([]float32, n)
	if n > 0 && p != nil {
		copy(out, unsafe.Slice((*float32)(unsafe.Pointer(p)), n))
	}
	return out
}
