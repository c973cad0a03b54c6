package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Method is a covidcam_cam_method.
type Method int

const (
	GradCAM   Method = C.COVIDCAM_CAM_GRADCAM
	GradCAMPP Method = C.COVIDCAM_CAM_GRADCAMPP
	LayerCAM  Method = C.COVIDCAM_CAM_LAYERCAM
)

var methodNames = map[Method]string{GradCAM: "gradcam", GradCAMPP: "gradcam++",
	LayerCAM: "layercam"}

// String returns "gradcam", "gradcam++" or "layercam".
func (m Method) String() string {
	if s, ok := methodNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod accepts "gradcam", "gradcam++" (or "gradcampp") and "layercam".
func ParseMethod(s string) (Method, error) {
	if s == "gradcampp" {
		return GradCAMPP, nil
	}
	for m, name := range methodNames {
		if name == s {
			return m, nil
		}
	}
	return 0, &Error{Op: "ParseMethod", Status: ErrInvalidArgument,
		Message: fmt.Sprintf("unknown method %q (gradcam, gradcam++, layercam)", s)}
}

// GradCAMOptions selects what to explain. The zero value (or nil) means
// Grad-CAM of the top class at "layer4".
type GradCAMOptions struct {
	Method Method
	Layer  string // "layer4" when empty; "layer3", "layer2.0"... (Model.Layers)
	// UseClass explains class index Class instead of the top class.
	UseClass bool
	Class    int
}

// cOptions converts o; the caller frees the returned layer string.
func cOptions(op string, o *GradCAMOptions) (C.covidcam_gradcam_options, *C.char, error) {
	var co C.covidcam_gradcam_options
	C.covidcam_gradcam_options_init(&co)
	if o == nil {
		return co, nil, nil
	}
	if err := checkInts(op, "Method", int(o.Method), "Class", o.Class); err != nil {
		return co, nil, err
	}
	if err := checkString(op, "Layer", o.Layer); err != nil {
		return co, nil, err
	}
	co.method = C.covidcam_cam_method(o.Method)
	if o.UseClass {
		co.target_class = C.int(o.Class)
	}
	var layer *C.char
	if o.Layer != "" {
		layer = C.CString(o.Layer)
		co.layer = layer
	}
	return co, layer, nil
}

type gradcamFunc func(h *C.covidcam_session, o *C.covidcam_gradcam_options,
	out **C.covidcam_heatmap) C.covidcam_status

func (s *Session) gradcam(op string, opts *GradCAMOptions, f gradcamFunc) (*Heatmap, error) {
	co, layer, err := cOptions(op, opts)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(layer))
	var out *C.covidcam_heatmap
	err = s.call(op, func(h *C.covidcam_session) C.covidcam_status {
		return f(h, &co, &out)
	})
	if err != nil {
		return nil, err
	}
	hm := &Heatmap{h: out, classes: s.model.Classes()}
	runtime.SetFinalizer(hm, (*Heatmap).Close)
	return hm, nil
}

// GradCAM classifies the PNG file at path and computes its class activation map.
func (s *Session) GradCAM(path string, opts *GradCAMOptions) (*Heatmap, error) {
	if err := checkString("GradCAM", "path", path); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return s.gradcam("GradCAM", opts, func(h *C.covidcam_session, o *C.covidcam_gradcam_options,
		out **C.covidcam_heatmap) C.covidcam_status {
		return C.covidcam_gradcam_file(h, cpath, o, out)
	})
}

// GradCAMPNG is GradCAM for a PNG held in memory.
func (s *Session) GradCAMPNG(png []byte, opts *GradCAMOptions) (*Heatmap, error) {
	return s.gradcam("GradCAMPNG", opts, func(h *C.covidcam_session,
		o *C.covidcam_gradcam_options, out **C.covidcam_heatmap) C.covidcam_status {
		return C.covidcam_gradcam_png(h, cbytes(png), C.size_t(len(png)), o, out)
	})
}

// GradCAMPixels is GradCAM for 8-bit gray pixels (see ClassifyPixels).
func (s *Session) GradCAMPixels(pixels []byte, width, height, stride int,
	opts *GradCAMOptions) (*Heatmap, error) {
	if err := checkPixels("GradCAMPixels", pixels, width, height, stride); err != nil {
		return nil, err
	}
	return s.gradcam("GradCAMPixels", opts, func(h *C.covidcam_session,
		o *C.covidcam_gradcam_options, out **C.covidcam_heatmap) C.covidcam_status {
		return C.covidcam_gradcam_pixels(h, (*C.uint8_t)(cbytes(pixels)), C.int(width),
			C.int(height), C.size_t(stride), o, out)
	})
}

// GradCAMTensor is GradCAM for a normalized tensor (see ClassifyTensor).
func (s *Session) GradCAMTensor(tensor []float32, channels, height, width int,
	opts *GradCAMOptions) (*Heatmap, error) {
	if err := checkTensor("GradCAMTensor", tensor, channels, height, width); err != nil {
		return nil, err
	}
	return s.gradcam("GradCAMTensor", opts, func(h *C.covidcam_session,
		o *C.covidcam_gradcam_options, out **C.covidcam_heatmap) C.covidcam_status {
		return C.covidcam_gradcam_tensor(h, cfloats(tensor), C.int(channels), C.int(height),
			C.int(width), o, out)
	})
}
