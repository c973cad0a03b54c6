package covidcam

/*
#include <stdlib.h>
#include <covidcam.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Format is a covidcam_image_format: what an input was.
type Format int

const (
	FormatNone   Format = C.COVIDCAM_FORMAT_NONE
	FormatPNG    Format = C.COVIDCAM_FORMAT_PNG
	FormatJPEG   Format = C.COVIDCAM_FORMAT_JPEG
	FormatDICOM  Format = C.COVIDCAM_FORMAT_DICOM
	FormatPixels Format = C.COVIDCAM_FORMAT_PIXELS
	FormatTensor Format = C.COVIDCAM_FORMAT_TENSOR
)

var formatNames = map[Format]string{FormatNone: "none", FormatPNG: "PNG", FormatJPEG: "JPEG",
	FormatDICOM: "DICOM", FormatPixels: "pixels", FormatTensor: "tensor"}

// String returns "PNG", "JPEG", "DICOM", "pixels", "tensor" or "none", as
// covidcam-classify --json prints it.
func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// WindowSource is a covidcam_window_source: where a DICOM's gray window came from.
type WindowSource int

const (
	WindowNone   WindowSource = C.COVIDCAM_WINDOW_NONE
	WindowFile   WindowSource = C.COVIDCAM_WINDOW_FILE
	WindowVOILUT WindowSource = C.COVIDCAM_WINDOW_VOI_LUT
	WindowRange  WindowSource = C.COVIDCAM_WINDOW_RANGE
)

// String returns "none", "file", "voi_lut" or "range".
func (w WindowSource) String() string {
	switch w {
	case WindowFile:
		return "file"
	case WindowVOILUT:
		return "voi_lut"
	case WindowRange:
		return "range"
	}
	return "none"
}

// ImageInfo is covidcam_image_info: what an input image was. Orientation is
// the EXIF orientation applied to a JPEG (1..8); the DICOM fields are empty
// for the other formats.
type ImageInfo struct {
	Format                    Format
	Width, Height, Bits       int
	Channels                  int
	Photometric               string
	Orientation, Frames       int
	Modality, ViewPosition    string
	BodyPart, TransferSyntax  string
	WindowSource              WindowSource
	WindowCenter, WindowWidth float64
}

func newCInfo() C.covidcam_image_info {
	var ci C.covidcam_image_info
	C.covidcam_image_info_init(&ci)
	return ci
}

func goInfo(ci *C.covidcam_image_info) ImageInfo {
	return ImageInfo{Format: Format(ci.format), Width: int(ci.width), Height: int(ci.height),
		Bits: int(ci.bits), Channels: int(ci.channels),
		Photometric: C.GoString(&ci.photometric[0]), Orientation: int(ci.orientation),
		Frames: int(ci.frames), Modality: C.GoString(&ci.modality[0]),
		ViewPosition: C.GoString(&ci.view_position[0]), BodyPart: C.GoString(&ci.body_part[0]),
		TransferSyntax: C.GoString(&ci.transfer_syntax[0]),
		WindowSource:   WindowSource(ci.window_source), WindowCenter: float64(ci.window_center),
		WindowWidth: float64(ci.window_width)}
}

// Warnings gives the reasons to doubt that the model fits this input (a DICOM
// whose view is lateral or whose modality is not CR/DX), as covidcam-classify.
func (i ImageInfo) Warnings() []string {
	var w []string
	if i.Format != FormatDICOM {
		return w
	}
	switch i.ViewPosition {
	case "LATERAL", "LL", "RL", "LLD", "RLD":
		w = append(w, fmt.Sprintf("ViewPosition is %s: the model was trained on frontal "+
			"(PA/AP) views", i.ViewPosition))
	}
	if i.Modality != "CR" && i.Modality != "DX" {
		m := "absent"
		if i.Modality != "" {
			m = "'" + i.Modality + "'"
		}
		w = append(w, fmt.Sprintf("Modality is %s, not CR or DX: the model was trained on "+
			"radiographs", m))
	}
	return w
}

// ImageInfo describes the input of the session's last successful classify or
// Grad-CAM call (ErrInvalidArgument when the last call failed).
func (s *Session) ImageInfo() (ImageInfo, error) {
	ci := newCInfo()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return ImageInfo{}, errClosed("ImageInfo", "session")
	}
	if st := C.covidcam_session_image_info(s.h, &ci); st != C.COVIDCAM_OK {
		return ImageInfo{}, newError("ImageInfo", st,
			"the session has no decoded input (the last call failed or none was made)")
	}
	return goInfo(&ci), nil
}

// ImageInfo describes the image the heatmap was computed from.
func (hm *Heatmap) ImageInfo() (ImageInfo, error) {
	ci := newCInfo()
	var st C.covidcam_status = C.COVIDCAM_ERR_INVALID_ARGUMENT
	if !hm.read(func(h *C.covidcam_heatmap) { st = C.covidcam_heatmap_image_info(h, &ci) }) {
		return ImageInfo{}, errClosed("ImageInfo", "heatmap")
	}
	if st != C.COVIDCAM_OK {
		return ImageInfo{}, newError("ImageInfo", st, "cannot read the image info")
	}
	return goInfo(&ci), nil
}

func probe(op string, f func(ci *C.covidcam_image_info, eb *C.char, n C.size_t) C.covidcam_status) (
	ImageInfo, error) {
	ci := newCInfo()
	eb := (*C.char)(C.calloc(C.COVIDCAM_ERRBUF_SIZE, 1))
	defer C.free(unsafe.Pointer(eb))
	if st := f(&ci, eb, C.COVIDCAM_ERRBUF_SIZE); st != C.COVIDCAM_OK {
		return ImageInfo{}, newError(op, st, C.GoString(eb))
	}
	return goInfo(&ci), nil
}

// Probe decodes image bytes in any supported format (PNG, JPEG, DICOM)
// without a model and describes them. Safe for concurrent use.
func Probe(image []byte) (ImageInfo, error) {
	return probe("Probe", func(ci *C.covidcam_image_info, eb *C.char, n C.size_t) C.covidcam_status {
		return C.covidcam_image_probe(cbytes(image), C.size_t(len(image)), ci, eb, n)
	})
}

// ProbeFile is Probe for a file.
func ProbeFile(path string) (ImageInfo, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return probe("ProbeFile", func(ci *C.covidcam_image_info, eb *C.char, n C.size_t) C.covidcam_status {
		return C.covidcam_image_probe_file(cpath, ci, eb, n)
	})
}

// ClassifyImage classifies image bytes in any supported format.
func (s *Session) ClassifyImage(image []byte) (Result, error) {
	return s.classify("ClassifyImage", func(h *C.covidcam_session, p, l *C.float, n C.size_t,
		top *C.int) C.covidcam_status {
		return C.covidcam_classify_image(h, cbytes(image), C.size_t(len(image)), p, l, n, top)
	})
}

// GradCAMImage is GradCAM for image bytes in any supported format.
func (s *Session) GradCAMImage(image []byte, opts *GradCAMOptions) (*Heatmap, error) {
	return s.gradcam("GradCAMImage", opts, func(h *C.covidcam_session,
		o *C.covidcam_gradcam_options, out **C.covidcam_heatmap) C.covidcam_status {
		return C.covidcam_gradcam_image(h, cbytes(image), C.size_t(len(image)), o, out)
	})
}

// Warning bits of an Assessment (covidcam_warning): findings about an input
// image, checked before the network. Never a failure.
const (
	WarnNearlyConstant  = uint(C.COVIDCAM_WARN_NEARLY_CONSTANT)
	WarnLowDynamicRange = uint(C.COVIDCAM_WARN_LOW_DYNAMIC_RANGE)
	WarnLikelyInverted  = uint(C.COVIDCAM_WARN_LIKELY_INVERTED)
	WarnExtremeAspect   = uint(C.COVIDCAM_WARN_EXTREME_ASPECT)
	WarnLowResolution   = uint(C.COVIDCAM_WARN_LOW_RESOLUTION)
	WarnLowDetail       = uint(C.COVIDCAM_WARN_LOW_DETAIL)
)

// Assessment is covidcam_assessment: whether a classification can be trusted.
// Warnings holds the names of the warning bits ("likely_inverted", ...);
// OOD is true when the model carries OOD statistics (OODAvailable) and the
// image's score is above the model's threshold. It never changes an answer.
type Assessment struct {
	Bits         uint
	Warnings     []string
	OODAvailable bool
	OOD          bool
	OODScore     float64
	OODThreshold float64
}

func goAssessment(ca *C.covidcam_assessment) Assessment {
	a := Assessment{Bits: uint(ca.warnings), OODAvailable: ca.ood_available != 0,
		OOD: ca.ood != 0, OODScore: float64(ca.ood_score),
		OODThreshold: float64(ca.ood_threshold), Warnings: []string{}}
	for i := uint(0); i < 32; i++ {
		if name := C.covidcam_warning_name(C.uint(1 << i)); a.Bits&(1<<i) != 0 && name != nil {
			a.Warnings = append(a.Warnings, C.GoString(name))
		}
	}
	return a
}

// Sentences gives the warnings as the command-line programs print them
// ("name: why", the library's covidcam_warning_description), plus
// "out_of_distribution: ..." when the image is flagged.
func (a Assessment) Sentences() []string {
	out := []string{}
	for i := uint(0); i < 32; i++ {
		bit := C.uint(1 << i)
		if name := C.covidcam_warning_name(bit); a.Bits&(1<<i) != 0 && name != nil {
			out = append(out, C.GoString(name)+": "+C.GoString(C.covidcam_warning_description(bit)))
		}
	}
	if a.OOD {
		out = append(out, fmt.Sprintf("out_of_distribution: score %.1f is above the model's "+
			"threshold %.1f", a.OODScore, a.OODThreshold))
	}
	return out
}

// OODLine is the table output's verdict for a flagged image ("" when not).
func (a Assessment) OODLine() string {
	if !a.OOD {
		return ""
	}
	return fmt.Sprintf("  OUT OF DISTRIBUTION: this image is unlike the model's training "+
		"images (score %.1f > %.1f); do not trust the answer", a.OODScore, a.OODThreshold)
}

// Assessment of the session's last successful classify or Grad-CAM call
// (ErrInvalidArgument when the last call failed).
func (s *Session) Assessment() (Assessment, error) {
	var ca C.covidcam_assessment
	C.covidcam_assessment_init(&ca)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return Assessment{}, errClosed("Assessment", "session")
	}
	if st := C.covidcam_session_assessment(s.h, &ca); st != C.COVIDCAM_OK {
		return Assessment{}, newError("Assessment", st,
			"the session has no assessment (the last call failed or none was made)")
	}
	return goAssessment(&ca), nil
}

// Features returns the pooled features (what the fc layer reads) of the
// session's last successful classify or Grad-CAM call.
func (s *Session) Features() ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return nil, errClosed("Features", "session")
	}
	n := int(C.covidcam_model_num_features(C.covidcam_session_model(s.h)))
	out := make([]float32, n)
	if st := C.covidcam_session_features(s.h, cfloats(out), C.size_t(n)); st != C.COVIDCAM_OK {
		return nil, newError("Features", st, C.GoString(C.covidcam_session_last_error(s.h)))
	}
	return out, nil
}

// Input returns the network input of the last successful call: the
// preprocessed tensor, channels x size x size, planar (covidcam_session_input).
func (s *Session) Input() ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return nil, errClosed("Input", "session")
	}
	m := C.covidcam_session_model(s.h)
	c, size := int(C.covidcam_model_input_channels(m)), int(C.covidcam_model_input_size(m))
	out := make([]float32, c*size*size)
	if st := C.covidcam_session_input(s.h, cfloats(out), C.size_t(len(out))); st != C.COVIDCAM_OK {
		return nil, newError("Input", st, C.GoString(C.covidcam_session_last_error(s.h)))
	}
	return out, nil
}

// Assessment of the classification the heatmap came with.
func (hm *Heatmap) Assessment() (Assessment, error) {
	var ca C.covidcam_assessment
	C.covidcam_assessment_init(&ca)
	var st C.covidcam_status = C.COVIDCAM_ERR_INVALID_ARGUMENT
	if !hm.read(func(h *C.covidcam_heatmap) { st = C.covidcam_heatmap_assessment(h, &ca) }) {
		return Assessment{}, errClosed("Assessment", "heatmap")
	}
	if st != C.COVIDCAM_OK {
		return Assessment{}, newError("Assessment", st, "cannot read the assessment")
	}
	return goAssessment(&ca), nil
}
