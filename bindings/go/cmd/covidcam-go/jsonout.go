package main

import (
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/covidcam/libcovidcam/bindings/go/covidcam"
)

// JSON lines formatted exactly as the C example programs print them (jansson,
// JSON_COMPACT | JSON_REAL_PRECISION(9), examples/cli_util.c), so the outputs
// can be compared byte for byte.

// f32 is a float32 printed in the shortest of %.6g ... %.9g reading back as it.
type f32 float32

// field keeps insertion order, as jansson does.
type field struct {
	key   string
	value any
}

type object []field

func shortestF32(f float32) float64 {
	var v float64
	for prec := 6; prec <= 9; prec++ {
		v, _ = strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', prec, 64), 64)
		if float32(v) == f {
			break
		}
	}
	return v
}

// jsonReal is jansson's jsonp_dtostr: "%.9g", ".0" when it looks like an
// integer, no '+' and no leading zeros in the exponent.
func jsonReal(x float64) string {
	s := strconv.FormatFloat(x, 'g', 9, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		exp := s[i+1:]
		sign := ""
		if exp[0] == '-' {
			sign = "-"
		}
		digits := strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
		if digits == "" {
			digits = "0"
		}
		s = s[:i+1] + sign + digits
	}
	return s
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteString(strings.ToUpper(strconv.FormatInt(int64(r)+0x100, 16)[1:]))
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func dumps(v any) string {
	switch x := v.(type) {
	case object:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = jsonString(f.key) + ":" + dumps(f.value)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []int:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = jsonString(s)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	case string:
		return jsonString(x)
	case f32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return "null"
		}
		return jsonReal(shortestF32(float32(x)))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "null"
		}
		return jsonReal(x)
	}
	panic("dumps: unsupported type")
}

// trustFields is "ood", "ood_score" (null without OOD statistics) and
// "warnings" ([] when none), as cli_json_set_trust writes them.
func trustFields(a covidcam.Assessment, warnings []string) object {
	var score any
	if a.OODAvailable {
		score = a.OODScore
	}
	if warnings == nil {
		warnings = []string{}
	}
	return object{{"ood", a.OOD}, {"ood_score", score}, {"warnings", warnings}}
}

func classMap(classes []string, values []float32) object {
	o := make(object, len(classes))
	for i, c := range classes {
		o[i] = field{c, f32(values[i])}
	}
	return o
}

// fileFields is {key: name} with U+FFFD for every byte that is not UTF-8 (as
// jsonString writes it), plus {key + "_bytes": the exact bytes in hex} when
// there is one, as cli_json_set_file does in the C programs.
func fileFields(key, path string) object {
	o := object{{key, path}}
	if !utf8.ValidString(path) {
		o = append(o, field{key + "_bytes", hex.EncodeToString([]byte(path))})
	}
	return o
}

// errorObject is the JSON object of a failed image.
func errorObject(file string, err error) object {
	status, msg := "error", err.Error()
	var e *covidcam.Error
	if errors.As(err, &e) {
		status, msg = e.Status.Error(), e.Message
	}
	return append(fileFields("file", file), field{"status", status}, field{"error", msg})
}

// errorLine is the JSON line of a failed image.
func errorLine(file string, err error) string { return dumps(errorObject(file, err)) }

// imageObject is cli_json_image_info: the "image" object of --json.
func imageObject(i covidcam.ImageInfo) object {
	o := object{{"format", i.Format.String()}, {"width", i.Width}, {"height", i.Height},
		{"bits", i.Bits}, {"channels", i.Channels}, {"photometric", i.Photometric}}
	if i.Format == covidcam.FormatJPEG {
		o = append(o, field{"orientation", i.Orientation})
	}
	if i.Format == covidcam.FormatDICOM {
		o = append(o, field{"modality", i.Modality}, field{"view_position", i.ViewPosition},
			field{"body_part", i.BodyPart}, field{"transfer_syntax", i.TransferSyntax},
			field{"frames", i.Frames}, field{"window_source", i.WindowSource.String()})
		// JSON has no NaN: a non-finite window is left out
		if i.WindowSource != covidcam.WindowNone && !math.IsNaN(i.WindowCenter) &&
			!math.IsInf(i.WindowCenter, 0) && !math.IsNaN(i.WindowWidth) &&
			!math.IsInf(i.WindowWidth, 0) {
			o = append(o, field{"window_center", i.WindowCenter},
				field{"window_width", i.WindowWidth})
		}
	}
	return o
}
