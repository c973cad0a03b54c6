#!/usr/bin/env python3
"""Run the shell commands of the bindings' READMEs as a user would, in a copy
of the source tree, and fail if one fails.

    tools/check_readme_commands.py [--no-install-check] SOURCE_ROOT BUILD_DIR FILE.md...

Every ```sh block of FILE.md must follow a marker comment:

    <!-- readme-check: run -->            the block is run
    <!-- readme-check: skip: REASON -->   it is not (the reason is required)

so that a new command cannot go unchecked by accident. A ```python block may
be marked `run` too: it runs as `python3 -` at that point of the shell (so
with the python3 a README made current). The run blocks of one
file go, in order, to one `bash -eo pipefail` started in the root of the copy
(a `cd` or `export` carries over to the next block, as when typing them).

The copy holds the tracked files of SOURCE_ROOT (`git ls-files`; every file
but build*/ and .git when it is no git checkout), with `build` a symlink to
BUILD_DIR: the READMEs' `meson setup build && ninja -C build` then finds the
tree already built (building from scratch takes minutes). The commands see a
clean environment: PATH, a new HOME and TMPDIR, LANG, a new GOCACHE and
GOPROXY=off (no network); no COVIDCAM_LIBRARY, LD_LIBRARY_PATH,
PKG_CONFIG_PATH or PYTHONPATH unless a README sets them.

Unless --no-install-check, it then checks what no README can run unprivileged:
the library installed by `meson install` (here into a --destdir) is what an
installed Python package loads through the dynamic loader (LD_LIBRARY_PATH
standing in for ld.so.cache) and through COVIDCAM_LIBRARY, from a directory
outside the checkout.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^<!--\s*readme-check:\s*(run|skip)\s*(?::\s*(.*?))?\s*-->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
SHELL_LANGS = {"sh", "bash", "shell", "console"}
DEBIAN_PYTHON = "/usr/bin/python3"
# one file's commands (venv, pip install, go builds) take seconds; this
# bounds a command waiting for input or the network.
FILE_TIMEOUT = 300


class ReadmeError(Exception):
    pass


def parse_blocks(path):
    """[(line, action, reason, text)] of the fenced shell blocks of path."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, pending, i = [], None, 0
    while i < len(lines):
        m = MARKER.match(lines[i].strip())
        if m:
            if pending:
                raise ReadmeError("%s:%d: marker not followed by a code block" % (path, pending[0]))
            if m.group(1) == "skip" and not m.group(2):
                raise ReadmeError("%s:%d: 'skip' needs a reason: <!-- readme-check: skip: WHY -->"
                                  % (path, i + 1))
            pending = (i + 1, m.group(1), m.group(2) or "")
            i += 1
            continue
        f = FENCE.match(lines[i])
        if not f:
            if pending and lines[i].strip():
                raise ReadmeError("%s:%d: marker not followed by a code block" % (path, pending[0]))
            i += 1
            continue
        start, lang = i + 1, f.group(2).lower()
        body = []
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ReadmeError("%s:%d: code block not closed" % (path, start))
        i += 1
        if lang in SHELL_LANGS:
            if not pending:
                raise ReadmeError("%s:%d: ```%s block without a <!-- readme-check: run --> or "
                                  "<!-- readme-check: skip: WHY --> marker" % (path, start, lang))
            blocks.append((start, pending[1], pending[2], "\n".join(body)))
        elif lang == "python" and pending:
            blocks.append((start, pending[1], pending[2],
                           "python3 - <<'__README_PYTHON__'\n%s\n__README_PYTHON__"
                           % "\n".join(body)))
        elif pending:
            raise ReadmeError("%s:%d: marker before a ```%s block (only sh and python run)"
                              % (path, pending[0], lang or "(plain)"))
        pending = None
    if pending:
        raise ReadmeError("%s:%d: marker not followed by a code block" % (path, pending[0]))
    return blocks


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def copy_tree(src, dst):
    files = tracked_files(src)
    if files is None:
        shutil.copytree(src, dst, symlinks=True,
                        ignore=lambda d, names: [n for n in names if n == ".git" or
                                                 (d == src and n.startswith("build"))])
        return
    for rel in files:
        s = os.path.join(src, rel)
        if not os.path.lexists(s):  # deleted in the work tree, not yet committed
            continue
        d = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d, follow_symlinks=False)


def clean_env(tmp):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": os.path.join(tmp, "home"), "TMPDIR": os.path.join(tmp, "tmp"),
           "GOCACHE": os.path.join(tmp, "gocache"), "GOPROXY": "off",
           "OMP_WAIT_POLICY": "passive"}
    # which python3 a pyenv shim runs
    env.update({k: v for k, v in os.environ.items() if k.startswith("PYENV_")})
    for d in (env["HOME"], env["TMPDIR"]):
        os.makedirs(d, exist_ok=True)
    return env


def script_for(name, blocks):
    parts = ["set -eEo pipefail",
             "trap 'echo \"readme-check: FAILED in $__block (status $?): $BASH_COMMAND\" >&2' ERR"]
    for line, action, _, text in blocks:
        if action != "run":
            continue
        where = "%s:%d" % (name, line)
        parts.append("__block=%s" % shlex.quote(where))
        parts.append("printf '%%s\\n' %s" % shlex.quote(
            "---- %s\n" % where + "\n".join("$ " + t for t in text.splitlines())))
        parts.append(text)
    return "\n".join(parts) + "\n"


def run_file(name, blocks, clone, env):
    script = script_for(name, blocks)
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=FILE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        sys.stdout.write((exc.stdout or b"").decode("utf-8", "replace"))
        print("readme-check: %s: commands did not finish in %d s" % (name, FILE_TIMEOUT))
        return False
    sys.stdout.write(proc.stdout.decode("utf-8", "replace"))
    if proc.returncode != 0:
        print("readme-check: %s: FAILED (exit status %d)" % (name, proc.returncode))
        return False
    return True


LOADED_LIB = """import covidcam, covidcam._lib as l
lib = l.get()
maps = open("/proc/self/maps").read().split()
print([p for p in maps if "libcovidcam.so" in p][0], lib.version().decode())
"""


def check_installed(build, tmp, clone, env):
    """The installed layout: meson install (into a destdir), the package
    installed into a venv, loaded from outside the checkout."""
    dest = os.path.join(tmp, "destdir")
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                    "--destdir", dest], check=True, stdout=subprocess.DEVNULL)
    sonames = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs
               if f == "libcovidcam.so.0"]
    if len(sonames) != 1:
        raise ReadmeError("meson install put %d libcovidcam.so.0 in %s" % (len(sonames), dest))
    soname = sonames[0]
    venv = os.path.join(tmp, "venv-installed")
    subprocess.run([DEBIAN_PYTHON, "-m", "venv", "--system-site-packages", venv],
                   env=env, check=True)
    py = os.path.join(venv, "bin", "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-index",
                    "--no-build-isolation", os.path.join(clone, "bindings", "python")],
                   env=env, check=True)
    elsewhere = env["TMPDIR"]
    want = os.path.realpath(soname)
    for how, extra in (("dynamic loader (LD_LIBRARY_PATH)",
                        {"LD_LIBRARY_PATH": os.path.dirname(soname)}),
                       ("COVIDCAM_LIBRARY", {"COVIDCAM_LIBRARY": soname})):
        out = subprocess.run([py, "-c", LOADED_LIB], cwd=elsewhere, env=dict(env, **extra),
                             capture_output=True, text=True)
        got = out.stdout.split()
        if out.returncode != 0 or not got or os.path.realpath(got[0]) != want:
            raise ReadmeError("installed package through the %s: loaded %r, wanted %s\n%s"
                              % (how, got, want, out.stderr))
        print("installed package, library found through the %s: %s (%s)" % (how, got[0], got[1]))
    # Installed, the package does not look for build trees next to itself:
    # without the library on the loader's path it says where it looked.
    out = subprocess.run([py, "-m", "covidcam", "version"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    if out.returncode == 0:
        print("note: libcovidcam is installed on this system: %s" % out.stdout.strip())
    elif "tree" in out.stderr or "system loader" not in out.stderr:
        raise ReadmeError("installed package without a library: unexpected search list:\n"
                          + out.stderr)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-install-check", action="store_true")
    ap.add_argument("source")
    ap.add_argument("build")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    source, build = os.path.abspath(args.source), os.path.abspath(args.build)
    try:
        parsed = [(f, parse_blocks(os.path.join(source, f))) for f in args.files]
    except (ReadmeError, OSError) as exc:
        print("readme-check: %s" % exc)
        return 1
    runs = sum(1 for _, bl in parsed for b in bl if b[1] == "run")
    if runs == 0:
        print("readme-check: no <!-- readme-check: run --> block in %s" % " ".join(args.files))
        return 1
    ok = True
    with tempfile.TemporaryDirectory(prefix="readme-check-") as tmp:
        clone = os.path.join(tmp, "libcovidcam")
        copy_tree(source, clone)
        if os.path.lexists(os.path.join(clone, "build")):
            print("readme-check: the source tree tracks a 'build' entry")
            return 1
        os.symlink(build, os.path.join(clone, "build"))
        env = clean_env(tmp)
        for name, blocks in parsed:
            for line, action, reason, _ in blocks:
                if action == "skip":
                    print("skipped %s:%d: %s" % (name, line, reason))
            ok = run_file(name, blocks, clone, env) and ok
        if ok and not args.no_install_check:
            try:
                check_installed(build, tmp, clone, env)
            except (ReadmeError, subprocess.CalledProcessError) as exc:
                print("readme-check: %s" % exc)
                ok = False
    skips = sum(1 for _, bl in parsed for b in bl if b[1] == "skip")
    print("readme-check: %d block(s) run, %d skipped: %s" % (runs, skips,
                                                             "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
