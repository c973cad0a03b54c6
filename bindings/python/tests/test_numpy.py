"""ndarray in and out; skipped on a Python without numpy."""
import unittest

import support
import covidcam

np = support.numpy


@unittest.skipIf(np is None, "numpy is not installed for this Python")
class NumpyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = covidcam.Model(support.fixture("basic.safetensors"))
        cls.session = covidcam.Session(cls.model, threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.model.close()

    def test_tensor_arrays(self):
        shape, t = support.expected("basic.input.1")
        want = self.session.classify_tensor(t).logits
        x = np.array(t, dtype=np.float32).reshape(shape)
        for arr in (x, x[None], x[0], x.astype(np.float64), np.asfortranarray(x[0])):
            self.assertEqual(self.session.classify(arr).logits, want)
        _, logits = support.expected("basic.logits.1")
        self.assertLess(np.abs(np.array(want) - np.array(logits)).max(), 1e-4)
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.session.classify_tensor(np.zeros((2, 1, 64, 64), np.float32))
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.session.classify_tensor(np.zeros((1, 32, 64), np.float32))

    def test_pixels_arrays_no_copy_for_strided_rows(self):
        w, h, _, px = support.decode_png(support.read(support.fixture("sample_97x131.png")))
        img = np.frombuffer(px, np.uint8).reshape(h, w)
        want = self.session.classify_file(support.fixture("sample_97x131.png")).logits
        wide = np.zeros((h, w + 11), np.uint8)
        wide[:, 3:3 + w] = img
        view = wide[:, 3:3 + w]  # strided rows: passed in place
        self.assertFalse(view.flags.c_contiguous)
        self.assertEqual(self.session.classify(img).logits, want)
        self.assertEqual(self.session.classify(view).logits, want)
        self.assertEqual(self.session.classify_pixels(np.asfortranarray(img)).logits, want)
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.session.classify_pixels(img.astype(np.int16))
        pre = self.model.preprocess(view)
        self.assertEqual((pre.shape, pre.dtype), ((1, 64, 64), np.float32))
        _, ref = support.expected("basic.png97.tensor")
        self.assertLess(np.abs(pre.ravel() - np.array(ref)).max(), 1e-5)

    def test_png_bytes_array(self):
        data = support.read(support.fixture("sample_64.png"))
        arr = np.frombuffer(data, np.uint8)
        self.assertEqual(self.session.classify_png(arr).logits,
                         self.session.classify_png(data).logits)

    def test_heatmap_arrays(self):
        path = support.fixture("sample_97x131.png")
        w, h, _, px = support.decode_png(support.read(path))
        img = np.frombuffer(px, np.uint8).reshape(h, w)
        with self.session.gradcam(img, method="layercam", layer="layer2") as cam:
            d = cam.data(numpy=True)
            listed = cam.data()
            self.assertEqual((d.shape, d.dtype), ((64, 64), np.float32))
            self.assertEqual(d.tolist(), cam.data())
            r = cam.raw(numpy=True)
            self.assertEqual(r.shape, (8, 8))
            self.assertEqual(r.tolist(), cam.raw())
            self.assertEqual(cam.resize(50, 30, numpy=True).shape, (30, 50))
            # pixel input keeps its image, as PNG input does: the image size
            self.assertEqual(cam.image_size, (w, h))
            c = cam.colormap(numpy=True)
            self.assertEqual((c.shape, c.dtype), ((h, w, 3), np.uint8))
            o = cam.overlay(img, alpha=0.3)
            self.assertEqual(o.shape, (h, w, 3))
            self.assertEqual(o.tobytes(), cam.overlay(px, w, h, alpha=0.3))
        # Arrays returned are copies: they survive the heatmap.
        self.assertTrue(cam.closed)
        self.assertEqual(d.tolist(), listed)
        x = np.array(support.expected("basic.input.0")[1], np.float32).reshape(1, 64, 64)
        _, want = support.expected("cam.basic.0.layer4.1.gradcam.map")
        with self.session.gradcam(x) as cam:
            self.assertLess(np.abs(cam.data(numpy=True).ravel() - np.array(want)).max(), 1e-4)


if __name__ == "__main__":
    unittest.main()
