package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Heatmap is one Grad-CAM result with the classification it came from. It
// owns C memory: Close it (io.Closer). Accessors return zero values once closed.
type Heatmap struct {
	mu      sync.RWMutex
	h       *C.covidcam_heatmap
	classes []string
	model   *Model // names the class in Label
}

// Close frees the heatmap; closing twice is a no-op.
func (hm *Heatmap) Close() error {
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if hm.h != nil {
		C.covidcam_heatmap_free(hm.h)
		hm.h = nil
		runtime.SetFinalizer(hm, nil)
	}
	return nil
}

func (hm *Heatmap) read(f func(h *C.covidcam_heatmap)) bool {
	hm.mu.RLock()
	defer hm.mu.RUnlock()
	if hm.h == nil {
		return false
	}
	f(hm.h)
	return true
}

// Size returns the side of the square normalized map (the model input size).
func (hm *Heatmap) Size() (n int) {
	hm.read(func(h *C.covidcam_heatmap) { n = int(C.covidcam_heatmap_size(h)) })
	return
}

// Data returns a copy of the map normalized to [0, 1], Size() x Size() row-major.
func (hm *Heatmap) Data() (d []float32) {
	hm.read(func(h *C.covidcam_heatmap) {
		s := int(C.covidcam_heatmap_size(h))
		d = goFloats(C.covidcam_heatmap_data(h), s*s)
	})
	return
}

// Raw returns a copy of relu(cam) at the target layer's resolution, not
// normalized, with its width and height.
func (hm *Heatmap) Raw() (d []float32, width, height int) {
	hm.read(func(h *C.covidcam_heatmap) {
		width = int(C.covidcam_heatmap_raw_width(h))
		height = int(C.covidcam_heatmap_raw_height(h))
		d = goFloats(C.covidcam_heatmap_raw(h), width*height)
	})
	return
}

// RawSize returns the width and height of the raw map (the target layer's
// resolution).
func (hm *Heatmap) RawSize() (width, height int) {
	hm.read(func(h *C.covidcam_heatmap) {
		width = int(C.covidcam_heatmap_raw_width(h))
		height = int(C.covidcam_heatmap_raw_height(h))
	})
	return
}

// Class returns the index of the class explained.
func (hm *Heatmap) Class() (c int) {
	hm.read(func(h *C.covidcam_heatmap) { c = int(C.covidcam_heatmap_class(h)) })
	return
}

// ClassName returns the name of the class explained ("" once closed).
func (hm *Heatmap) ClassName() string {
	c := -1
	hm.read(func(h *C.covidcam_heatmap) { c = int(C.covidcam_heatmap_class(h)) })
	if c < 0 || c >= len(hm.classes) {
		return ""
	}
	return hm.classes[c]
}

// Probability returns the probability of the class explained.
func (hm *Heatmap) Probability() (p float32) {
	hm.read(func(h *C.covidcam_heatmap) { p = float32(C.covidcam_heatmap_probability(h)) })
	return
}

// Layer returns the target block ("layer4.1" for "layer4" on a basic ResNet).
func (hm *Heatmap) Layer() (s string) {
	hm.read(func(h *C.covidcam_heatmap) { s = C.GoString(C.covidcam_heatmap_layer(h)) })
	return
}

// Method returns the method that made the map.
func (hm *Heatmap) Method() (m Method) {
	hm.read(func(h *C.covidcam_heatmap) { m = Method(C.covidcam_heatmap_method(h)) })
	return
}

// ImageSize returns the size of the original image; 0, 0 for tensor input.
func (hm *Heatmap) ImageSize() (width, height int) {
	hm.read(func(h *C.covidcam_heatmap) {
		width = int(C.covidcam_heatmap_image_width(h))
		height = int(C.covidcam_heatmap_image_height(h))
	})
	return
}

// Result returns the classification that came with the map.
func (hm *Heatmap) Result() (r Result) {
	hm.read(func(h *C.covidcam_heatmap) {
		n := int(C.covidcam_heatmap_num_classes(h))
		r = Result{Top: int(C.covidcam_heatmap_top_class(h)),
			Classes:       append([]string(nil), hm.classes...),
			Probabilities: goFloats(C.covidcam_heatmap_probabilities(h), n),
			Logits:        goFloats(C.covidcam_heatmap_logits(h), n)}
		r.Label = r.Classes[r.Top]
	})
	return
}

// status runs a renderer through its _errbuf form, so a failure carries the
// library's message naming the culprit after msg.
func (hm *Heatmap) status(op string, f func(h *C.covidcam_heatmap, eb errbuf) C.covidcam_status,
	msg string) error {
	var st C.covidcam_status
	eb := newErrbuf()
	defer eb.free()
	if !hm.read(func(h *C.covidcam_heatmap) { st = f(h, eb) }) {
		return errClosed(op, "heatmap")
	}
	if st != C.COVIDCAM_OK {
		if m := eb.String(); m != "" {
			msg += ": " + m
		}
		return newError(op, st, msg)
	}
	return nil
}

// Resize returns the normalized map bilinearly resized to width x height.
func (hm *Heatmap) Resize(width, height int) ([]float32, error) {
	if err := checkRenderSize("Resize", width, height); err != nil {
		return nil, err
	}
	out := make([]float32, width*height)
	err := hm.status("Resize", func(h *C.covidcam_heatmap, eb errbuf) C.covidcam_status {
		return C.covidcam_heatmap_resize_errbuf(h, C.int(width), C.int(height), cfloats(out),
			eb.p, eb.size())
	}, fmt.Sprintf("cannot resize to %dx%d", width, height))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Colormap returns the map at width x height through the jet colormap as
// RGB bytes (3 * width * height).
func (hm *Heatmap) Colormap(width, height int) ([]byte, error) {
	if err := checkRenderSize("Colormap", width, height); err != nil {
		return nil, err
	}
	out := make([]byte, 3*width*height)
	err := hm.status("Colormap", func(h *C.covidcam_heatmap, eb errbuf) C.covidcam_status {
		return C.covidcam_heatmap_colormap_errbuf(h, C.int(width), C.int(height),
			(*C.uint8_t)(cbytes(out)), eb.p, eb.size())
	}, fmt.Sprintf("cannot colormap at %dx%d", width, height))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Overlay blends the jet map over gray pixels (height rows of width bytes,
// stride apart) with the map's opacity alpha in [0, 1] (pytorch-grad-cam's
// image_weight is 1 - alpha) and returns RGB bytes.
func (hm *Heatmap) Overlay(gray []byte, width, height, stride int, alpha float32) ([]byte,
	error) {
	if err := checkPixels("Overlay", gray, width, height, stride); err != nil {
		return nil, err
	}
	if err := checkRenderSize("Overlay", width, height); err != nil {
		return nil, err
	}
	out := make([]byte, 3*width*height)
	err := hm.status("Overlay", func(h *C.covidcam_heatmap, eb errbuf) C.covidcam_status {
		return C.covidcam_heatmap_overlay_errbuf(h, (*C.uint8_t)(cbytes(gray)), C.int(width),
			C.int(height), C.size_t(stride), C.float(1-alpha), (*C.uint8_t)(cbytes(out)),
			eb.p, eb.size())
	}, fmt.Sprintf("cannot overlay on %dx%d pixels (stride %d, alpha %g)", width, height,
		stride, alpha))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WriteOverlay writes the map blended over the original image (map opacity
// alpha) as an RGB PNG at the image's size. ErrInvalidArgument for a
// heatmap made from a tensor.
func (hm *Heatmap) WriteOverlay(path string, alpha float32) error {
	return hm.write("WriteOverlay", path, func(h *C.covidcam_heatmap, p *C.char,
		eb errbuf) C.covidcam_status {
		return C.covidcam_heatmap_write_overlay(h, p, C.float(1-alpha), eb.p, eb.size())
	})
}

// WriteColormap writes the jet colormap alone as an RGB PNG.
func (hm *Heatmap) WriteColormap(path string) error {
	return hm.write("WriteColormap", path, func(h *C.covidcam_heatmap, p *C.char,
		eb errbuf) C.covidcam_status {
		return C.covidcam_heatmap_write_colormap(h, p, eb.p, eb.size())
	})
}

func (hm *Heatmap) write(op, path string,
	f func(h *C.covidcam_heatmap, p *C.char, eb errbuf) C.covidcam_status) error {
	if err := checkString(op, "path", path); err != nil {
		return err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	eb := newErrbuf()
	defer eb.free()
	var st C.covidcam_status
	if !hm.read(func(h *C.covidcam_heatmap) { st = f(h, cpath, eb) }) {
		return errClosed(op, "heatmap")
	}
	if st != C.COVIDCAM_OK {
		return newError(op, st, eb.String())
	}
	return nil
}

// checkRenderSize refuses sizes the library would refuse, before the output
// slice is allocated (width * height could otherwise be anything).
func checkRenderSize(op string, width, height int) error {
	if width <= 0 || height <= 0 || width > C.COVIDCAM_MAX_IMAGE_DIM ||
		height > C.COVIDCAM_MAX_IMAGE_DIM || width*height > C.COVIDCAM_MAX_IMAGE_PIXELS {
		return argError(op, "bad size %dx%d (each side 1..%d, at most %d pixels)", width,
			height, C.COVIDCAM_MAX_IMAGE_DIM, C.COVIDCAM_MAX_IMAGE_PIXELS)
	}
	return nil
}

// EigenSmooth reports whether eigen_smooth was applied.
func (hm *Heatmap) EigenSmooth() (on bool) {
	hm.read(func(h *C.covidcam_heatmap) { on = C.covidcam_heatmap_eigen_smooth(h) != 0 })
	return
}

// AugSmooth returns the augmentation the map was computed with.
func (hm *Heatmap) AugSmooth() (a AugSmooth) {
	hm.read(func(h *C.covidcam_heatmap) { a = AugSmooth(C.covidcam_heatmap_aug_smooth(h)) })
	return
}

// Label returns covidcam_heatmap_label's text, e.g.
// "COVID 97.1% | gradcam++ layer4.1" (" eigen", " aug", " aug+flip" appended
// when used). ErrInvalidArgument once the heatmap or its model is closed.
func (hm *Heatmap) Label() (string, error) {
	buf := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(buf))
	var st C.covidcam_status = C.COVIDCAM_ERR_INVALID_ARGUMENT
	ok := hm.read(func(h *C.covidcam_heatmap) {
		if hm.model != nil {
			hm.model.read(func(m *C.covidcam_model) {
				st = C.covidcam_heatmap_label(h, m, buf, 512)
			})
		}
	})
	if !ok {
		return "", errClosed("Label", "heatmap")
	}
	if st != C.COVIDCAM_OK {
		return "", newError("Label", st, "the heatmap's model is closed")
	}
	return C.GoString(buf), nil
}

// WriteLabelledOverlay is WriteOverlay with DrawLegend(label) on the image.
func (hm *Heatmap) WriteLabelledOverlay(path string, alpha float32, label string) error {
	if err := checkString("WriteLabelledOverlay", "label", label); err != nil {
		return err
	}
	clabel := C.CString(label)
	defer C.free(unsafe.Pointer(clabel))
	return hm.write("WriteLabelledOverlay", path, func(h *C.covidcam_heatmap, p *C.char,
		eb errbuf) C.covidcam_status {
		return C.covidcam_heatmap_write_labelled_overlay(h, p, C.float(1-alpha), clabel, eb.p,
			eb.size())
	})
}

// DrawLegend draws covidcam_draw_legend's legend into rgb (3 * width *
// height bytes, rows packed) in place: text on a band along the top, the jet
// colour bar from 0 to 1 along the bottom.
func DrawLegend(rgb []byte, width, height int, text string) error {
	if err := checkRenderSize("DrawLegend", width, height); err != nil {
		return err
	}
	if len(rgb) < 3*width*height {
		return argError("DrawLegend", "rgb holds %d bytes, %dx%d RGB needs %d", len(rgb), width,
			height, 3*width*height)
	}
	if err := checkString("DrawLegend", "text", text); err != nil {
		return err
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	eb := newErrbuf()
	defer eb.free()
	st := C.covidcam_draw_legend((*C.uint8_t)(cbytes(rgb)), C.int(width), C.int(height), ctext,
		eb.p, eb.size())
	if st != C.COVIDCAM_OK {
		return newError("DrawLegend", st, eb.String())
	}
	return nil
}
