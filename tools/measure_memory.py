#!/usr/bin/env python3
"""Peak and current memory of loading a model, creating a session and running
one Grad-CAM, for the sizing figures of docs/security.md. Uses the Python
binding on the built library (COVIDCAM_LIBRARY=build/lib/libcovidcam.so).

    COVIDCAM_LIBRARY=build/lib/libcovidcam.so python3 tools/measure_memory.py \
        MODEL [--gradcam LAYER] [--threads N]

Peak figures are getrusage's ru_maxrss, current ones /proc/self/statm; both
are process-wide, so each step's figure is the growth over the step before.
"""
import argparse
import os
import resource
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings",
                                "python"))
import covidcam  # noqa: E402


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--gradcam", metavar="LAYER")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    size = os.path.getsize(a.model) / 1048576.0
    # Load the library and initialise oneDNN on a tiny model first, so the
    # figures below are the model's and the session's alone.
    warm = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                        "basic.safetensors")
    with covidcam.Model(warm) as wm, covidcam.Session(wm, threads=a.threads):
        pass
    p0, r0 = peak_mb(), rss_mb()
    m = covidcam.Model(a.model)
    p1, r1 = peak_mb(), rss_mb()
    print("model file %.1f MiB: load peak +%.1f MiB (%.2f x file), resident after +%.1f MiB"
          % (size, p1 - p0, (p1 - p0) / size, r1 - r0))
    s = covidcam.Session(m, threads=a.threads)
    p2, r2 = peak_mb(), rss_mb()
    print("session (%dx%d input): peak +%.1f MiB, resident +%.1f MiB"
          % (m.input_size, m.input_size, p2 - p1, r2 - r1))
    if a.gradcam:
        tensor = [0.0] * (m.input_channels * m.input_size * m.input_size)
        h = s.gradcam_tensor(tensor, layer=a.gradcam)
        p3 = peak_mb()
        h.close()
        print("Grad-CAM at %s: peak +%.1f MiB over the session, resident after +%.1f MiB"
              % (a.gradcam, p3 - max(p2, r2), rss_mb() - r2))


if __name__ == "__main__":
    main()
