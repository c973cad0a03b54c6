#!/usr/bin/env python3
"""tools/calibrate.py: the temperature fit recovers a known temperature, and the
model it writes carries it, loads, and keeps every tensor byte.

usage: test_calibrate.py LIBCOVIDCAM.so FIXTURES_DIR

Labels are drawn from softmax(z / T0) for random logits z (seeded), so the
maximum-likelihood temperature converges to T0; with 6000 samples the fit is
within a few percent. The fitted NLL is also checked against a fine grid.
Standard library only.
"""
import ctypes
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import calibrate  # noqa: E402


def synthetic(t0, n, k=4, seed=7):
    rng = random.Random(seed)
    logits, truth = [], []
    for _ in range(n):
        z = [rng.gauss(0, 4) for _ in range(k)]
        p = calibrate.softmax(z, t0)
        u, acc, y = rng.random(), 0.0, k - 1
        for i, v in enumerate(p):
            acc += v
            if u < acc:
                y = i
                break
        logits.append(z)
        truth.append(y)
    return logits, truth


def main():
    failures = 0
    for t0 in (0.5, 1.0, 2.0):
        logits, truth = synthetic(t0, 6000)
        t = calibrate.fit_temperature(logits, truth)
        grid = min((calibrate.nll(logits, truth, g / 100), g / 100) for g in range(20, 400, 5))
        ok = abs(t - t0) / t0 < 0.05 and calibrate.nll(logits, truth, t) <= grid[0] + 1e-9
        failures += not ok
        print("%s T0 %.2f fitted %.4f (grid best %.2f)" % ("ok  " if ok else "FAIL", t0, t,
                                                         grid[1]))
    lib = ctypes.CDLL(sys.argv[1])
    lib.covidcam_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.c_char_p, ctypes.c_size_t]
    lib.covidcam_model_free.argtypes = [ctypes.c_void_p]
    lib.covidcam_model_temperature.argtypes = [ctypes.c_void_p]
    lib.covidcam_model_temperature.restype = ctypes.c_float
    src = os.path.join(sys.argv[2], "basic.safetensors")
    with tempfile.TemporaryDirectory() as d:
        dst = os.path.join(d, "calibrated.safetensors")
        calibrate.write_with_temperature(src, dst, 1.8372)
        model, err = ctypes.c_void_p(), ctypes.create_string_buffer(512)
        st = lib.covidcam_model_load(dst.encode(), ctypes.byref(model), err, 512)
        t = lib.covidcam_model_temperature(model) if st == 0 else -1
        lib.covidcam_model_free(model)
        with open(src, "rb") as f:
            a = f.read()
        with open(dst, "rb") as f:
            b = f.read()
        na, nb = int.from_bytes(a[:8], "little"), int.from_bytes(b[:8], "little")
        ok = st == 0 and abs(t - 1.8372) < 1e-6 and a[8 + na:] == b[8 + nb:]
        failures += not ok
        print("%s written model loads (%s), temperature %g, tensors identical %s" %
              ("ok  " if ok else "FAIL", err.value.decode() or "ok", t, a[8 + na:] == b[8 + nb:]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
