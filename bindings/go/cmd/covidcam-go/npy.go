package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
)

// writeNPY writes rows x cols float32 as a NumPy v1.0 '<f4' C-order array,
// byte for byte as examples/npy.c does (header padded so data starts at 64).
func writeNPY(path string, data []float32, rows, cols int) error {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
		rows, cols)
	total := (10 + len(dict) + 1 + 63) / 64 * 64
	hlen := total - 10
	header := dict + strings.Repeat(" ", hlen-len(dict)-1) + "\n"
	buf := make([]byte, 0, total+4*len(data))
	buf = append(buf, 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, byte(hlen), byte(hlen>>8))
	buf = append(buf, header...)
	for _, f := range data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
	}
	return os.WriteFile(path, buf, 0o666)
}
