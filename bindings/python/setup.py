"""The package version is libcovidcam's, set once in meson.build's
project(version:). pyproject.toml declares it dynamic; this reads it from the
source tree the package is built in (bindings/python/ of a libcovidcam
checkout), so it never repeats the number. meson's test `python_version`
checks that this returns meson's version."""
import pathlib
import re

from setuptools import setup


def meson_version():
    meson = pathlib.Path(__file__).resolve().parents[2] / "meson.build"
    text = meson.read_text(encoding="utf-8")
    m = re.search(r"\bproject\([^)]*?\bversion\s*:\s*'([^']+)'", text, re.S)
    if not m:
        raise SystemExit("%s: no project(version: '...') found" % meson)
    return m.group(1)


if __name__ == "__main__":
    setup(version=meson_version())
