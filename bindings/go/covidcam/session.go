package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Precision is a covidcam_precision: the arithmetic a session computes in.
type Precision int

const (
	// FP32 is float32 everywhere (the default).
	FP32 Precision = C.COVIDCAM_PRECISION_FP32
	// BF16 computes in bfloat16 on CPUs that do so natively (AVX512-BF16 or
	// AMX); elsewhere NewSession returns an ErrUnsupported error naming the
	// CPU's ISA.
	BF16 Precision = C.COVIDCAM_PRECISION_BF16
	// INT8 runs model files with int8 calibration scales (made by
	// covidcam-quantize); for others NewSession returns ErrUnsupported.
	INT8 Precision = C.COVIDCAM_PRECISION_INT8
	// AUTO is INT8 for such files, else BF16 where the CPU computes bf16
	// natively, else FP32; Session.Precision tells which.
	AUTO Precision = C.COVIDCAM_PRECISION_AUTO
)

// String returns the library's name of the precision (covidcam_precision_name):
// "fp32", "bf16", "int8" or "auto".
func (p Precision) String() string {
	if p >= math.MinInt32 && p <= math.MaxInt32 {
		if s := C.covidcam_precision_name(C.covidcam_precision(p)); s != nil {
			return C.GoString(s)
		}
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision accepts the names String returns (exact, lower case).
func ParsePrecision(s string) (Precision, error) {
	var p C.covidcam_precision
	if !strings.ContainsRune(s, 0) {
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		if C.covidcam_precision_parse(cs, &p) == C.COVIDCAM_OK {
			return Precision(p), nil
		}
	}
	return 0, &Error{Op: "ParsePrecision", Status: ErrInvalidArgument,
		Message: fmt.Sprintf("unknown precision %q (fp32, bf16, int8, auto)", s)}
}

// SessionOptions configures NewSession; the zero value (or nil) gives the
// defaults: all cores, FP32, one image per batch call.
type SessionOptions struct {
	Threads   int // oneDNN threads; 0 = all cores
	Precision Precision
	// MaxBatch is the most images one batch call (ClassifyTensorBatch,
	// ClassifyPixelsBatch, ClassifyFiles) takes: 1 to MaxBatchLimit, 0 means
	// 1. Above 1 the session builds a network for that many images at
	// creation (about MaxBatch times one image's activations; NewSession
	// returns ErrLimit when that exceeds the session memory limit), and a
	// smaller batch costs as much as a full one: set it to the batch you send.
	MaxBatch int
}

// Session holds per-goroutine inference state for one Model.
type Session struct {
	mu    sync.Mutex
	h     *C.covidcam_session
	model *Model
}

// Result is one classification.
type Result struct {
	Top           int       // index of the most probable class
	Label         string    // its name
	Classes       []string  // class names in logit order
	Probabilities []float32 // softmax of the logits
	Logits        []float32 // raw fc outputs
}

// NewSession creates a session for m; opts may be nil. The model must stay
// open until the session is closed.
func (m *Model) NewSession(opts *SessionOptions) (*Session, error) {
	var o C.covidcam_session_options
	C.covidcam_session_options_init(&o)
	if opts != nil {
		if err := checkInts("NewSession", "Threads", opts.Threads,
			"Precision", int(opts.Precision)); err != nil {
			return nil, err
		}
		if opts.MaxBatch < 0 || opts.MaxBatch > MaxBatchLimit {
			return nil, argError("NewSession", "MaxBatch must be in [0, %d] (0 means 1), got %d",
				MaxBatchLimit, opts.MaxBatch)
		}
		o.num_threads = C.int(opts.Threads)
		o.precision = C.covidcam_precision(opts.Precision)
		o.max_batch = C.int(opts.MaxBatch)
	}
	mh, err := m.attach()
	if err != nil {
		return nil, err
	}
	eb := newErrbuf()
	defer eb.free()
	var h *C.covidcam_session
	if st := C.covidcam_session_create(mh, &o, &h, eb.p, eb.size()); st != C.COVIDCAM_OK {
		m.detach()
		return nil, newError("NewSession", st, eb.String())
	}
	s := &Session{h: h, model: m}
	runtime.SetFinalizer(s, (*Session).Close)
	return s, nil
}

// Model returns the model the session was made for.
func (s *Session) Model() *Model { return s.model }

// Precision returns the precision the session computes in: the one asked
// for, or what AUTO resolved to (never AUTO). It returns AUTO for a closed
// session (covidcam_session_precision of NULL).
func (s *Session) Precision() Precision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Precision(C.covidcam_session_precision(s.h))
}

// Close frees the session; closing twice is a no-op. Session implements io.Closer.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return nil
	}
	C.covidcam_session_free(s.h)
	s.h = nil
	s.model.detach()
	runtime.SetFinalizer(s, nil)
	return nil
}

// call runs f with the session locked and turns a failure into an *Error
// carrying the session's message.
func (s *Session) call(op string, f func(h *C.covidcam_session) C.covidcam_status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return errClosed(op, "session")
	}
	if st := f(s.h); st != C.COVIDCAM_OK {
		return newError(op, st, C.GoString(C.covidcam_session_last_error(s.h)))
	}
	return nil
}

type classifyFunc func(h *C.covidcam_session, probs, logits *C.float, n C.size_t,
	top *C.int) C.covidcam_status

func (s *Session) classify(op string, f classifyFunc) (Result, error) {
	n := s.model.NumClasses()
	r := Result{Classes: s.model.Classes(), Probabilities: make([]float32, n),
		Logits: make([]float32, n)}
	var top C.int
	err := s.call(op, func(h *C.covidcam_session) C.covidcam_status {
		return f(h, cfloats(r.Probabilities), cfloats(r.Logits), C.size_t(n), &top)
	})
	if err != nil {
		return Result{}, err
	}
	r.Top = int(top)
	r.Label = r.Classes[r.Top]
	return r, nil
}

// Classify classifies the image file at path: PNG, JPEG or DICOM, recognised
// from its bytes.
func (s *Session) Classify(path string) (Result, error) {
	if err := checkString("Classify", "path", path); err != nil {
		return Result{}, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return s.classify("Classify", func(h *C.covidcam_session, p, l *C.float, n C.size_t,
		top *C.int) C.covidcam_status {
		return C.covidcam_classify_file(h, cpath, p, l, n, top)
	})
}

// ClassifyPNG classifies a PNG held in memory.
func (s *Session) ClassifyPNG(png []byte) (Result, error) {
	return s.classify("ClassifyPNG", func(h *C.covidcam_session, p, l *C.float, n C.size_t,
		top *C.int) C.covidcam_status {
		return C.covidcam_classify_png(h, cbytes(png), C.size_t(len(png)), p, l, n, top)
	})
}

// ClassifyPixels classifies 8-bit gray pixels: height rows of width bytes,
// stride bytes apart.
func (s *Session) ClassifyPixels(pixels []byte, width, height, stride int) (Result, error) {
	if err := checkPixels("ClassifyPixels", pixels, width, height, stride); err != nil {
		return Result{}, err
	}
	return s.classify("ClassifyPixels", func(h *C.covidcam_session, p, l *C.float,
		n C.size_t, top *C.int) C.covidcam_status {
		return C.covidcam_classify_pixels(h, (*C.uint8_t)(cbytes(pixels)), C.int(width),
			C.int(height), C.size_t(stride), p, l, n, top)
	})
}

// ClassifyTensor classifies a normalized planar tensor of channels x height x
// width floats (the model's input channels and size).
func (s *Session) ClassifyTensor(tensor []float32, channels, height, width int) (Result, error) {
	if err := checkTensor("ClassifyTensor", tensor, channels, height, width); err != nil {
		return Result{}, err
	}
	return s.classify("ClassifyTensor", func(h *C.covidcam_session, p, l *C.float,
		n C.size_t, top *C.int) C.covidcam_status {
		return C.covidcam_classify_tensor(h, cfloats(tensor), C.int(channels), C.int(height),
			C.int(width), p, l, n, top)
	})
}

func checkTensor(op string, tensor []float32, c, h, w int) error {
	if err := checkInts(op, "channels", c, "height", h, "width", w); err != nil {
		return err
	}
	if c > 0 && h > 0 && w > 0 && len(tensor) < c*h*w {
		return &Error{Op: op, Status: ErrInvalidArgument,
			Message: "tensor slice too short for the dimensions"}
	}
	return nil
}
