"""`python3 -m covidcam` against the C example programs on the same inputs:
same stdout (apart from the measured "ms"), same exit status, same stderr
apart from the program name, byte-identical output files."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

import support

BASIC = support.fixture("basic.safetensors")
BOTTLENECK = support.fixture("bottleneck.safetensors")
SAMPLE = support.fixture("sample_97x131.png")
SAMPLE64 = support.fixture("sample_64.png")
PKG_DIR = os.path.normpath(os.path.join(support.HERE, ".."))


def example(name):
    """Path of a C example program: $CC_EXAMPLE_<NAME>, else the build tree."""
    env = os.environ.get("CC_EXAMPLE_" + name.split("-")[1].upper())
    if env:
        return env
    root = os.environ.get("CC_BUILD_ROOT") or os.path.join(support.SOURCE_ROOT, "build")
    path = os.path.join(root, "examples", name)
    return path if os.access(path, os.X_OK) else None


def run(cmd):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def no_ms(text):
    return re.sub(r',"ms":[-+0-9.e]+', "", text)


def no_times(text):
    """stderr without what depends on time: the summary's time and rate and
    progress lines (a slow run may print one every 10 s)."""
    text = re.sub(r"(?m)^(covidcam[- ]\w+): [0-9.]+ s, [0-9.]+ images/s$", r"\1: TIME", text)
    return re.sub(r"(?m)^covidcam[- ]\w+: \d+/\d+ images \(\d+%\), .* ETA .*\n", "", text)


def index_text(data, d):
    """An --out-dir index file with the output folder d as "@" (also in the
    hex of *_bytes) and without "ms"."""
    text = no_ms(data.decode("utf-8", "surrogateescape"))
    return text.replace(os.fsencode(d).hex(), "@").replace(d, "@")


class CliTest(unittest.TestCase):
    maxDiff = None

    def compare(self, tool, args, stderr=True, dirs=()):
        """Run the C program and `python3 -m covidcam <tool>` with args (where
        the strings in `dirs` are replaced by a per-program directory)."""
        exe = example("covidcam-" + tool)
        if exe is None:
            self.skipTest("covidcam-%s not built (set CC_EXAMPLE_%s or CC_BUILD_ROOT)"
                          % (tool, tool.upper()))
        with tempfile.TemporaryDirectory() as c_dir, tempfile.TemporaryDirectory() as py_dir:
            def subst(d):
                return [d + a[len("@"):] if a.startswith("@") else a for a in args]
            c = run([exe] + subst(c_dir))
            py = run([sys.executable, "-m", "covidcam", tool] + subst(py_dir))
            prog = "covidcam-" + tool
            norm = lambda s, d: no_times(no_ms(s)).replace(prog, "covidcam " + tool).replace(d, "@")
            self.assertEqual(py[0], c[0], "exit status; stderr:\n%s\n%s" % (c[2], py[2]))
            self.assertEqual(norm(py[1], py_dir), norm(c[1], c_dir))
            if stderr:
                self.assertEqual(norm(py[2], py_dir), norm(c[2], c_dir))
            files = []
            for root, _, names in os.walk(c_dir):
                for n in names:
                    rel = os.path.relpath(os.path.join(root, n), c_dir)
                    files.append(rel)
                    got = support.read(os.path.join(py_dir, rel))
                    want = support.read(os.path.join(c_dir, rel))
                    if n in ("index.csv", "index.jsonl"):  # they name the files written
                        got, want = index_text(got, py_dir), index_text(want, c_dir)
                    self.assertEqual(got, want, rel)
            py_files = sorted(os.path.relpath(os.path.join(r, n), py_dir)
                              for r, _, ns in os.walk(py_dir) for n in ns)
            self.assertEqual(py_files, sorted(files))
            return c, files

    # ---------------------------------------------------------- classify

    def test_classify_json_real_xrays(self):
        files = support.need_xrays(4)
        c, _ = self.compare("classify", ["-m", BASIC, "--json", "-t", "1", SAMPLE] + files
                            + ["/nonexistent.png", BASIC])
        self.assertEqual(c[0], 1)
        self.assertEqual(c[1].count("\n"), len(files) + 3)

    def test_classify_text(self):
        c, _ = self.compare("classify", ["--threads=1", SAMPLE, SAMPLE64, "--model",
                                         BOTTLENECK])
        self.assertEqual(c[0], 0)
        self.assertIn("  D ", c[1])

    def test_classify_usage(self):
        for args in ([], ["-m", BASIC], [SAMPLE], ["-m", BASIC, "-t", "x", SAMPLE],
                     ["-m", BASIC, "-t", "2000", SAMPLE], ["--help"], ["-V"]):
            self.compare("classify", args)
        self.compare("classify", ["--bogus", SAMPLE], stderr=False)
        self.compare("classify", ["-m", "/nonexistent.safetensors", SAMPLE])
        self.compare("classify", ["-m", SAMPLE, SAMPLE])

    def test_classify_precision_errors(self):
        # a name other than fp32, bf16, int8, auto (exactly: no "FP32") is a
        # usage error, wherever it comes among the options
        for args in (["-m", BASIC, "--precision", "x", SAMPLE],
                     ["-m", BASIC, "--precision=FP32", SAMPLE],
                     ["--precision", "", "-m", BASIC, SAMPLE],
                     ["-m", BASIC, "--precision", "x", "--help"]):
            c, _ = self.compare("classify", args)
            self.assertEqual(c[0], 2)
            self.assertIn("--precision needs fp32, bf16, int8 or auto, not ", c[2])
        # int8 parses but no session computes it: the session failure, for
        # one worker and for the first of two
        for args in (["-m", BASIC, "--precision", "int8", SAMPLE],
                     ["-m", BASIC, "-J", "2", "--precision=int8", SAMPLE, SAMPLE64]):
            c, _ = self.compare("classify", args)
            self.assertEqual(c[0], 1)
            self.assertIn("cannot create a session: ", c[2])
        self.compare("classify", ["-m", BASIC, "--precision", "int8", "--help"])

    def batch_folder(self, d):
        """A folder of good images, a PNG and a DICOM that fail to decode, a
        file that is no image and a link to a missing file."""
        names = {"a.png": SAMPLE, "b.png": SAMPLE64, "c_bad.png": support.fixture(
                     "png/err_bad_zlib.png"), "d.png": SAMPLE, "e_bad.dcm": support.fixture(
                     "dicom/err_truncated.dcm"), "f.png": SAMPLE64}
        jpegs = sorted(n for n in os.listdir(support.fixture("jpeg"))
                       if n.endswith(".jpg") and not n.startswith("err_"))
        if jpegs:
            names["g.jpg"] = support.fixture(os.path.join("jpeg", jpegs[0]))
        for n, src in names.items():
            with open(os.path.join(d, n), "wb") as f:
                f.write(support.read(src))
        with open(os.path.join(d, "notes.txt"), "w") as f:
            f.write("not an image\n")
        os.symlink(os.path.join(d, "gone.png"), os.path.join(d, "h_missing.png"))
        return d

    def test_classify_batch(self):
        """--batch N: the C program's output, for chunks that hold failed,
        missing and unlistable files, with one worker and with two."""
        with tempfile.TemporaryDirectory() as d:
            folder = self.batch_folder(d)
            for batch in ("2", "3"):
                for extra in ([], ["--json"], ["-J", "2", "--json"], ["-J", "2"]):
                    c, _ = self.compare("classify", ["-m", BASIC, "-t", "1", "--batch", batch]
                                        + extra + [folder, "/nonexistent.png", SAMPLE64])
                    self.assertEqual(c[0], 1)
                    self.assertIn("cannot open /nonexistent.png", c[2])
            c, _ = self.compare("classify", ["-m", BASIC, "-t", "1", "--batch=3", "--json",
                                             "--csv", "@/out.csv", folder])
            self.assertEqual(c[0], 1)
            # one image, and a chunk larger than the input
            c, _ = self.compare("classify", ["-m", BOTTLENECK, "--batch", "256", SAMPLE])
            self.assertEqual(c[0], 0)

    def test_classify_batch_usage(self):
        for value in ("0", "257", "x", "-1", ""):
            c, _ = self.compare("classify", ["-m", BASIC, "--batch", value, SAMPLE])
            self.assertEqual(c[0], 2)
            self.assertIn("--batch needs an integer in [1, 256], not '%s'" % value, c[2])
        c, _ = self.compare("classify", ["--batch=257", "-m", BASIC, SAMPLE])
        self.assertEqual(c[0], 2)

    # ---------------------------------------------------------- gradcam

    def test_gradcam_batch_json_real_xrays(self):
        files = support.need_xrays(2)
        c, out = self.compare("gradcam", ["-m", BASIC, "-t", "1", "--json", "-M", "gradcam++",
                                          "-l", "layer3", "-c", "COVID", "--out-dir", "@/out",
                                          "--overlay", "--heatmap", "--npy", SAMPLE] + files)
        self.assertEqual(c[0], 0)
        self.assertEqual(len(out), 3 * (len(files) + 1) + 2)  # + index.csv, index.jsonl

    def test_gradcam_single_text(self):
        for method in ("gradcam", "gradcam++", "layercam"):
            c, out = self.compare("gradcam", ["-m", BOTTLENECK, "-t", "1", "-M", method,
                                              "-a", "0.25", "-o", "@/o.png",
                                              "--heatmap", "@/h.png", "--npy", "@/m.npy",
                                              "-c", "2", SAMPLE])
            self.assertEqual((c[0], sorted(out)), (0, ["h.png", "m.npy", "o.png"]))

    def test_gradcam_batch_default_overlay_and_layers(self):
        c, out = self.compare("gradcam", ["-m", BASIC, "--out-dir", "@", "-l", "layer2.0",
                                          SAMPLE, SAMPLE64])
        self.assertEqual(sorted(out), ["index.csv", "index.jsonl", "sample_64.overlay.png",
                                       "sample_97x131.overlay.png"])
        self.compare("gradcam", ["-m", BOTTLENECK, "--list-layers"])

    def test_gradcam_errors(self):
        for args in (["-m", BASIC, "-l", "nope", SAMPLE],
                     ["-m", BASIC, "-c", "7", SAMPLE],
                     ["-m", BASIC, "-c", "Flu", SAMPLE],
                     ["-m", BASIC, "-M", "scorecam", SAMPLE],
                     ["-m", BASIC, "-a", "1.5", SAMPLE],
                     ["-m", BASIC, "-o", "@/o.png", SAMPLE, SAMPLE64],
                     ["-m", BASIC, "--out-dir", "@", SAMPLE, support.fixture("png/../"
                                                                            "sample_97x131.png")],
                     ["-m", BASIC, "--out-dir", "@/" + "x" * 300 + "/y", SAMPLE],
                     ["-m", BASIC, "--json", "/nonexistent.png", SAMPLE64],
                     ["-m", BASIC],
                     ["-m", BASIC, "--precision", "x", SAMPLE],
                     ["-m", BASIC, "--precision=FP32", "--out-dir", "@", SAMPLE],
                     ["-m", BASIC, "--precision", "int8", SAMPLE],
                     ["-m", BASIC, "--precision", "int8", "--out-dir", "@", SAMPLE, SAMPLE64],
                     ["--help"], ["-V"]):
            self.compare("gradcam", args)
        # --list-layers only loads the model: no session, so int8 is no error
        c, _ = self.compare("gradcam", ["-m", BOTTLENECK, "--precision", "int8",
                                        "--list-layers"])
        self.assertEqual(c[0], 0)

    def test_precision_runs(self):
        """--precision auto (bf16 where the CPU computes it natively, else
        fp32) and bf16 (which fails the same way in both where it is not
        native): the same output as the C programs, which pass it to every
        worker session."""
        for p in ("auto", "bf16", "fp32"):
            self.compare("classify", ["-m", BASIC, "-t", "1", "--precision", p, SAMPLE])
            self.compare("classify", ["-m", BOTTLENECK, "-t", "1", "-J", "2", "--json",
                                      "--precision=" + p, SAMPLE, SAMPLE64])
            self.compare("gradcam", ["-m", BASIC, "-t", "1", "--precision", p, "-o", "@/o.png",
                                     "--npy", "@/m.npy", SAMPLE])
            self.compare("gradcam", ["-m", BOTTLENECK, "-t", "1", "-J", "2", "--json",
                                     "--precision", p, "--out-dir", "@", "--npy",
                                     SAMPLE, SAMPLE64])

    def test_folders(self):
        """Folders, stdin lists, --pattern, --csv, the pool, the summary and
        --out-dir (tests/formats/cli_folders.py), byte-identical to the C
        programs when they are built."""
        script = os.path.join(support.SOURCE_ROOT, "tests", "formats", "cli_folders.py")
        args = [sys.executable, script, support.FIXTURES, support.SHARED,
                "--classify", "%s -m covidcam classify" % sys.executable,
                "--gradcam", "%s -m covidcam gradcam" % sys.executable]
        for tool in ("classify", "gradcam"):
            exe = example("covidcam-" + tool)
            if exe:
                args += ["--reference-" + tool, exe]
        env = dict(os.environ)
        env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("ok: ", p.stdout)

    def test_cam_options(self):
        """Every method, layer lists, --eigen-smooth, --aug-smooth and --label
        (tests/formats/cli_cam_options.py): maps equal the binding's, output
        byte-identical to the C program when it is built."""
        script = os.path.join(support.SOURCE_ROOT, "tests", "formats", "cli_cam_options.py")
        args = [sys.executable, script, support.FIXTURES, support.SOURCE_ROOT,
                "--gradcam", "%s -m covidcam gradcam" % sys.executable]
        exe = example("covidcam-gradcam")
        if exe:
            args += ["--reference", exe]
        env = dict(os.environ)
        env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(": OK", p.stdout)

    def test_entry_point(self):
        rc, out, err = run([sys.executable, "-m", "covidcam", "version"])
        self.assertEqual(rc, 0)
        import covidcam
        self.assertIn(covidcam.library_version(), out)
        self.assertEqual(run([sys.executable, "-m", "covidcam"])[0], 2)
        rc, _, err = run([sys.executable, "-m", "covidcam", "frobnicate"])
        self.assertEqual(rc, 2)
        self.assertIn("unknown command 'frobnicate'", err)
        env_rc = subprocess.run(
            [sys.executable, "-m", "covidcam", "classify", "-m", BASIC, SAMPLE],
            env=dict(os.environ, PYTHONPATH=PKG_DIR, COVIDCAM_LIBRARY="/nonexistent.so"),
            capture_output=True, text=True)
        self.assertEqual(env_rc.returncode, 1)
        self.assertIn("/nonexistent.so: no such file", env_rc.stderr)


if __name__ == "__main__":
    unittest.main()
