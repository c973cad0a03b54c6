"""Batches (0.5): Session(max_batch=N), classify_batch (tensors, pixels) and
classify_files against the one-image calls on the same inputs: the same
answers up to float rounding (within 1e-5 of the logits' scale in fp32),
each image's assessment and image info, per-file failures with the
one-image call's error, and the count checked against max_batch. Runs with
and without numpy."""

import array
import os
import tempfile
import unittest

import support
import covidcam
from test_trust import chest_like, random_stats

BASIC = support.fixture("basic.safetensors")
BOTTLENECK = support.fixture("bottleneck.safetensors")
SAMPLE = support.fixture("sample_97x131.png")
SAMPLE64 = support.fixture("sample_64.png")
BAD_PNG = support.fixture("png/err_bad_zlib.png")
BAD_DICOM = support.fixture("dicom/err_truncated.dcm")


def good_files():
    """PNG, JPEG and (when built with DICOM) DICOM files that classify."""
    out = [SAMPLE, SAMPLE64]
    jpegs = sorted(n for n in os.listdir(support.fixture("jpeg"))
                   if n.endswith(".jpg") and not n.startswith("err_"))
    out += [support.fixture(os.path.join("jpeg", n)) for n in jpegs[:2]]
    if os.environ.get("CC_HAVE_DICOM", "1") != "0":
        dcms = sorted(n for n in os.listdir(support.fixture("dicom"))
                      if n.endswith(".dcm") and not n.startswith("err_"))
        out += [support.fixture(os.path.join("dicom", n)) for n in dcms[:2]]
    return out


class BatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # a model with OOD statistics, so that the assessments differ per image
        with covidcam.Model(BASIC) as m:
            k, f = m.num_classes, m.num_features
        means, prec = random_stats(k, f)
        cls.ood_model = os.path.join(cls.tmp.name, "ood.safetensors")
        support.write_with(BASIC, cls.ood_model,
                           {"ood.class_means": ((k, f), support.flatten(means)),
                            "ood.precision": ((f, f), support.flatten(prec))},
                           {"ood_method": "mahalanobis", "ood_threshold": "5.5"})
        cls.model = covidcam.Model(cls.ood_model)
        cls.one = covidcam.Session(cls.model, threads=1)
        cls.files = good_files()
        cls.batch = covidcam.Session(cls.model, threads=1, max_batch=len(cls.files) + 3)

    @classmethod
    def tearDownClass(cls):
        cls.batch.close()
        cls.one.close()
        cls.model.close()
        cls.tmp.cleanup()

    def assertClose(self, got, want, what):
        """Results equal up to the rounding of another summation order."""
        self.assertEqual(got.top, want.top, what)
        scale = max(1.0, max(abs(z) for z in want.logits))
        self.assertLessEqual(support.max_abs_diff(got.logits, want.logits), 1e-5 * scale, what)
        self.assertLessEqual(support.max_abs_diff(got.probabilities, want.probabilities),
                             1e-5, what)
        self.assertEqual(got.classes, want.classes)

    def assertSameTrust(self, got, want, what):
        self.assertEqual(got.warnings, want.warnings, what)
        self.assertEqual((got.ood_available, got.ood), (want.ood_available, want.ood), what)
        self.assertAlmostEqual(got.ood_score, want.ood_score, delta=1e-4 * max(1.0, want.ood_score))
        self.assertEqual(got.ood_threshold, want.ood_threshold)

    def one_file(self, path):
        """(Result, Assessment, ImageInfo) of the one-image call, or its Error."""
        try:
            r = self.one.classify_file(path)
        except covidcam.Error as exc:
            return exc
        return r, self.one.assessment(), self.one.image_info()

    # ---------------------------------------------------------- options

    def test_max_batch(self):
        self.assertEqual(self.one.max_batch, 1)
        self.assertEqual(self.batch.max_batch, len(self.files) + 3)
        with covidcam.Session(self.model, max_batch=0) as s:
            self.assertEqual(s.max_batch, 1)
        with covidcam.Session(self.model, max_batch=2) as s:
            self.assertEqual(s.max_batch, 2)
            self.assertIn("max_batch=2", repr(s))
        for bad in (-1, 257, 2 ** 32 + 2, "2", 2.0, True, None):
            with self.assertRaises(covidcam.InvalidArgumentError, msg=repr(bad)) as cm:
                covidcam.Session(self.model, max_batch=bad)
            self.assertIn("max_batch", str(cm.exception))
        self.assertEqual(covidcam.MAX_BATCH, 256)
        with covidcam.Model(BASIC) as m, covidcam.Session(m, threads=1, max_batch=256) as s:
            got = s.classify_files([SAMPLE64, SAMPLE] * 128)
            self.assertEqual(len(got), 256)
            self.assertClose(got[255], got[1], "the last row")
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                s.classify_files([SAMPLE] * 257)
            self.assertIn("at most 256", str(cm.exception))

    def test_count_above_max_batch(self):
        with covidcam.Session(self.model, max_batch=2) as s:
            for call, arg in ((s.classify_files, [SAMPLE] * 3),
                              (s.classify_batch, [self.one_tensor()] * 3)):
                with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                    call(arg)
                self.assertIn("3 images, more than the session's max_batch 2", str(cm.exception))
            self.assertEqual(s.classify_files([]), [])
            self.assertEqual(s.classify_batch([]), [])
            self.assertEqual(len(s.classify_files([SAMPLE, SAMPLE64])), 2)
        # max_batch 1 takes batches of one
        r = self.one.classify_files([SAMPLE])
        self.assertClose(r[0], self.one.classify_file(SAMPLE), SAMPLE)
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.one.classify_files([SAMPLE, SAMPLE])

    # ---------------------------------------------------------- files

    def test_files_equal_one_by_one(self):
        got = self.batch.classify_files(self.files)
        self.assertEqual(len(got), len(self.files))
        for i, (path, g) in enumerate(zip(self.files, got)):
            want, trust, info = self.one_file(path)
            self.assertIsInstance(g, covidcam.Result, path)
            self.assertEqual(g.index, i)
            self.assertClose(g, want, path)
            self.assertSameTrust(g.assessment, trust, path)
            self.assertEqual(g.image_info.as_dict(), info.as_dict(), path)
            self.assertSameTrust(self.batch.batch_assessment(i), trust, path)
            self.assertEqual(self.batch.batch_image_info(i).as_dict(), info.as_dict())
            self.assertEqual(self.batch.batch_error(i), "")
        # the one-image queries have no image after a batch call
        for query in (self.batch.assessment, self.batch.image_info):
            with self.assertRaises(covidcam.InvalidArgumentError):
                query()
        self.assertIsNone(self.one.classify_file(SAMPLE).assessment)

    def test_failed_files(self):
        paths = [SAMPLE, BAD_PNG, "/nonexistent.png", SAMPLE64, BAD_DICOM, SAMPLE]
        got = self.batch.classify_files(paths)
        self.assertEqual(len(got), len(paths))
        for i, (path, g) in enumerate(zip(paths, got)):
            want = self.one_file(path)
            if isinstance(want, covidcam.Error):
                self.assertIsInstance(g, covidcam.Error, path)
                self.assertIs(type(g), type(want), path)
                self.assertEqual((g.status, g.message, g.status_string),
                                 (want.status, want.message, want.status_string), path)
                self.assertEqual((g.path, g.index), (path, i))
                self.assertEqual(self.batch.batch_error(i), want.message)
                with self.assertRaises(covidcam.InvalidArgumentError):
                    self.batch.batch_assessment(i)
            else:
                self.assertIsInstance(g, covidcam.Result, path)
                self.assertClose(g, want[0], path)
                self.assertSameTrust(g.assessment, want[1], path)
                self.assertEqual(g.image_info.as_dict(), want[2].as_dict())
        kinds = [type(g) for g in got]
        self.assertEqual(kinds[1], covidcam.BadFormatError)
        self.assertEqual(kinds[2], covidcam.FileIOError)
        # the first failure is the session's last error, naming its image
        self.assertIn("1", self.batch.last_error)

    def test_every_file_fails(self):
        got = self.batch.classify_files(["/nonexistent/a.png", BAD_PNG])
        self.assertEqual([type(g) for g in got], [covidcam.FileIOError, covidcam.BadFormatError])

    def test_bad_paths(self):
        for bad in ([SAMPLE, "a\0b"], [SAMPLE, 3]):
            with self.assertRaises(covidcam.InvalidArgumentError):
                self.batch.classify_files(bad)
        for bad in (SAMPLE, 3):
            with self.assertRaises(covidcam.InvalidArgumentError):
                self.batch.classify_files(bad)
        import pathlib
        got = self.batch.classify_files([pathlib.Path(SAMPLE), os.fsencode(SAMPLE64)])
        self.assertClose(got[1], self.one.classify_file(SAMPLE64), SAMPLE64)

    # ---------------------------------------------------------- tensors

    def one_tensor(self, path=SAMPLE):
        self.one.classify_file(path)
        return self.one.input()

    def test_tensors_equal_one_by_one(self):
        tensors = [self.one_tensor(p) for p in self.files]
        want = [self.one.classify_tensor(t) for t in tensors]
        inputs = {"lists": tensors, "tuples": [tuple(t) for t in tensors],
                  "array('f')": [array.array("f", t) for t in tensors],
                  "memoryview": [memoryview(array.array("f", t)) for t in tensors]}
        np = support.numpy
        if np is not None:
            s = self.model.input_size
            arrays = [np.array(t, dtype=np.float32).reshape(-1, s, s) for t in tensors]
            inputs["ndarrays"] = arrays
            inputs["float64 ndarrays"] = [a.astype(np.float64) for a in arrays]
            inputs["(1, C, S, S)"] = [a[None] for a in arrays]
            inputs["(N, C, S, S)"] = np.stack(arrays)
            inputs["(N, C, S, S) strided"] = np.stack([x for a in arrays for x in (a, -a)])[::2]
        for name, batch in inputs.items():
            got = self.batch.classify_batch(batch)
            self.assertEqual(len(got), len(want), name)
            for i, (g, w) in enumerate(zip(got, want)):
                self.assertClose(g, w, "%s %d" % (name, i))
                self.assertEqual(g.index, i)
                self.assertEqual(g.image_info.format, covidcam.Format.TENSOR)
                self.assertIsInstance(g.assessment, covidcam.Assessment)

    def test_tensor_errors(self):
        t = self.one_tensor()
        s = self.model.input_size
        with self.assertRaises(covidcam.InvalidArgumentError) as cm:
            self.batch.classify_batch([t, t[:10]])
        self.assertIn("tensor 1", str(cm.exception))
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.batch.classify_batch([t, ["x"] * len(t)])
        np = support.numpy
        if np is not None:
            a = np.array(t, dtype=np.float32).reshape(-1, s, s)
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                self.batch.classify_batch([a, a[:, :-1, :-1]])
            self.assertIn("one shape", str(cm.exception))
            # dimensions the model does not take: the library's message
            with self.assertRaises(covidcam.InvalidArgumentError):
                self.batch.classify_batch([a[:, :-1, :-1]] * 2)
            with self.assertRaises(covidcam.InvalidArgumentError):
                self.batch.classify_batch(np.zeros((2, 3, 5), np.float32))
        # nothing that is no image, and no mix of kinds
        for bad in ([SAMPLE], [b"\x89PNG"], [3], "abc", [t, (b"\0" * 16, 4, 4)]):
            with self.assertRaises(covidcam.InvalidArgumentError, msg=repr(bad)[:40]):
                self.batch.classify_batch(bad)

    # ---------------------------------------------------------- pixels

    def test_pixels_equal_one_by_one(self):
        sizes = [(97, 131), (64, 64), (300, 200), (40, 50)]
        images = [(chest_like(w, h), w, h) for w, h in sizes]
        want, trust = [], []
        for px, w, h in images:
            want.append(self.one.classify_pixels(px, w, h))
            trust.append(self.one.assessment())
        inputs = {"tuples": images,
                  "strided tuples": [(b"".join(px[y * w:(y + 1) * w] + b"\xff" * 3
                                               for y in range(h)), w, h, w + 3)
                                     for px, w, h in images]}
        np = support.numpy
        if np is not None:
            arrays = [np.frombuffer(px, np.uint8).reshape(h, w) for px, w, h in images]
            inputs["ndarrays"] = arrays
            inputs["views"] = [np.pad(a, ((0, 0), (0, 5)))[:, :a.shape[1]] for a in arrays]
        for name, batch in inputs.items():
            got = self.batch.classify_batch(batch)
            for i, (g, w, a) in enumerate(zip(got, want, trust)):
                what = "%s %d" % (name, i)
                self.assertClose(g, w, what)
                self.assertSameTrust(g.assessment, a, what)
                self.assertEqual(g.image_info.format, covidcam.Format.PIXELS)
                self.assertEqual((g.image_info.width, g.image_info.height), sizes[i])
        if np is not None:
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                self.batch.classify_batch([arrays[0], np.zeros((4, 4, 3), np.uint8)])
            self.assertIn("image 1", str(cm.exception))
        # an image the library refuses fails the call, naming it
        with self.assertRaises(covidcam.Error) as cm:
            self.batch.classify_batch([images[0], (b"\0" * 4, 0, 4)])
        self.assertIn("1", cm.exception.message)

    def test_bottleneck_model(self):
        """Another architecture, another batch network."""
        with covidcam.Model(BOTTLENECK) as m, covidcam.Session(m, threads=1) as one, \
                covidcam.Session(m, threads=1, max_batch=3) as s:
            paths = [SAMPLE, SAMPLE64, SAMPLE]
            got = s.classify_files(paths)
            for p, g in zip(paths, got):
                self.assertClose(g, one.classify_file(p), p)


if __name__ == "__main__":
    unittest.main()
