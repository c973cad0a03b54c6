"""No memory growth across 10,000 calls (resident set size from /proc/self/statm).

A per-call leak of a heatmap (>16 KB), a session, or the binding's own
buffers would grow RSS by tens of MB over 10,000 calls; the bound of 2 MiB
(about 200 bytes per call) leaves room for allocator noise only. The negative
control leaks heatmaps on purpose and must exceed the bound."""

import ctypes
import os
import unittest

import support
import covidcam
from covidcam import _lib

CALLS = 10000
WARMUP = 500
BOUND = 2 << 20


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@unittest.skipUnless(os.path.exists("/proc/self/statm"), "needs /proc/self/statm")
class LeakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = covidcam.Model(support.fixture("basic.safetensors"))
        cls.session = covidcam.Session(cls.model, threads=1)
        cls.tensor = support.expected("basic.input.0")[1]

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.model.close()

    def growth(self, fn, calls=CALLS):
        for _ in range(WARMUP):
            fn()
        before = rss()
        for _ in range(calls):
            fn()
        return rss() - before

    def test_classify_tensor(self):
        s, t = self.session, self.tensor
        self.assertLess(self.growth(lambda: s.classify_tensor(t)), BOUND)

    def test_model_queries_and_errors(self):
        m, s = self.model, self.session

        def queries():
            m.classes, m.layers, m.arch, m.metadata("description"), m.class_index("Normal")
            try:
                s.classify_tensor(self.tensor, 1, 8, 8)
            except covidcam.InvalidArgumentError:
                pass

        self.assertLess(self.growth(queries), BOUND)

    def test_heatmap_create_and_free(self):
        s, t = self.session, self.tensor

        def cam():
            with s.gradcam_tensor(t, layer="layer2") as h:
                h.data()
                h.probabilities

        self.assertLess(self.growth(cam), BOUND)

    def test_heatmap_freed_by_garbage_collection(self):
        s, t = self.session, self.tensor
        self.assertLess(self.growth(lambda: s.gradcam_tensor(t).size), BOUND)

    def test_session_create_and_free(self):
        m = self.model
        self.assertLess(self.growth(lambda: covidcam.Session(m, threads=1).close(), 300),
                        BOUND)

    def test_negative_control_detects_a_leak(self):
        lib, s, t = _lib.get(), self.session, self.tensor
        buf = (ctypes.c_float * len(t))(*t)
        out = _lib.heatmap_p()

        def leak():  # gradcam without heatmap_free
            self.assertEqual(lib.gradcam_tensor(s._handle, buf, 1, 64, 64, None,
                                                ctypes.byref(out)), 0)

        self.assertGreater(self.growth(leak, 1000), BOUND)


if __name__ == "__main__":
    unittest.main()
