import math
import os
import threading
import unittest

import support
import covidcam

TOL = 1e-4  # oneDNN accumulation order vs the float64 PyTorch references


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


class ClassifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.models = {n: covidcam.Model(support.fixture(n + ".safetensors"))
                      for n in ("basic", "bottleneck")}
        cls.sessions = {n: covidcam.Session(m, threads=1) for n, m in cls.models.items()}

    @classmethod
    def tearDownClass(cls):
        for s in cls.sessions.values():
            s.close()
        for m in cls.models.values():
            m.close()

    def check(self, r, logits):
        self.assertLess(support.max_abs_diff(r.logits, logits), TOL)
        self.assertLess(support.max_abs_diff(r.probabilities, softmax(logits)), TOL)
        self.assertEqual(r.top, max(range(len(logits)), key=logits.__getitem__))
        self.assertEqual(r.label, r.classes[r.top])

    def test_tensor_matches_pytorch(self):
        for name, s in self.sessions.items():
            for k in range(3):
                shape, t = support.expected("%s.input.%d" % (name, k))
                _, logits = support.expected("%s.logits.%d" % (name, k))
                r = s.classify_tensor(t)
                self.check(r, logits)
                # Same through a plain list and explicit dimensions.
                r2 = s.classify_tensor(list(t), *shape)
                self.assertEqual(r2.logits, r.logits)

    def test_file_png_pixels_match_pytorch(self):
        path = support.fixture("sample_97x131.png")
        data = support.read(path)
        w, h, _, px = support.decode_png(data)
        for name, s in self.sessions.items():
            _, logits = support.expected("%s.png97.logits" % name)
            r = s.classify_file(path)
            self.check(r, logits)
            self.assertEqual(s.classify(path).logits, r.logits)
            self.assertEqual(s.classify_png(data).logits, r.logits)
            self.assertEqual(s.classify(bytearray(data)).logits, r.logits)
            self.assertEqual(s.classify_pixels(px, w, h).logits, r.logits)
            # Rows padded to a wider stride give the same answer.
            stride = w + 5
            padded = b"".join(px[y * w:(y + 1) * w] + b"\xff" * 5 for y in range(h))
            self.assertEqual(s.classify_pixels(padded, w, h, stride).logits, r.logits)

    def test_identity_resize_png(self):
        _, logits = support.expected("basic.png64.logits")
        self.check(self.sessions["basic"].classify_file(support.fixture("sample_64.png")),
                   logits)

    def test_real_xrays_same_through_every_input_path(self):
        s = self.sessions["basic"]
        m = self.models["basic"]
        for path in support.need_xrays():
            data = support.read(path)
            w, h, _, px = support.decode_png(data)
            r = s.classify_file(path)
            self.assertAlmostEqual(sum(r.probabilities), 1.0, places=5)
            self.assertLess(support.max_abs_diff(r.probabilities, softmax(r.logits)), 1e-6)
            self.assertEqual(s.classify_png(data).logits, r.logits, path)
            self.assertEqual(s.classify_pixels(px, w, h).logits, r.logits, path)
            self.assertEqual(s.classify_tensor(m.preprocess(px, w, h)).logits, r.logits, path)

    def test_result_dict(self):
        r = self.sessions["bottleneck"].classify_file(support.fixture("sample_97x131.png"))
        d = r.as_dict()
        self.assertEqual(list(d["probabilities"]), ["A", "B", "C", "D"])
        self.assertEqual(d["top"], r.label)
        self.assertEqual(list(d["logits"].values()), r.logits)

    def test_errors(self):
        s = self.sessions["basic"]
        t = support.expected("basic.input.0")[1]
        with self.assertRaises(covidcam.InvalidArgumentError) as cm:
            s.classify_tensor(t, 1, 32, 32)  # wrong dimensions: the library says so
        self.assertIn("32", cm.exception.message)
        self.assertEqual(s.last_error, cm.exception.message)
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_tensor(t[:-1])  # one float short: the binding refuses
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_tensor(b"\x00" * (4 * 64 * 64))  # bytes are not float32 data
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_tensor(["x"] * 4096)
        with self.assertRaises(covidcam.FileIOError) as cm:
            s.classify_file("/nonexistent.png")
        self.assertIn("/nonexistent.png", str(cm.exception))
        with self.assertRaises(covidcam.BadFormatError):
            s.classify_png(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
        with self.assertRaises(covidcam.UnsupportedError) as cm:  # named, not decoded
            s.classify(support.fixture("basic.safetensors"))
        self.assertIn("safetensors", str(cm.exception))
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_pixels(b"\x00" * 99, 10, 10)  # short buffer
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_pixels(b"\x00" * 100, 10, 10, 5)  # stride < width: library refuses
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_pixels(b"\x00" * 100)  # no dimensions
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_png(12345)
        # The session still works after errors.
        self.check(s.classify_tensor(t), support.expected("basic.logits.0")[1])

    def test_png_error_fixtures(self):
        # tests/fixtures/png/errors.txt: "<name> <STATUS>" per line for <name>.png.
        s = self.sessions["basic"]
        path = support.fixture(os.path.join("png", "errors.txt"))
        if not os.path.exists(path):
            self.skipTest("no png/errors.txt")
        with open(path) as f:
            cases = [ln.split() for ln in f if ln.strip() and not ln.startswith("#")]
        self.assertTrue(cases)
        for case in cases:
            name, status = case[0], case[1]
            with self.assertRaises(covidcam.Error, msg=name) as cm:
                s.classify_file(support.fixture(os.path.join("png", name + ".png")))
            self.assertEqual(cm.exception.status.name, status.replace("COVIDCAM_ERR_", ""),
                             name)

    def test_closed_session(self):
        with covidcam.Session(self.models["basic"]) as s:
            pass
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.classify_file(support.fixture("sample_64.png"))

    def test_bad_options(self):
        m = self.models["basic"]
        with self.assertRaises(covidcam.UnsupportedError):
            covidcam.Session(m, precision="int8")  # bf16 and auto: test_precision.py
        with self.assertRaises(covidcam.InvalidArgumentError):
            covidcam.Session(m, precision="fp8")
        with self.assertRaises(covidcam.InvalidArgumentError):
            covidcam.Session(m, threads=-1)
        with self.assertRaises(covidcam.InvalidArgumentError):
            covidcam.Session("not a model")
        with covidcam.Session(m, threads=2) as s:
            self.assertEqual(s.threads, 2)
            self.assertIs(s.model, m)

    def test_threads_share_a_model(self):
        m = self.models["basic"]
        inputs = [support.expected("basic.input.%d" % k)[1] for k in range(3)]
        files = support.xrays(2) + [support.fixture("sample_97x131.png")]
        with covidcam.Session(m, threads=1) as s:
            want = [s.classify_tensor(t).logits for t in inputs]
            want_files = [s.classify_file(f).logits for f in files]
        errors = []

        def worker():
            try:
                with covidcam.Session(m, threads=1) as s:
                    for _ in range(20):
                        for t, w in zip(inputs, want):
                            if s.classify_tensor(t).logits != w:
                                errors.append("tensor result differs")
                        for f, w in zip(files, want_files):
                            if s.classify_file(f).logits != w:
                                errors.append("file result differs: " + f)
            except Exception as exc:  # reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
