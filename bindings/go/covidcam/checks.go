package covidcam

import (
	"fmt"
	"math"
	"strings"
)

// Go ints are 64 bits and C ints 32: a plain C.int(v) would turn a target
// class of 1<<32 into 0, and C strings end at the first NUL, so "layer1\x00x"
// would name layer1. Both are refused before the call, naming the argument.

func argError(op, format string, a ...any) error {
	return &Error{Op: op, Status: ErrInvalidArgument, Message: fmt.Sprintf(format, a...)}
}

// checkInts returns an error for the first (name, value) pair outside the C
// int range.
func checkInts(op string, pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		v := pairs[i+1].(int)
		if v < math.MinInt32 || v > math.MaxInt32 {
			return argError(op, "%s must be in [%d, %d], got %d", pairs[i], math.MinInt32,
				math.MaxInt32, v)
		}
	}
	return nil
}

// checkStride refuses a negative stride (a huge size_t in C).
func checkStride(op string, stride int) error {
	if stride < 0 {
		return argError(op, "stride must not be negative, got %d", stride)
	}
	return nil
}

// checkString refuses a string the C side would read only up to a NUL.
func checkString(op, name, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return argError(op, "%s %q contains a NUL byte", name, s)
	}
	return nil
}
