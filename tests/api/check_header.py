#!/usr/bin/env python3
"""Run COMPILER ARGS... to check that include/covidcam.h compiles cleanly.

usage: check_header.py COMPILER [ARGS...]

Exit status: the compiler's, or 77 (meson: skipped) when COMPILER is empty or
not installed, so machines without a C++ compiler skip instead of failing.
"""
import shutil
import subprocess
import sys


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    compiler = sys.argv[1]
    if not compiler or not shutil.which(compiler):
        print("compiler %r not found: skipping" % compiler)
        return 77
    cmd = [compiler] + sys.argv[2:]
    print(" ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(r.stdout + r.stderr)
    if r.returncode == 0 and (r.stdout.strip() or r.stderr.strip()):
        print("FAIL: the compiler printed diagnostics")
        return 1
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
