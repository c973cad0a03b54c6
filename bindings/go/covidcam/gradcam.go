package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// Method is a covidcam_cam_method (docs/gradcam.md).
type Method int

const (
	GradCAM      Method = C.COVIDCAM_CAM_GRADCAM
	GradCAMPP    Method = C.COVIDCAM_CAM_GRADCAMPP
	LayerCAM     Method = C.COVIDCAM_CAM_LAYERCAM
	HiResCAM     Method = C.COVIDCAM_CAM_HIRESCAM     // 0.4
	XGradCAM     Method = C.COVIDCAM_CAM_XGRADCAM     // 0.4
	EigenCAM     Method = C.COVIDCAM_CAM_EIGENCAM     // 0.4
	EigenGradCAM Method = C.COVIDCAM_CAM_EIGENGRADCAM // 0.4
	ScoreCAM     Method = C.COVIDCAM_CAM_SCORECAM     // 0.4
)

// Methods lists every method in enum order.
var Methods = []Method{GradCAM, GradCAMPP, LayerCAM, HiResCAM, XGradCAM, EigenCAM,
	EigenGradCAM, ScoreCAM}

// String returns the library's name of the method (covidcam_cam_method_name):
// "gradcam", "gradcam++", "layercam", "hirescam", "xgradcam", "eigencam",
// "eigengradcam" or "scorecam".
func (m Method) String() string {
	if s := C.covidcam_cam_method_name(C.covidcam_cam_method(m)); s != nil {
		return C.GoString(s)
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod accepts the names String returns, and "gradcampp".
func ParseMethod(s string) (Method, error) {
	var m C.covidcam_cam_method
	if !strings.ContainsRune(s, 0) {
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		if C.covidcam_cam_method_parse(cs, &m) == C.COVIDCAM_OK {
			return Method(m), nil
		}
	}
	names := make([]string, len(Methods))
	for i, x := range Methods {
		names[i] = x.String()
	}
	return 0, &Error{Op: "ParseMethod", Status: ErrInvalidArgument,
		Message: fmt.Sprintf("unknown method %q (%s)", s, strings.Join(names, ", "))}
}

// AugSmooth is a covidcam_aug_smooth: test-time augmentation of the map.
type AugSmooth int

const (
	AugNone      AugSmooth = C.COVIDCAM_AUG_NONE      // one view
	AugIntensity AugSmooth = C.COVIDCAM_AUG_INTENSITY // the input times 0.9, 1, 1.1
	AugFlip      AugSmooth = C.COVIDCAM_AUG_FLIP      // those and their mirrors
)

var augNames = []string{"none", "intensity", "flip"}

// String returns "none", "intensity" or "flip".
func (a AugSmooth) String() string {
	if a >= 0 && int(a) < len(augNames) {
		return augNames[a]
	}
	return fmt.Sprintf("AugSmooth(%d)", int(a))
}

// ParseAugSmooth accepts the names String returns.
func ParseAugSmooth(s string) (AugSmooth, error) {
	for i, n := range augNames {
		if n == s {
			return AugSmooth(i), nil
		}
	}
	return 0, &Error{Op: "ParseAugSmooth", Status: ErrInvalidArgument,
		Message: fmt.Sprintf("unknown aug_smooth %q (none, intensity, flip)", s)}
}

// GradCAMOptions selects what to explain. The zero value (or nil) means
// Grad-CAM of the top class at "layer4".
type GradCAMOptions struct {
	Method Method
	// Layer is "layer4" when empty; "layer3", "layer2.0"... (Model.Layers),
	// or several separated by commas ("layer3,layer4"): their mean map.
	Layer string
	// UseClass explains class index Class instead of the top class.
	UseClass bool
	Class    int
	// EigenSmooth replaces the method's weighted sum by its first principal
	// component (pytorch-grad-cam's eigen_smooth). 0.4.
	EigenSmooth bool
	// AugSmooth averages the maps of augmented views. 0.4.
	AugSmooth AugSmooth
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
	if err := checkInts(op, "AugSmooth", int(o.AugSmooth)); err != nil {
		return co, nil, err
	}
	co.method = C.covidcam_cam_method(o.Method)
	co.aug_smooth = C.covidcam_aug_smooth(o.AugSmooth)
	if o.EigenSmooth {
		co.eigen_smooth = 1
	}
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
	hm := &Heatmap{h: out, classes: s.model.Classes(), model: s.model}
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
