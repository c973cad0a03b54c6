/* Writing a float32 matrix as a NumPy .npy file (format version 1.0). */
#ifndef COVIDCAM_NPY_H
#define COVIDCAM_NPY_H

/* Write rows x cols floats (row-major) to `path` as a little-endian '<f4'
 * C-order array. Returns 0, or -1 with errno set. */
int npy_write_f32(const char *path, const float *data, int rows, int cols);

#endif
