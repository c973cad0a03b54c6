package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Model holds immutable weights and metadata. It is safe for concurrent use.
type Model struct {
	mu       sync.RWMutex // write-locked only by Close
	h        *C.covidcam_model
	sessions int // open sessions, guarded by smu
	smu      sync.Mutex
	classes  []string
}

// Load reads a covidcam safetensors model from path.
func Load(path string) (*Model, error) {
	if err := checkString("Load", "path", path); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	eb := newErrbuf()
	defer eb.free()
	var h *C.covidcam_model
	if st := C.covidcam_model_load(cpath, &h, eb.p, eb.size()); st != C.COVIDCAM_OK {
		return nil, newError("Load", st, eb.String())
	}
	return newModel(h), nil
}

// LoadBytes loads a model from the bytes of a covidcam safetensors file;
// data is only read during the call.
func LoadBytes(data []byte) (*Model, error) {
	eb := newErrbuf()
	defer eb.free()
	var h *C.covidcam_model
	st := C.covidcam_model_load_from_memory(cbytes(data), C.size_t(len(data)), &h, eb.p,
		eb.size())
	if st != C.COVIDCAM_OK {
		return nil, newError("LoadBytes", st, eb.String())
	}
	return newModel(h), nil
}

func newModel(h *C.covidcam_model) *Model {
	m := &Model{h: h}
	n := int(C.covidcam_model_num_classes(h))
	for i := 0; i < n; i++ {
		m.classes = append(m.classes, C.GoString(C.covidcam_model_class_name(h, C.int(i))))
	}
	runtime.SetFinalizer(m, (*Model).Close)
	return m
}

// Close frees the model. It fails while sessions of the model are open;
// closing twice is a no-op. Model implements io.Closer.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil
	}
	m.smu.Lock()
	open := m.sessions
	m.smu.Unlock()
	if open > 0 {
		return &Error{Op: "Model.Close", Status: ErrInvalidArgument,
			Message: "the model still has open sessions; close them first"}
	}
	C.covidcam_model_free(m.h)
	m.h = nil
	runtime.SetFinalizer(m, nil)
	return nil
}

// read runs f with the handle under the read lock; false if closed.
func (m *Model) read(f func(h *C.covidcam_model)) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.h == nil {
		return false
	}
	f(m.h)
	return true
}

// Classes returns the class names in logit order (a copy).
func (m *Model) Classes() []string { return append([]string(nil), m.classes...) }

// NumClasses returns the number of classes.
func (m *Model) NumClasses() int { return len(m.classes) }

// ClassIndex returns the index of the class called name, or -1.
func (m *Model) ClassIndex(name string) int {
	for i, c := range m.classes {
		if c == name {
			return i
		}
	}
	return -1
}

// InputSize returns the side of the square network input (0 once closed).
func (m *Model) InputSize() (n int) {
	m.read(func(h *C.covidcam_model) { n = int(C.covidcam_model_input_size(h)) })
	return
}

// InputChannels returns the number of input channels, 1 or 3 (0 once closed).
func (m *Model) InputChannels() (n int) {
	m.read(func(h *C.covidcam_model) { n = int(C.covidcam_model_input_channels(h)) })
	return
}

// Temperature returns the softmax temperature T of the model's calibration
// (1 when the file has none; 0 once closed): probabilities are
// softmax(logits / T), logits stay raw.
func (m *Model) Temperature() (t float32) {
	m.read(func(h *C.covidcam_model) { t = float32(C.covidcam_model_temperature(h)) })
	return
}

// HasOOD reports whether the model file carries out-of-distribution statistics.
func (m *Model) HasOOD() (b bool) {
	m.read(func(h *C.covidcam_model) { b = C.covidcam_model_has_ood(h) != 0 })
	return
}

// NumFeatures returns the length of the pooled feature vector (Session.Features).
func (m *Model) NumFeatures() (n int) {
	m.read(func(h *C.covidcam_model) { n = int(C.covidcam_model_num_features(h)) })
	return
}

// Arch returns the metadata arch ("resnet50", or "resnet" for a custom one).
func (m *Model) Arch() (s string) {
	m.read(func(h *C.covidcam_model) { s = C.GoString(C.covidcam_model_arch(h)) })
	return
}

// Metadata returns the raw string value of metadata key and whether it
// exists (never for a key holding a NUL byte).
func (m *Model) Metadata(key string) (value string, ok bool) {
	if checkString("Metadata", "key", key) != nil {
		return "", false
	}
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	m.read(func(h *C.covidcam_model) {
		if p := C.covidcam_model_metadata(h, ckey); p != nil {
			value, ok = C.GoString(p), true
		}
	})
	return
}

// Layers returns the valid Grad-CAM target layer names.
func (m *Model) Layers() (names []string) {
	m.read(func(h *C.covidcam_model) {
		n := int(C.covidcam_model_num_layers(h))
		for i := 0; i < n; i++ {
			names = append(names, C.GoString(C.covidcam_model_layer_name(h, C.int(i))))
		}
	})
	return
}

// Preprocess turns gray pixels (height rows of width bytes, stride apart)
// into the normalized C x S x S network input, exactly as classification does.
func (m *Model) Preprocess(pixels []byte, width, height, stride int) ([]float32, error) {
	if err := checkPixels("Preprocess", pixels, width, height, stride); err != nil {
		return nil, err
	}
	var out []float32
	var st C.covidcam_status
	eb := newErrbuf()
	defer eb.free()
	ok := m.read(func(h *C.covidcam_model) {
		c := int(C.covidcam_model_input_channels(h))
		s := int(C.covidcam_model_input_size(h))
		out = make([]float32, c*s*s)
		st = C.covidcam_model_preprocess_errbuf(h, (*C.uint8_t)(cbytes(pixels)), C.int(width),
			C.int(height), C.size_t(stride), cfloats(out), C.size_t(len(out)), eb.p, eb.size())
	})
	if !ok {
		return nil, errClosed("Preprocess", "model")
	}
	if st != C.COVIDCAM_OK {
		return nil, newError("Preprocess", st, "cannot preprocess the pixels: "+eb.String())
	}
	return out, nil
}

// checkPixels verifies that the slice holds what the dimensions promise (C
// cannot); impossible dimensions are left for the library to reject.
func checkPixels(op string, pixels []byte, width, height, stride int) error {
	if err := checkInts(op, "width", width, "height", height); err != nil {
		return err
	}
	if err := checkStride(op, stride); err != nil {
		return err
	}
	if width <= 0 || height <= 0 || stride < width {
		return nil
	}
	if stride > (math.MaxInt-width)/height {
		return argError(op, "stride %d overflows for %d rows", stride, height)
	}
	need := stride*(height-1) + width
	if len(pixels) < need {
		return &Error{Op: op, Status: ErrInvalidArgument,
			Message: "pixel slice too short for the dimensions"}
	}
	return nil
}

func (m *Model) attach() (*C.covidcam_model, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.h == nil {
		return nil, errClosed("NewSession", "model")
	}
	m.smu.Lock()
	m.sessions++
	m.smu.Unlock()
	return m.h, nil
}

func (m *Model) detach() {
	m.smu.Lock()
	m.sessions--
	m.smu.Unlock()
}
