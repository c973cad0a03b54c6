"""The trust assessment: input-check warnings on designed images, the pooled
features against the fc layer of the file, and the OOD score against a
reference computed here (pure Python, so it runs with and without numpy),
for models written by this test with known statistics."""

import array
import ctypes
import glob
import json
import os
import random
import struct
import tempfile
import unittest

import support
import covidcam

BASIC = support.fixture("basic.safetensors")


# ------------------------------------------------------------------ writer

def random_stats(k, f, seed=3):
    """Class means and a symmetric positive definite precision A A^T / f + I."""
    rng = random.Random(seed)
    means = [[rng.gauss(0.5, 0.5) for _ in range(f)] for _ in range(k)]
    a = [[rng.gauss(0, 1) for _ in range(f)] for _ in range(f)]
    prec = [[sum(a[i][t] * a[j][t] for t in range(f)) / f + (1.0 if i == j else 0.0)
             for j in range(f)] for i in range(f)]
    return means, prec


def reference_score(feat, means, prec):
    best = None
    for mu in means:
        d = [x - m for x, m in zip(feat, mu)]
        s = sum(d[i] * sum(prec[i][j] * d[j] for j in range(len(d))) for i in range(len(d)))
        best = s if best is None else min(best, s)
    return max(best, 0.0)


def flat(rows):
    return [v for r in rows for v in r]


# ------------------------------------------------------------------ images

def chest_like(w, h):
    """A caricature of a frontal film: mid-gray body, dark lungs either side of
    a bright mediastinum (the bands input_checks.c compares), some texture."""
    rng = random.Random(w * 1000 + h)
    px = bytearray(w * h)
    for y in range(h):
        for x in range(w):
            v = 90
            if 0.15 * w <= x < 0.33 * w or 0.67 * w <= x < 0.85 * w:
                v = 40
            elif 0.42 * w <= x < 0.58 * w:
                v = 210
            px[y * w + x] = max(0, min(255, v + rng.randint(-10, 10)))
    return bytes(px)


def enlarge(px, n, m):
    """n x n gray bytes bilinearly enlarged to m x m (pixel centres aligned)."""
    out = bytearray(m * m)
    for y in range(m):
        fy = min(max((y + 0.5) * n / m - 0.5, 0), n - 1)
        y0 = int(fy)
        y1, ty = min(y0 + 1, n - 1), fy - y0
        for x in range(m):
            fx = min(max((x + 0.5) * n / m - 0.5, 0), n - 1)
            x0 = int(fx)
            x1, tx = min(x0 + 1, n - 1), fx - x0
            top = px[y0 * n + x0] * (1 - tx) + px[y0 * n + x1] * tx
            bot = px[y1 * n + x0] * (1 - tx) + px[y1 * n + x1] * tx
            out[y * m + x] = int(top * (1 - ty) + bot * ty + 0.5)
    return bytes(out)


def detail_ratio(px, w, h, input_size):
    """docs/trust.md's low_detail statistic: mean |difference| of pixels k
    apart over that of 4k apart (k = the input grid's spacing), horizontally
    and vertically, on rows 0, k, 2k..."""
    k = max(1, (min(w, h) + input_size // 2) // input_size)

    def step(s):
        total = count = 0
        for y in range(0, h - s, k):
            row, below = px[y * w:(y + 1) * w], px[(y + s) * w:(y + s + 1) * w]
            total += sum(abs(a - b) for a, b in zip(below, row))
            total += sum(abs(row[x + s] - row[x]) for x in range(w - s))
            count += w + w - s
        return total / count

    coarse = step(4 * k)
    return step(k) / coarse if coarse else 1.0


class WarningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = covidcam.Model(BASIC)
        cls.s = covidcam.Session(cls.model)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        cls.model.close()

    def warnings(self, px, w, h):
        self.s.classify_pixels(px, w, h)
        return self.s.assessment().warnings

    def test_names(self):
        self.assertEqual([covidcam._lib.get().warning_name(1 << i).decode() for i in range(6)],
                         ["nearly_constant", "low_dynamic_range", "likely_inverted",
                          "extreme_aspect", "low_resolution", "low_detail"])
        for bad in (0, 3, 1 << 6, 1 << 31):
            self.assertIsNone(covidcam._lib.get().warning_name(bad), bad)

    def test_designed_images(self):
        w, h = 100, 90
        px = chest_like(w, h)
        self.assertEqual(self.warnings(px, w, h), [])
        self.assertEqual(self.warnings(bytes(255 - v for v in px), w, h), ["likely_inverted"])
        self.assertEqual(self.warnings(bytes([128]) * (w * h), w, h),
                         ["nearly_constant", "low_dynamic_range"])
        # two halves 100 / 140: std 20, span 40 < 48; the bands balance (no
        # polarity); piecewise constant, so no fine detail either
        halves = bytes(100 if x < w // 2 else 140 for y in range(h) for x in range(w))
        self.assertEqual(self.warnings(halves, w, h), ["low_dynamic_range", "low_detail"])
        self.assertEqual(self.warnings(chest_like(170, 100), 170, 100), ["extreme_aspect"])
        self.assertEqual(self.warnings(chest_like(100, 160), 100, 160), [])  # 1.6 is allowed

    def test_low_resolution(self):
        """The shorter side against the model's input size, whatever the longer."""
        n = self.model.input_size
        self.assertEqual(self.warnings(chest_like(n, n), n, n), [])
        self.assertEqual(self.warnings(chest_like(n - 1, n), n - 1, n), ["low_resolution"])
        self.assertEqual(self.warnings(chest_like(n + 9, n - 1), n + 9, n - 1), ["low_resolution"])
        self.assertEqual(self.warnings(chest_like(2 * n, 2 * n), 2 * n, 2 * n), [])

    def test_low_detail(self):
        """The fine-over-coarse detail ratio, computed here independently,
        against the warning, for a textured film-like image enlarged (bilinear)
        by 1 to 8: low detail from 4x the network's grid spacing on, which is
        every pixel at the input size and every other one at twice it."""
        n = self.model.input_size
        for side, factor in ((n, 1), (n, 2), (n, 4), (n, 8), (2 * n, 4), (2 * n, 8)):
            small = side // factor
            src = chest_like(small, small)
            px = enlarge(src, small, side) if factor > 1 else src
            r = detail_ratio(px, side, side, n)
            want = factor // (side // n) >= 4
            self.assertEqual(r < 0.27, want, (side, factor, r))
            self.assertEqual("low_detail" in self.warnings(px, side, side), want, (side, factor, r))

    def test_warnings_never_change_the_answer(self):
        w, h = 64, 64
        px = bytes(255 - v for v in chest_like(w, h))
        r = self.s.classify_pixels(px, w, h)
        self.assertEqual(self.s.assessment().warnings, ["likely_inverted"])
        t = self.model.preprocess(px, w, h)
        self.assertEqual(self.s.classify_tensor(t).probabilities, r.probabilities)
        self.assertEqual(self.s.assessment().warnings, [])  # a tensor has no image

    def test_real_films_and_their_inverses(self):
        files = sorted(glob.glob(os.path.join(support.SHARED, "val", "*", "*.png")))[::150]
        if not files:
            self.skipTest("no real X-rays at %s" % support.SHARED)
        for f in files:
            w, h, _, px = support.decode_png(support.read(f))
            self.assertNotIn("likely_inverted", self.warnings(px, w, h), f)
            self.assertNotIn("low_detail", self.warnings(px, w, h), f)
            self.assertIn("likely_inverted", self.warnings(bytes(255 - v for v in px), w, h), f)

    def test_no_assessment_without_a_call(self):
        with covidcam.Session(self.model) as s:
            with self.assertRaises(covidcam.InvalidArgumentError):
                s.assessment()
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                s.features()
            self.assertIn("no successful classify", str(cm.exception))
            s.classify_file(support.fixture("sample_64.png"))
            s.assessment()
            with self.assertRaises(covidcam.Error):
                s.classify_file(support.fixture("no-such.png"))
            with self.assertRaises(covidcam.InvalidArgumentError):
                s.assessment()  # the failed call left none

    def test_small_struct_gets_only_its_fields(self):
        lib = covidcam._lib.get()
        a = covidcam._lib.AssessmentStruct()
        ctypes.memset(ctypes.byref(a), 0xAB, ctypes.sizeof(a))
        a.struct_size = covidcam._lib.AssessmentStruct.warnings.offset + 4  # a "0.3-minus" struct
        px = bytes(255 - v for v in chest_like(64, 64))
        self.s.classify_pixels(px, 64, 64)
        self.assertEqual(lib.session_assessment(self.s._h(), ctypes.byref(a)), 0)
        self.assertEqual(a.warnings, 4)
        raw = bytes(ctypes.string_at(ctypes.addressof(a), ctypes.sizeof(a)))
        self.assertEqual(raw[covidcam._lib.AssessmentStruct.ood_available.offset:],
                         b"\xab" * (ctypes.sizeof(a) -
                                    covidcam._lib.AssessmentStruct.ood_available.offset))
        a.struct_size = 8  # less than struct_size + warnings
        self.assertEqual(lib.session_assessment(self.s._h(), ctypes.byref(a)),
                         covidcam.Status.INVALID_ARGUMENT)


class OodTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        with covidcam.Model(BASIC) as m:
            cls.k, cls.f = m.num_classes, m.num_features
        cls.means, cls.prec = random_stats(cls.k, cls.f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write(self, name, threshold="5.5", means=None, prec=None, meta=None, drop=(),
              tensors=None):
        t = {"ood.class_means": ((self.k, self.f), flat(means or self.means)),
             "ood.precision": ((self.f, self.f), flat(prec or self.prec))}
        if tensors is not None:
            t = tensors
        md = {"ood_method": "mahalanobis", "ood_threshold": threshold}
        md.update(meta or {})
        support.write_with(BASIC, self.path(name), t, md, drop)
        return self.path(name)

    def test_features_are_what_fc_reads(self):
        _, _, tensors = support.read_safetensors(BASIC)
        wshape, w = tensors["fc.weight"]
        _, b = tensors["fc.bias"]
        with covidcam.Model(BASIC) as m, covidcam.Session(m) as s:
            self.assertFalse(m.has_ood)
            for img in ("sample_64.png", "sample_97x131.png"):
                r = s.classify_file(support.fixture(img))
                feat = s.features()
                self.assertEqual(len(feat), wshape[1])
                for c in range(wshape[0]):
                    z = b[c] + sum(w[c * wshape[1] + i] * feat[i] for i in range(wshape[1]))
                    self.assertAlmostEqual(z, r.logits[c], delta=1e-4)
                a = s.assessment()
                self.assertEqual((a.ood_available, a.ood, a.ood_score, a.ood_threshold),
                                 (False, False, 0.0, 0.0))

    def test_score_matches_the_reference(self):
        path = self.write("ood.safetensors")
        with covidcam.Model(path) as m, covidcam.Session(m) as s:
            self.assertTrue(m.has_ood)
            for img in ("sample_64.png", "sample_97x131.png"):
                r = s.classify_file(support.fixture(img))
                want = reference_score(s.features(), self.means, self.prec)
                a = s.assessment()
                self.assertTrue(a.ood_available)
                self.assertAlmostEqual(a.ood_score, want, delta=1e-4 * max(1.0, want))
                self.assertAlmostEqual(a.ood_threshold, 5.5, places=6)
                self.assertEqual(a.ood, want > 5.5)
                with covidcam.Model(BASIC) as plain, covidcam.Session(plain) as ps:
                    self.assertEqual(ps.classify_file(support.fixture(img)).probabilities,
                                     r.probabilities)  # the statistics change no answer
                with s.gradcam(support.fixture(img)) as cam:
                    ha = cam.assessment()
                    self.assertEqual((ha.ood, ha.ood_score), (a.ood, a.ood_score))
            # a threshold on either side of the score flips the flag
            score = a.ood_score
            for thr, flagged in ((score * 0.9, True), (score * 1.1, False)):
                with covidcam.Model(self.write("t.safetensors", "%.9g" % thr)) as m2, \
                        covidcam.Session(m2) as s2:
                    s2.classify_file(support.fixture("sample_97x131.png"))
                    self.assertEqual(s2.assessment().ood, flagged, thr)

    def test_bad_statistics_are_refused_by_name(self):
        asym = [row[:] for row in self.prec]
        asym[1][0] += 0.5
        negdiag = [row[:] for row in self.prec]
        negdiag[3][3] = -1.0
        nan_means = [row[:] for row in self.means]
        nan_means[1][2] = float("nan")
        cases = [
            ("no threshold", dict(drop=("ood_threshold",)), covidcam.BadFormatError,
             "ood_method is present without ood_threshold"),
            ("no method", dict(drop=("ood_method",)), covidcam.BadFormatError,
             "ood_threshold is present without ood_method"),
            ("method", dict(meta={"ood_method": "energy"}), covidcam.UnsupportedError,
             "ood_method 'energy' is not supported"),
            ("threshold", dict(threshold="-1"), covidcam.BadFormatError, "ood_threshold"),
            ("threshold nan", dict(threshold="nan"), covidcam.BadFormatError, "ood_threshold"),
            ("missing precision", dict(tensors={
                "ood.class_means": ((self.k, self.f), flat(self.means))}),
             covidcam.BadFormatError, "missing tensor 'ood.precision'"),
            ("shape", dict(tensors={
                "ood.class_means": ((self.k + 1, self.f), flat(self.means) + [0.0] * self.f),
                "ood.precision": ((self.f, self.f), flat(self.prec))}),
             covidcam.BadFormatError, "'ood.class_means' must have shape [3, 32]"),
            ("asymmetric", dict(prec=asym), covidcam.BadFormatError, "not symmetric: [1, 0]"),
            ("diagonal", dict(prec=negdiag), covidcam.BadFormatError,
             "diagonal element [3, 3] <= 0"),
            ("nan", dict(means=nan_means), covidcam.BadFormatError,
             "'ood.class_means' is not finite at element %d" % (self.f + 2)),
            ("tensors without metadata", dict(drop=("ood_method", "ood_threshold")),
             covidcam.BadFormatError, "without the metadata ood_method and ood_threshold"),
        ]
        for name, kw, exc, text in cases:
            with self.subTest(name):
                path = self.write("bad.safetensors", **kw)
                with self.assertRaises(exc) as cm:
                    covidcam.Model(path)
                self.assertIn(text, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
