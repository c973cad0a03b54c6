#!/usr/bin/env python3
"""Check the ABI surface of libcovidcam.so (python3 standard library only).

usage: check_exports.py LIBRARY HEADER

* every defined dynamic symbol starts with covidcam_ (internal cc_* helpers,
  oneDNN, jansson, libpng stay hidden);
* every function declared COVIDCAM_API in HEADER is exported, and nothing
  else is (an exported covidcam_ symbol missing from the header is an
  undocumented API);
* the SONAME is libcovidcam.so.0.

Exit 0 on success, 1 on failure, 77 (meson: skipped) without binutils.
"""
import re
import shutil
import subprocess
import sys

SONAME = "libcovidcam.so.0"


def declared_functions(header):
    text = open(header, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names = set()
    # A declaration runs from COVIDCAM_API to the ';' and may span lines; the
    # function name is the identifier right before the first '('.
    for decl in re.findall(r"\bCOVIDCAM_API\b([^;#]*);", text):
        m = re.search(r"\b(\w+)\s*\(", decl)
        if m:
            names.add(m.group(1))
    return names


def exported_symbols(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms[parts[2].split("@")[0]] = parts[1]
    return syms


def soname(lib):
    out = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return m.group(1) if m else None


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    lib, header = sys.argv[1], sys.argv[2]
    if not shutil.which("nm") or not shutil.which("readelf"):
        print("nm or readelf not found: skipping")
        return 77
    problems = []
    declared = declared_functions(header)
    if len(declared) < 20:
        problems.append("only %d COVIDCAM_API functions parsed from %s" % (len(declared), header))
    syms = exported_symbols(lib)
    foreign = sorted(s for s in syms if not s.startswith("covidcam_"))
    if foreign:
        problems.append("exported symbols without the covidcam_ prefix: " + ", ".join(foreign))
    functions = {s for s, t in syms.items() if t in ("T", "W", "i")}
    missing = sorted(declared - functions)
    if missing:
        problems.append("declared in the header but not exported: " + ", ".join(missing))
    extra = sorted(s for s in syms if s.startswith("covidcam_") and s not in declared)
    if extra:
        problems.append("exported but not declared in the header: " + ", ".join(extra))
    got = soname(lib)
    if got != SONAME:
        problems.append("SONAME is %r, expected %r" % (got, SONAME))
    print("%d functions declared, %d symbols exported, SONAME %s"
          % (len(declared), len(syms), got))
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
