"""Whole-folder runs of a classify / gradcam front end (the C programs,
`python3 -m covidcam`, covidcam-go), checked against what this script
computes itself: a tree built in a temporary folder (fixture images under
other names, a text file, a PNG named .txt, duplicate base names, a name
with a comma and quotes, a name that is not UTF-8, a FIFO, a DICOM without
extension and, when ../shared/data/cxr is present, real X-rays), then

  - the recursion order (images only, by the bytes of their path),
  - the --csv columns and values against the --json lines of the same run
    and against a per-file run, non-UTF-8 names as U+FFFD plus file_bytes,
  - the summary on stderr against the counts of the JSON lines,
  - stdin lists ("-") and --pattern,
  - a pool of workers against one worker (identical output),
  - gradcam --out-dir: the mirrored tree (NAME~2 for clashes, also between
    two input folders), index.csv equal to --csv, index.jsonl equal to stdout.

With --reference-classify/--reference-gradcam (the C programs), the CSV and
index files must also be byte-identical to theirs.

    cli_folders.py FIXTURES SHARED_CXR --classify "CMD" --gradcam "CMD"
                   [--reference-classify C_PROGRAM --reference-gradcam C_PROGRAM]

Used by meson (suite formats, on the C programs), by the Python binding's
tests and by the Go command's tests.
"""

import argparse
import collections
import csv
import fnmatch
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(cmd, stdin=b""):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=600)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def copy(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)


def build_tree(tmp, fx, shared):
    """The tree under tmp/tree (and tmp/tree2); returns the rel paths (bytes)
    of the images in it, and how many non-images / non-files it holds."""
    t = os.path.join(tmp, "tree").encode()
    s64, s97 = os.path.join(fx, "sample_64.png"), os.path.join(fx, "sample_97x131.png")
    images = {
        b"a/x.jpg": os.path.join(fx, "jpeg", "gray_q50.jpg"),
        b"a/x.png": s64,
        b'a/sub/we,ird "q".png': s97,
        b"a/wrong.txt": s97,  # a PNG whatever its name says
        b"b/x.png": s97,      # the base name of a/x.png again
        b"b/n\xffu.png": s64,  # not UTF-8
        b"b/scan": os.path.join(fx, "dicom", "mono12_window.dcm"),
    }
    val = os.path.join(shared, "val")
    if os.path.isdir(val):
        for cls in sorted(os.listdir(val))[:3]:
            for name in sorted(os.listdir(os.path.join(val, cls)))[:2]:
                images[b"c/" + os.fsencode(cls) + b"/" + os.fsencode(name)] = \
                    os.path.join(val, cls, name)
    for rel, src in images.items():
        copy(src, os.path.join(t, rel))
    with open(os.path.join(t, b"a/readme.md"), "w") as f:
        f.write("not an image\n")
    with open(os.path.join(t, b"b/notes.png"), "w") as f:
        f.write("not a PNG either, whatever the name\n")
    os.mkfifo(os.path.join(t, b"b/fifo"))
    copy(s64, os.path.join(tmp, "tree2", "a", "x.png"))
    return sorted(images), 2, 1


def lines(out):
    return [json.loads(l) for l in out.splitlines()]


def no_ms(o):
    return {k: v for k, v in o.items() if k != "ms"}


def path_of(o):
    return bytes.fromhex(o["file_bytes"]) if "file_bytes" in o else o["file"].encode()


def csv_value(v):
    """The CSV text of a JSON value, as documented for --csv."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "; ".join(v)
    if isinstance(v, str):
        return v
    return None  # numbers: compared as numbers


def check_csv(data, objs, extra=()):
    """The --csv bytes against the JSON objects of the same run."""
    text = data.decode("utf-8")  # strictly UTF-8, even for names that are not
    check(text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""),
          "CSV lines end with CRLF")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, rows = rows[0], rows[1:]
    ok = [o for o in objs if "status" not in o]
    classes = list(ok[0]["probabilities"]) if ok else header[3:3 + len(header) - 8 - len(extra)]
    want = (["file", "status", "top"] + classes + list(extra)
            + ["ood", "ood_score", "warnings", "error", "file_bytes"])
    check(header == want, "CSV header %s, want %s" % (header, want))
    check(len(rows) == len(objs), "%d CSV rows for %d images" % (len(rows), len(objs)))
    for row, o in zip(rows, objs):
        r = dict(zip(header, row))
        check(r["file"] == o["file"], "CSV file %r, JSON %r" % (r["file"], o["file"]))
        check(r["file_bytes"] == o.get("file_bytes", ""), "file_bytes of %r" % r["file"])
        check(r["status"] == o.get("status", "ok"), "status of %r" % r["file"])
        check(r["error"] == o.get("error", ""), "error of %r" % r["file"])
        for k in ("top", "ood", "ood_score", "warnings") + tuple(extra):
            v = o.get(k, o.get("outputs", {}).get(k))
            if isinstance(v, float):
                check(float(r[k]) == v, "%s of %r: %s vs %s" % (k, r["file"], r[k], v))
            else:
                check(r[k] == csv_value(v), "%s of %r: %r vs %r" % (k, r["file"], r[k], v))
        for c in classes:
            p = o.get("probabilities", {}).get(c)
            check((r[c] == "") if p is None else float(r[c]) == p,
                  "P(%s) of %r: %s vs %s" % (c, r["file"], r[c], p))
    return classes


SUMMARY = re.compile(r"^(.+): (\d+) images, (\d+) ok, (\d+) failed(?: \((.*)\))?$", re.M)


def check_summary(err, objs, classes, not_images, not_files):
    m = SUMMARY.search(err)
    check(m, "no summary in stderr:\n" + err)
    prog = m.group(1)
    failed = [o["status"] for o in objs if "status" in o]
    check((int(m.group(2)), int(m.group(3)), int(m.group(4)))
          == (len(objs), len(objs) - len(failed), len(failed)), "summary counts: " + m.group(0))
    reasons = collections.Counter(failed)
    got = dict(r.rsplit(": ", 1) for r in m.group(5).split(", ")) if m.group(5) else {}
    check({k: int(v) for k, v in got.items()} == dict(reasons), "failure reasons " + m.group(0))
    if not_images or not_files:
        check("%s: skipped in folders: %d not images, %d not regular files\n"
              % (prog, not_images, not_files) in err, "skipped counts in\n" + err)
    tops = collections.Counter(o["top"] for o in objs if "status" not in o)
    check("%s: top class:%s\n" % (prog, ",".join(" %s %d" % (c, tops[c]) for c in classes))
          in err, "top-class counts in\n" + err)
    check(re.search(r"^%s: [0-9.]+ s, [0-9.]+ images/s$" % re.escape(prog), err, re.M),
          "time and rate in\n" + err)


def expected_names(roots):
    """gradcam --out-dir names: path under its folder without the extension,
    NAME~2, NAME~3... for later clashes (computed here from the tree)."""
    taken, out = set(), []
    for rel in roots:
        d, _, base = rel.rpartition(b"/")
        d = d + b"/" if d else b""
        stem = base[:base.rfind(b".")] if base.rfind(b".") > 0 else base
        name, k = d + stem, 2
        while name in taken:
            name, k = b"%s%s~%d" % (d, stem, k), k + 1
        taken.add(name)
        out.append(name)
    return out


def npy_shape(path):
    with open(path, "rb") as f:
        head = f.read(128)
    check(head[:8] == b"\x93NUMPY\x01\x00", "npy magic of %r" % path)
    m = re.search(rb"'shape': \((\d+), (\d+)\)", head)
    return int(m.group(1)), int(m.group(2))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("fixtures")
    ap.add_argument("shared")
    ap.add_argument("--classify", required=True)
    ap.add_argument("--gradcam", required=True)
    ap.add_argument("--reference-classify")
    ap.add_argument("--reference-gradcam")
    a = ap.parse_args(argv)
    a.fixtures, a.shared = os.path.abspath(a.fixtures), os.path.abspath(a.shared)
    classify, gradcam = shlex.split(a.classify), shlex.split(a.gradcam)
    model = os.path.join(a.fixtures, "basic.safetensors")
    tmp = tempfile.mkdtemp(prefix="cc-folders-")
    try:
        return check_all(a, classify, gradcam, model, tmp)
    finally:
        shutil.rmtree(tmp)


def check_all(a, classify, gradcam, model, tmp):
    images, not_images, not_files = build_tree(tmp, a.fixtures, a.shared)
    os.chdir(tmp)  # relative paths: the same text in every front end's output
    tree = [b"tree/" + r for r in images]
    check(len(images) >= 7, "tree built")

    # 1. folders + files + failures, pool of 2 workers, one thread each
    extra_inputs = ["tree2/a/x.png", "/nonexistent.png", "tree/a/readme.md"]
    args = ["-m", model, "--json", "-t", "1"]
    rc, out, err = run(classify + args + ["-J", "2", "--csv", "c2.csv", "tree"] + extra_inputs)
    objs = lines(out)
    check(rc == 1, "exit status %d with failed images (want 1):\n%s" % (rc, err))
    want_order = tree + [os.fsencode(p) for p in extra_inputs]
    check([path_of(o) for o in objs] == want_order,
          "order %s\nwant %s" % ([path_of(o) for o in objs], want_order))
    by_path = {path_of(o): o for o in objs}
    check(by_path[b"/nonexistent.png"]["status"] == "i/o error", "missing file status")
    check(by_path[b"tree/a/readme.md"]["status"] in ("bad format", "unsupported"),
          "a text file named directly fails")
    check(by_path[b"tree/b/n\xffu.png"]["file"] == "tree/b/n\ufffdu.png", "U+FFFD name")
    with open("c2.csv", "rb") as f:
        c2 = f.read()
    classes = check_csv(c2, objs)
    check_summary(err, objs, classes, not_images, not_files)

    # the same images one by one, named directly, one worker: same answers
    singles = [os.fsdecode(p) for p in tree[:4]] + ["tree/b/n\xffu.png".encode(
        "latin-1").decode("utf-8", "surrogateescape")]
    rc1, out1, _ = run(classify + args + ["-J", "1"] + singles)
    check(rc1 == 0, "single files")
    for o in lines(out1):
        check(no_ms(o) == no_ms(by_path[path_of(o)]), "per-file result of %r" % o["file"])

    # 2. one worker gives the same output as the pool
    rc, out, err = run(classify + args + ["-J", "1", "--csv", "c1.csv", "tree"] + extra_inputs)
    check([no_ms(o) for o in lines(out)] == [no_ms(o) for o in objs], "-J 1 vs -J 2 JSON")
    with open("c1.csv", "rb") as f:
        check(f.read() == c2, "-J 1 vs -J 2 CSV")

    # 3. stdin list: a folder and a file
    rc, out, err = run(classify + args + ["-"], stdin=b"tree/a\r\n\ntree2/a/x.png\n")
    got = lines(out)
    want = sorted(p for p in tree if p.startswith(b"tree/a/")) + [b"tree2/a/x.png"]
    check(rc == 0 and [path_of(o) for o in got] == want, "stdin list order %s" % got)
    for o in got:
        check(no_ms(o) == no_ms(by_path[path_of(o)]), "stdin result of %r" % o["file"])

    # 4. --pattern: fnmatch on the file name, in folders only
    for pat in ("*.png", "x.[jp]*"):
        rc, out, err = run(classify + args + ["--pattern", pat, "tree"])
        want = [p for p in tree if fnmatch.fnmatchcase(os.fsdecode(p.rsplit(b"/", 1)[1]), pat)]
        check(rc == 0 and [path_of(o) for o in lines(out)] == want,
              "--pattern %s: %s, want %s" % (pat, out, want))
        check(re.search(r": %d images, %d ok, 0 failed" % (len(want), len(want)), err),
              "--pattern summary")

    # --quiet: no summary; a single image: none either
    _, _, err = run(classify + args + ["-q", "tree"])
    check(not SUMMARY.search(err), "--quiet keeps the summary off")

    # 5. gradcam --out-dir over two folders whose trees clash (tree2/a/x.png)
    rc, gout, gerr = run(gradcam + ["-m", model, "-t", "1", "-J", "2", "--json", "--out-dir",
                                    "out", "--overlay", "--npy", "--csv", "g.csv", "tree",
                                    "tree2"])
    gobjs = lines(gout)
    rels = images + [b"a/x.png"]
    names = expected_names(rels)
    ok = {path_of(o) for o in gobjs if "status" not in o}
    want_files = {b"index.csv", b"index.jsonl"}
    for rel, name, path in zip(rels, names, tree + [b"tree2/a/x.png"]):
        if path in ok:
            want_files |= {name + b".overlay.png", name + b".npy"}
    got_files = {os.path.relpath(os.path.join(r, n), b"out")
                 for r, _, ns in os.walk(b"out") for n in ns}
    check(got_files == want_files, "out-dir tree %s\nwant %s" % (sorted(got_files),
                                                               sorted(want_files)))
    check(b"a/x~3.npy" in got_files and b"a/x~2.npy" in got_files, "clash names")
    failed = [o for o in gobjs if "status" in o]
    check(rc == (1 if failed else 0), "gradcam exit %d" % rc)
    with open("out/index.jsonl") as f:
        check(f.read() == gout, "index.jsonl == --json lines")
    with open("out/index.csv", "rb") as f:
        index_csv = f.read()
    with open("g.csv", "rb") as f:
        check(f.read() == index_csv, "index.csv == --csv")
    check_csv(index_csv, gobjs, ("class", "probability", "overlay", "heatmap", "npy"))
    for o in gobjs:
        if "status" in o:
            continue
        npy = bytes.fromhex(o["outputs"]["npy_bytes"]) if "npy_bytes" in o["outputs"] \
            else o["outputs"]["npy"].encode()
        s = npy_shape(npy)
        check(s[0] == s[1] and s[0] > 0, "npy shape %s" % (s,))
        c = by_path.get(path_of(o))
        if c:
            check(all(abs(o["probabilities"][k] - c["probabilities"][k]) < 1e-6
                      for k in classes), "gradcam and classify agree on %r" % o["file"])
    check_summary(gerr, gobjs, classes, not_images, not_files)

    # 6. the same bytes as the C programs
    if a.reference_classify:
        run([a.reference_classify] + args + ["-J", "2", "--csv", "ref.csv", "tree"]
            + extra_inputs)
        with open("ref.csv", "rb") as f:
            check(f.read() == c2, "classify CSV differs from the C program's")
    if a.reference_gradcam:
        run([a.reference_gradcam, "-m", model, "-t", "1", "--json", "--out-dir", "ref",
             "--overlay", "--npy", "tree", "tree2"])
        with open("ref/index.csv", "rb") as f:
            ref = f.read().replace(b"ref/", b"out/")
        check(ref == index_csv, "index.csv differs from the C program's")
        for n in want_files - {b"index.csv", b"index.jsonl"}:
            with open(os.path.join(b"ref", n), "rb") as f, open(os.path.join(b"out", n),
                                                                 "rb") as g:
                check(f.read() == g.read(), "%r differs from the C program's" % n)
    print("ok: %d images in the tree (%s)" % (len(images), classify[-1]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as exc:
        sys.exit("FAIL: %s" % exc)
