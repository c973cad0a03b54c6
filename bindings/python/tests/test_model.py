import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import support
import covidcam

BASIC = support.fixture("basic.safetensors")
BOTTLENECK = support.fixture("bottleneck.safetensors")


class LibraryTest(unittest.TestCase):
    def test_search_order(self):
        # $COVIDCAM_LIBRARY, $CC_BUILD_ROOT, the build trees (build/, then the
        # quick start's build-demo/ and build-server/), then the system loader.
        saved = {k: os.environ.pop(k, None) for k in ("COVIDCAM_LIBRARY", "CC_BUILD_ROOT")}
        try:
            where = [w for w, _ in covidcam._lib.candidates()]
            paths = [p for _, p in covidcam._lib.candidates()]
        finally:
            for k, v in saved.items():
                if v is not None:
                    os.environ[k] = v
        self.assertEqual(where[:3], ["build tree", "build-demo tree", "build-server tree"])
        root = os.path.normpath(os.path.join(os.path.dirname(covidcam.__file__), "..", "..", ".."))
        self.assertEqual(paths[1], os.path.join(root, "build-demo", "lib", "libcovidcam.so"))
        self.assertEqual(where[3], "system loader")

    def test_installed_package_skips_build_trees(self):
        # A copy of the package outside a checkout (as in site-packages) goes
        # from $COVIDCAM_LIBRARY straight to the system loader.
        pkg = os.path.dirname(covidcam.__file__)
        with tempfile.TemporaryDirectory() as tmp:
            site = os.path.join(tmp, "lib", "python3", "site-packages")
            shutil.copytree(pkg, os.path.join(site, "covidcam"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            env = {k: v for k, v in os.environ.items()
                   if k not in ("COVIDCAM_LIBRARY", "CC_BUILD_ROOT")}
            env.update(PYTHONPATH=site, COVIDCAM_LIBRARY="/nonexistent/libcovidcam.so")
            code = ("import covidcam._lib as l, os\n"
                    "assert os.path.dirname(l.__file__).startswith(%r)\n"
                    "print('|'.join(w for w, _ in l.candidates()))\n" % site)
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp,
                                 capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual(out.split("|")[:2], ["$COVIDCAM_LIBRARY", "system loader"])
        self.assertNotIn("tree", out)

    def test_every_symbol_is_declared_and_present(self):
        lib = covidcam._lib.get()
        self.assertEqual(lib.missing, [])
        for name in covidcam._lib._SIGNATURES:
            fn = getattr(lib.cdll, name)
            self.assertIsNotNone(fn.argtypes, name)

    def test_version_matches_header(self):
        header = support.read(os.path.join(support.SOURCE_ROOT, "include", "covidcam.h"))
        parts = []
        for key in ("MAJOR", "MINOR", "PATCH"):
            line = [ln for ln in header.decode().splitlines()
                    if ln.startswith("#define COVIDCAM_VERSION_" + key)][0]
            parts.append(line.split()[-1])
        self.assertEqual(covidcam.library_version(), ".".join(parts))

    def test_status_strings(self):
        for st in covidcam.Status:
            self.assertTrue(covidcam.status_string(st))
        self.assertEqual(covidcam.status_string(99), "unknown status")

    def _load_in_child(self, env):
        code = ("import covidcam\n"
                "try:\n"
                "    covidcam.library_version()\n"
                "except covidcam.LibraryNotFoundError as e:\n"
                "    print(e)\n")
        full = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(covidcam.__file__)))
        full.update(env)
        return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                              text=True, check=True).stdout

    def test_missing_library_names_where_it_looked(self):
        out = self._load_in_child({"COVIDCAM_LIBRARY": "/nonexistent/libcovidcam.so"})
        self.assertIn("libcovidcam not found", out)
        self.assertIn("/nonexistent/libcovidcam.so: no such file", out)
        self.assertIn("COVIDCAM_LIBRARY", out)

    def test_not_a_library_is_reported(self):
        with tempfile.NamedTemporaryFile(suffix=".so") as f:
            f.write(b"not an ELF file")
            f.flush()
            out = self._load_in_child({"COVIDCAM_LIBRARY": f.name})
        self.assertIn(f.name, out)
        self.assertIn("$COVIDCAM_LIBRARY", out)


class ModelTest(unittest.TestCase):
    def test_queries_match_the_file_metadata(self):
        for path in (BASIC, BOTTLENECK):
            _, meta, tensors = support.read_safetensors(path)
            with covidcam.Model(path) as m:
                self.assertEqual(list(m.classes), json.loads(meta["classes"]))
                self.assertEqual(m.num_classes, tensors["fc.weight"][0][0])
                self.assertEqual(m.input_size, int(meta["input_size"]))
                self.assertEqual(m.input_channels, int(meta["input_channels"]))
                self.assertEqual(m.temperature, float(meta.get("temperature", "1")))
                self.assertEqual(m.input_channels, tensors["conv1.weight"][0][1])
                self.assertEqual(m.arch, meta["arch"])
                self.assertEqual(m.metadata("mean"), meta["mean"])
                self.assertIsNone(m.metadata("no such key"))
                self.assertEqual(m.metadata("no such key", "x"), "x")
                for i, c in enumerate(m.classes):
                    self.assertEqual(m.class_index(c), i)

    def test_layers(self):
        _, meta, _ = support.read_safetensors(BASIC)
        blocks = json.loads(meta["layers"])
        want = ["layer%d.%d" % (s + 1, b) for s in range(4) for b in range(blocks[s])]
        want += ["layer%d" % (s + 1) for s in range(4)]
        with covidcam.Model(BASIC) as m:
            self.assertEqual(list(m.layers), want)

    def test_load_from_bytes_equals_load_from_path(self):
        data = support.read(BASIC)
        for src in (data, bytearray(data), memoryview(data)):
            with covidcam.Model(src) as m, covidcam.Model.load(BASIC) as p:
                self.assertEqual(m.classes, p.classes)
                t = support.expected("basic.input.0")[1]
                with covidcam.Session(m, threads=1) as a, covidcam.Session(p, threads=1) as b:
                    self.assertEqual(a.classify_tensor(t).logits, b.classify_tensor(t).logits)

    def test_missing_file(self):
        with self.assertRaises(covidcam.FileIOError) as cm:
            covidcam.Model("/nonexistent/model.safetensors")
        e = cm.exception
        self.assertEqual(e.status, covidcam.Status.IO)
        self.assertIn("/nonexistent/model.safetensors", e.message)
        self.assertIsInstance(e, covidcam.Error)
        self.assertIsInstance(e, OSError)

    def test_garbage_and_truncated_bytes(self):
        data = support.read(BASIC)
        cases = [(b"", covidcam.BadFormatError, "too short"),
                 (b"\x00" * 7, covidcam.BadFormatError, "too short"),
                 (b"garbage that is not a safetensors file", covidcam.LimitError, "header"),
                 (data[:len(data) // 2], covidcam.BadFormatError, "data_offsets")]
        for bad, cls, words in cases:
            with self.assertRaises(cls) as cm:
                covidcam.Model(bad)
            self.assertEqual(cm.exception.status, cls.status)
            self.assertIn(words, cm.exception.message)

    def test_corrupt_header_names_the_problem(self):
        data = bytearray(support.read(BASIC))
        i = data.index(b'"input_size":"64"')
        data[i:i + 17] = b'"input_size":"xx"'
        with self.assertRaises(covidcam.BadFormatError) as cm:
            covidcam.Model(bytes(data))
        self.assertIn("input_size", cm.exception.message)

    def test_close_and_context_manager(self):
        m = covidcam.Model(BASIC)
        s = covidcam.Session(m)
        with self.assertRaises(covidcam.InvalidArgumentError):
            m.close()  # a session is still open
        s.close()
        s.close()  # idempotent
        m.close()
        m.close()
        self.assertTrue(m.closed)
        with self.assertRaises(covidcam.InvalidArgumentError):
            m.input_size
        with self.assertRaises(covidcam.InvalidArgumentError):
            covidcam.Session(m)
        with covidcam.Model(BASIC) as m2:
            pass
        self.assertTrue(m2.closed)

    def test_unknown_class_name(self):
        with covidcam.Model(BASIC) as m:
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                m.class_index("Flu")
            self.assertIn("COVID", str(cm.exception))

    def test_preprocess_matches_reference(self):
        w, h, _, px = support.decode_png(support.read(support.fixture("sample_97x131.png")))
        _, want = support.expected("basic.png97.tensor")
        with covidcam.Model(BASIC) as m:
            got = m.preprocess(px, w, h)
            self.assertEqual(len(got), len(want))
            self.assertLess(support.max_abs_diff(got, want), 1e-5)
            with self.assertRaises(covidcam.InvalidArgumentError):
                m.preprocess(px[:-1], w, h)  # one byte short
            with self.assertRaises(covidcam.InvalidArgumentError):
                m.preprocess(px, 0, h)


if __name__ == "__main__":
    unittest.main()
