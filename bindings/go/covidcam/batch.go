package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// MaxBatchLimit is the largest SessionOptions.MaxBatch (COVIDCAM_MAX_BATCH).
const MaxBatchLimit = int(C.COVIDCAM_MAX_BATCH)

// GrayImage is one 8-bit gray image as ClassifyPixels takes it: Height rows
// of Width bytes in Pixels, Stride bytes apart (0 means Width: packed rows).
type GrayImage struct {
	Pixels        []byte
	Width, Height int
	Stride        int
}

func (g GrayImage) stride() int {
	if g.Stride == 0 {
		return g.Width
	}
	return g.Stride
}

// FileResult is one file of ClassifyFiles: its Result, or Err when that
// file could not be classified. A failed file's Top is -1, its Label empty
// and its Probabilities and Logits NaN.
type FileResult struct {
	Path string
	Result
	Err error // nil, or an *Error with the message the one-file Classify gives
}

// MaxBatch returns the most images one batch call of the session takes
// (SessionOptions.MaxBatch, at least 1); 0 for a closed session.
func (s *Session) MaxBatch() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(C.covidcam_session_max_batch(s.h))
}

// atImage prefixes an argument error's message with the image it is about.
func atImage(err error, i int) error {
	if e, ok := err.(*Error); ok {
		return &Error{Op: e.Op, Status: e.Status, Message: fmt.Sprintf("image %d: %s", i,
			e.Message)}
	}
	return err
}

type batchFunc func(h *C.covidcam_session, probs, logits *C.float, capacity C.size_t,
	tops *C.int) C.covidcam_status

// batchRows holds the row-by-row results of a batch call.
type batchRows struct {
	nc            int
	probs, logits []float32
	tops          []C.int
}

func newBatchRows(count, nc int) *batchRows {
	return &batchRows{nc: nc, probs: make([]float32, count*nc),
		logits: make([]float32, count*nc), tops: make([]C.int, count)}
}

func (b *batchRows) call(h *C.covidcam_session, f batchFunc) C.covidcam_status {
	return f(h, cfloats(b.probs), cfloats(b.logits), C.size_t(b.nc), cintp(b.tops))
}

// result returns row i; its slices are capped so that appending copies.
func (b *batchRows) result(m *Model, i int) Result {
	lo, hi := i*b.nc, (i+1)*b.nc
	r := Result{Top: int(b.tops[i]), Classes: m.Classes(),
		Probabilities: b.probs[lo:hi:hi], Logits: b.logits[lo:hi:hi]}
	if r.Top >= 0 && r.Top < len(r.Classes) {
		r.Label = r.Classes[r.Top]
	}
	return r
}

func cintp(v []C.int) *C.int {
	if len(v) == 0 {
		return nil
	}
	return &v[0]
}

// checkCount refuses an empty batch or one larger than the session takes
// (before the library would, naming the option that sets the limit).
func checkCount(op string, count, max int) error {
	if count < 1 {
		return argError(op, "no images: a batch takes 1 to MaxBatch (%d) images", max)
	}
	if count > max {
		return argError(op, "%d images, more than the session's MaxBatch %d "+
			"(SessionOptions.MaxBatch, at most %d)", count, max, MaxBatchLimit)
	}
	return nil
}

// batch runs f with the session locked, after checking count against its
// MaxBatch, and turns a failure into an *Error carrying the session's message.
func (s *Session) batch(op string, count int, f func(h *C.covidcam_session) C.covidcam_status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return errClosed(op, "session")
	}
	if err := checkCount(op, count, int(C.covidcam_session_max_batch(s.h))); err != nil {
		return err
	}
	if st := f(s.h); st != C.COVIDCAM_OK {
		return newError(op, st, C.GoString(C.covidcam_session_last_error(s.h)))
	}
	return nil
}

func (s *Session) classifyBatch(op string, count int, prepare func() error, f batchFunc) (
	[]Result, error) {
	rows := newBatchRows(count, s.model.NumClasses())
	var perr error
	err := s.batch(op, count, func(h *C.covidcam_session) C.covidcam_status {
		if perr = prepare(); perr != nil {
			return C.COVIDCAM_OK
		}
		return rows.call(h, f)
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	out := make([]Result, count)
	for i := range out {
		out[i] = rows.result(s.model, i)
	}
	return out, nil
}

// tensorLen is channels*height*width, 0 when a dimension is not positive
// (the library then refuses the dimensions); an error when it overflows.
func tensorLen(op string, c, h, w int) (int, error) {
	if c <= 0 || h <= 0 || w <= 0 {
		return 0, nil
	}
	if c > math.MaxInt/h || c*h > math.MaxInt/w {
		return 0, argError(op, "tensor dimensions %d x %d x %d overflow", c, h, w)
	}
	return c * h * w, nil
}

// ClassifyTensorBatch classifies several normalized planar tensors, each
// channels x height x width floats as ClassifyTensor takes it, in one pass of
// the network (1 to MaxBatch tensors). Result i is tensor i's, equal to
// ClassifyTensor's up to the rounding of a different summation order. A bad
// tensor fails the whole call, its index in the message.
func (s *Session) ClassifyTensorBatch(tensors [][]float32, channels, height, width int) (
	[]Result, error) {
	const op = "ClassifyTensorBatch"
	if err := checkInts(op, "channels", channels, "height", height, "width", width); err != nil {
		return nil, err
	}
	one, err := tensorLen(op, channels, height, width)
	if err != nil {
		return nil, err
	}
	for i, t := range tensors {
		if err := checkTensor(op, t, channels, height, width); err != nil {
			return nil, atImage(err, i)
		}
	}
	var flat []float32 // count*one floats: one <= len(tensors[i]), so no overflow
	return s.classifyBatch(op, len(tensors), func() error {
		flat = make([]float32, len(tensors)*one)
		for i, t := range tensors {
			copy(flat[i*one:(i+1)*one], t)
		}
		return nil
	}, func(h *C.covidcam_session, p, l *C.float, n C.size_t, tops *C.int) C.covidcam_status {
		return C.covidcam_classify_tensor_batch(h, cfloats(flat), C.int(len(tensors)),
			C.int(channels), C.int(height), C.int(width), p, l, n, tops)
	})
}

// ClassifyPixelsBatch classifies several gray images (each as ClassifyPixels
// takes it; sizes may differ, each is resized to the model's input) in one
// pass of the network (1 to MaxBatch images). Result i is image i's, equal to
// ClassifyPixels' up to the rounding of a different summation order. A bad
// image fails the whole call, its index in the message. The pixels are
// copied to C memory for the call (cgo does not let C memory hold pointers
// to Go memory).
func (s *Session) ClassifyPixelsBatch(images []GrayImage) ([]Result, error) {
	const op = "ClassifyPixelsBatch"
	count := len(images)
	widths := make([]C.int, count)
	heights := make([]C.int, count)
	strides := make([]C.size_t, count)
	need := make([]int, count)
	total := 0
	for i, g := range images {
		if err := checkPixels(op, g.Pixels, g.Width, g.Height, g.stride()); err != nil {
			return nil, atImage(err, i)
		}
		widths[i], heights[i], strides[i] = C.int(g.Width), C.int(g.Height), C.size_t(g.stride())
		if g.Width > 0 && g.Height > 0 && g.stride() >= g.Width {
			need[i] = g.stride()*(g.Height-1) + g.Width // <= len(g.Pixels): checkPixels
		}
		total += need[i] // the sum of slice lengths: no overflow
	}
	var pixels unsafe.Pointer // C memory: the copied pixels
	var ptrs **C.uint8_t      // C memory: count pointers into it
	defer func() {
		C.free(pixels)
		C.free(unsafe.Pointer(ptrs))
	}()
	return s.classifyBatch(op, count, func() error {
		pixels = C.malloc(C.size_t(total) + 1)
		ptrs = (**C.uint8_t)(C.malloc(C.size_t(count) * C.size_t(unsafe.Sizeof((*C.uint8_t)(nil)))))
		if pixels == nil || ptrs == nil {
			return argErrorStatus(op, ErrOutOfMemory, "cannot copy %d bytes of pixels", total)
		}
		dst := unsafe.Slice((*byte)(pixels), total+1)
		ps := unsafe.Slice(ptrs, count)
		off := 0
		for i, g := range images {
			copy(dst[off:off+need[i]], g.Pixels[:need[i]])
			ps[i] = (*C.uint8_t)(unsafe.Pointer(&dst[off]))
			off += need[i]
		}
		return nil
	}, func(h *C.covidcam_session, p, l *C.float, n C.size_t, tops *C.int) C.covidcam_status {
		return C.covidcam_classify_pixels_batch(h, ptrs, cintp(widths), cintp(heights),
			sizep(strides), C.int(count), p, l, n, tops)
	})
}

func sizep(v []C.size_t) *C.size_t {
	if len(v) == 0 {
		return nil
	}
	return &v[0]
}

func argErrorStatus(op string, st Status, format string, a ...any) error {
	return &Error{Op: op, Status: st, Message: fmt.Sprintf(format, a...)}
}

// ClassifyFiles classifies image files (PNG, JPEG or DICOM, as Classify
// reads them) in one pass of the network (1 to MaxBatch paths). A file that
// cannot be read or decoded does not stop the others: its FileResult.Err is
// the *Error Classify would have returned for it (errors.Is matches its
// Status). The error is non-nil only when the call failed as a whole (bad
// arguments, more paths than MaxBatch, a closed session, a backend failure);
// the results are nil then.
func (s *Session) ClassifyFiles(paths []string) ([]FileResult, error) {
	const op = "ClassifyFiles"
	count := len(paths)
	for i, p := range paths {
		if err := checkString(op, "path", p); err != nil {
			return nil, atImage(err, i)
		}
	}
	// The C strings and the array of pointers to them are C memory.
	var cpaths **C.char
	if count > 0 {
		cpaths = (**C.char)(C.calloc(C.size_t(count), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		if cpaths == nil {
			return nil, argErrorStatus(op, ErrOutOfMemory, "cannot allocate %d paths", count)
		}
	}
	cp := unsafe.Slice(cpaths, count)
	defer func() {
		for _, p := range cp {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(cpaths))
	}()
	for i, p := range paths {
		cp[i] = C.CString(p)
	}
	rows := newBatchRows(count, s.model.NumClasses())
	statuses := make([]C.covidcam_status, count)
	errs := make([]error, count)
	err := s.batch(op, count, func(h *C.covidcam_session) C.covidcam_status {
		var sp *C.covidcam_status
		if count > 0 {
			sp = &statuses[0]
		}
		st := rows.call(h, func(h *C.covidcam_session, p, l *C.float, n C.size_t,
			tops *C.int) C.covidcam_status {
			return C.covidcam_classify_files(h, cpaths, C.int(count), p, l, n, tops, sp)
		})
		if st == C.COVIDCAM_OK {
			return st
		}
		// Files that failed on their own have a message; a call that failed
		// as a whole has none (and its own in the session's last error).
		whole := true
		for i := range errs {
			if statuses[i] == C.COVIDCAM_OK {
				continue
			}
			if msg := C.GoString(C.covidcam_session_batch_error(h, C.int(i))); msg != "" {
				errs[i] = newError(op, statuses[i], msg)
				whole = false
			}
		}
		if whole {
			return st
		}
		return C.COVIDCAM_OK
	})
	if err != nil {
		return nil, err
	}
	out := make([]FileResult, count)
	for i := range out {
		out[i] = FileResult{Path: paths[i], Result: rows.result(s.model, i), Err: errs[i]}
		if errs[i] == nil && statuses[i] != C.COVIDCAM_OK { // never: a failure has a message
			out[i].Err = newError(op, statuses[i], "classification failed")
		}
	}
	return out, nil
}

// BatchAssessment is the assessment of image i of the session's last batch
// call (ClassifyTensorBatch, ClassifyPixelsBatch, ClassifyFiles), as
// Assessment is for one image. ErrInvalidArgument for an index outside that
// call or an image of it that failed. After a batch call Assessment,
// ImageInfo, Features and Input have no image.
func (s *Session) BatchAssessment(i int) (Assessment, error) {
	const op = "BatchAssessment"
	if err := checkInts(op, "index", i); err != nil {
		return Assessment{}, err
	}
	var ca C.covidcam_assessment
	C.covidcam_assessment_init(&ca)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return Assessment{}, errClosed(op, "session")
	}
	if st := C.covidcam_session_batch_assessment(s.h, C.int(i), &ca); st != C.COVIDCAM_OK {
		return Assessment{}, newError(op, st, fmt.Sprintf("image %d of the last batch call "+
			"has no assessment (outside the batch, it failed, or no batch call was made)", i))
	}
	return goAssessment(&ca), nil
}

// BatchImageInfo describes the input of image i of the session's last batch
// call, as ImageInfo does for one image. Errors as BatchAssessment.
func (s *Session) BatchImageInfo(i int) (ImageInfo, error) {
	const op = "BatchImageInfo"
	if err := checkInts(op, "index", i); err != nil {
		return ImageInfo{}, err
	}
	ci := newCInfo()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return ImageInfo{}, errClosed(op, "session")
	}
	if st := C.covidcam_session_batch_image_info(s.h, C.int(i), &ci); st != C.COVIDCAM_OK {
		return ImageInfo{}, newError(op, st, fmt.Sprintf("image %d of the last batch call "+
			"has no decoded input (outside the batch, it failed, or no batch call was made)", i))
	}
	return goInfo(&ci), nil
}
