"""Session precision: fp32, bf16 (where the CPU computes it natively), int8
(calibrated files), auto; Precision names. Whether bf16 should work is decided
independently of the library (support.bf16_native: /proc/cpuinfo flags and
ONEDNN_MAX_CPU_ISA)."""

import unittest

import support
import covidcam
from covidcam import Precision

# max |p_bf16 - p_fp32| of the fixture models on the fixture images (measured
# at most 0.03). The N(0,1) input tensors of expected.safetensors are no
# images and move further (0.06 seen on bottleneck.input.0): their bound is
# looser, their top class must agree all the same.
BF16_TOL = 0.05
BF16_TOL_NOISE = 0.1
MODELS = ("basic", "bottleneck")
IMAGES = ("sample_64.png", "sample_97x131.png", "png/gray1.png", "png/gray8.png",
          "png/rgb8.png")


class PrecisionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.models = {n: covidcam.Model(support.fixture(n + ".safetensors")) for n in MODELS}
        cls.bf16, cls.bf16_reason = support.bf16_native()

    @classmethod
    def tearDownClass(cls):
        for m in cls.models.values():
            m.close()

    def need_bf16(self):
        if not self.bf16:
            self.skipTest("bf16 is not native here (%s): bf16 results not checked"
                          % self.bf16_reason)

    def test_enum(self):
        self.assertEqual([(p.name, int(p)) for p in Precision],
                         [("FP32", 0), ("BF16", 1), ("INT8", 2), ("AUTO", 3)])
        self.assertIs(covidcam.Precision, Precision)

    def test_fp32(self):
        m = self.models["basic"]
        for p in (None, Precision.FP32, "fp32", "FP32", 0):
            kw = {} if p is None else {"precision": p}
            with covidcam.Session(m, threads=1, **kw) as s:
                self.assertIs(s.precision, Precision.FP32, p)
                self.assertIn("precision=fp32", repr(s))

    def test_auto(self):
        m = self.models["basic"]
        for p in (Precision.AUTO, "auto", 3):
            with covidcam.Session(m, threads=1, precision=p) as s:
                self.assertIn(s.precision, (Precision.BF16, Precision.FP32))
                self.assertIsNot(s.precision, Precision.AUTO)
                self.assertIs(s.precision, Precision.BF16 if self.bf16 else Precision.FP32,
                              self.bf16_reason)
                s.classify(support.fixture("sample_64.png"))

    def test_bf16_available_or_refused(self):
        m = self.models["basic"]
        if self.bf16:
            with covidcam.Session(m, threads=1, precision="bf16") as s:
                self.assertIs(s.precision, Precision.BF16)
                self.assertIn("precision=bf16", repr(s))
        else:
            with self.assertRaises(covidcam.UnsupportedError, msg=self.bf16_reason) as cm:
                covidcam.Session(m, threads=1, precision=Precision.BF16)
            self.assertIn("AVX512-BF16", str(cm.exception))
            self.assertEqual(cm.exception.status, covidcam.Status.UNSUPPORTED)

    def test_bf16_agrees_with_fp32(self):
        self.need_bf16()
        for name, m in self.models.items():
            with covidcam.Session(m, threads=1) as f, \
                    covidcam.Session(m, threads=1, precision="bf16") as b:
                self.assertIs(b.precision, Precision.BF16)
                runs = [("%s %s" % (name, i), BF16_TOL, f.classify, b.classify,
                         support.fixture(i)) for i in IMAGES]
                runs += [("%s.input.%d" % (name, k), BF16_TOL_NOISE, f.classify_tensor,
                          b.classify_tensor, support.expected("%s.input.%d" % (name, k))[1])
                         for k in range(3)]
                for what, tol, classify32, classify16, src in runs:
                    rf, rb = classify32(src), classify16(src)
                    self.assertEqual(rb.top, rf.top, what)
                    d = support.max_abs_diff(rb.probabilities, rf.probabilities)
                    self.assertLess(d, tol, what)
                    self.assertNotEqual(rb.logits, rf.logits, what + ": bf16 == fp32 exactly")

    def test_bf16_gradcam(self):
        self.need_bf16()
        with covidcam.Session(self.models["basic"], threads=1, precision="bf16") as s, \
                s.gradcam(support.fixture("sample_64.png")) as cam:
            rows = cam.data()
            self.assertTrue(rows and all(0.0 <= v <= 1.0 for r in rows for v in r))

    def test_int8_refused(self):
        """Without calibration scales in the file (covidcam-quantize makes them)."""
        for p in (Precision.INT8, "int8", 2):
            with self.assertRaises(covidcam.UnsupportedError, msg=repr(p)) as cm:
                covidcam.Session(self.models["basic"], precision=p)
            self.assertIn("covidcam-quantize", str(cm.exception))

    def test_int8_calibrated(self):
        """A calibrated fixture: int8 sessions run on every CPU and agree with
        fp32 on the top class of the fixture images (tests/api/test_int8.c
        checks the logits against the simulation)."""
        with covidcam.Model(support.fixture("basic_int8.safetensors")) as m:
            for p in (Precision.INT8, "int8", 2):
                with covidcam.Session(m, threads=1, precision=p) as s8, \
                        covidcam.Session(m, threads=1) as s32:
                    self.assertIs(s8.precision, Precision.INT8)
                    self.assertIn("precision=int8", repr(s8))
                    for img in IMAGES:
                        a, b = s32.classify(support.fixture(img)), s8.classify(support.fixture(img))
                        self.assertEqual(a.top, b.top, img)

    def test_unknown(self):
        for p in ("fp8", "", "bf16 ", 4, -1):
            with self.assertRaises(covidcam.InvalidArgumentError, msg=repr(p)) as cm:
                covidcam.Session(self.models["basic"], precision=p)
            if isinstance(p, str):
                self.assertIn("fp32, bf16, int8, auto", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
