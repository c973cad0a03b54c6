"""The metadata `resize` (stretch, center_crop, pad): the network input of a
non-square image under each mode, against the geometry computed here, and the
Grad-CAM map drawn back onto the image's frame. Pure Python (runs with and
without numpy); the bilinear kernel itself is checked against PyTorch by
test_model.test_preprocess_matches_reference."""

import os
import tempfile
import unittest

import support
import covidcam

BASIC = support.fixture("basic.safetensors")


def bilinear(src, sw, sh, dw, dh):
    """The library's documented resize (half-pixel centres, clamped at 0),
    written from docs/preprocessing.md: a row-major list of dw * dh floats."""
    def taps(n_src, n_dst):
        out = []
        for k in range(n_dst):
            s = max((k + 0.5) * n_src / n_dst - 0.5, 0.0)
            i0 = min(int(s), n_src - 1)
            out.append((i0, min(i0 + 1, n_src - 1), s - i0))
        return out
    tx, ty = taps(sw, dw), taps(sh, dh)
    out = []
    for y0, y1, fy in ty:
        for x0, x1, fx in tx:
            top = (1 - fx) * src[y0 * sw + x0] + fx * src[y0 * sw + x1]
            bot = (1 - fx) * src[y1 * sw + x0] + fx * src[y1 * sw + x1]
            out.append((1 - fy) * top + fy * bot)
    return out


def image(w, h):
    return bytes((x * 5 + y * 11 + (x * y) % 7) % 256 for y in range(h) for x in range(w))


class ResizeModeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.models = {}
        for mode in ("stretch", "center_crop", "pad"):
            path = os.path.join(cls.tmp.name, mode + ".safetensors")
            support.write_with(BASIC, path, {}, {"resize": mode})
            cls.models[mode] = covidcam.Model(path)

    @classmethod
    def tearDownClass(cls):
        for m in cls.models.values():
            m.close()
        cls.tmp.cleanup()

    def test_stretch_is_the_default(self):
        w, h = 70, 40
        px = image(w, h)
        with covidcam.Model(BASIC) as plain:
            self.assertEqual(self.models["stretch"].preprocess(px, w, h), plain.preprocess(px, w, h))

    def test_center_crop_is_the_central_square(self):
        m = self.models["center_crop"]
        for w, h in ((70, 40), (41, 90), (64, 64)):
            px = image(w, h)
            s = min(w, h)
            x0, y0 = (w - s) // 2, (h - s) // 2
            crop = bytes(px[(y0 + y) * w + x0 + x] for y in range(s) for x in range(s))
            self.assertEqual(m.preprocess(px, w, h), self.models["stretch"].preprocess(crop, s, s),
                             (w, h))

    def test_pad_keeps_the_aspect_on_black(self):
        m = self.models["pad"]
        size = m.input_size
        with covidcam.Model(BASIC) as plain:
            mean = float(plain.metadata("mean").strip("[]"))
            std = float(plain.metadata("std").strip("[]"))
        for w, h in ((70, 40), (40, 90)):
            px = image(w, h)
            got = m.preprocess(px, w, h)
            lo, hi = min(w, h), max(w, h)
            side = max(1, (size * lo * 2 + hi) // (2 * hi))
            dw, dh = (size, side) if w > h else (side, size)
            dx, dy = (size - dw) // 2, (size - dh) // 2
            inner = bilinear(list(px), w, h, dw, dh)
            black = (0.0 - mean) / std
            for y in range(size):
                for x in range(size):
                    v = got[y * size + x]
                    if dx <= x < dx + dw and dy <= y < dy + dh:
                        want = (inner[(y - dy) * dw + x - dx] - mean) / std
                        self.assertAlmostEqual(v, want, delta=1e-4, msg=(w, h, x, y))
                    else:
                        self.assertAlmostEqual(v, black, delta=1e-6, msg=(w, h, x, y))

    def test_maps_are_drawn_back_on_the_image(self):
        w, h = 96, 60
        px = image(w, h)
        with covidcam.Session(self.models["center_crop"]) as s:
            with s.gradcam_pixels(px, w, h) as cam:
                size, cmap = cam.size, [v for row in cam.data() for v in row]
                got = [v for row in cam.resize(w, h) for v in row]
                x0 = (w - h) // 2  # the square of side h
                want = bilinear(cmap, size, size, h, h)
                for y in range(h):
                    for x in range(w):
                        v = got[y * w + x]
                        if x0 <= x < x0 + h:
                            self.assertAlmostEqual(v, want[y * h + x - x0], delta=1e-5)
                        else:
                            self.assertEqual(v, 0.0, (x, y))
        with covidcam.Session(self.models["pad"]) as s:
            with s.gradcam_pixels(px, w, h) as cam:
                size = cam.size
                cmap = [v for row in cam.data() for v in row]
                dh = max(1, (size * h * 2 + w) // (2 * w))
                dy = (size - dh) // 2
                sub = cmap[dy * size:(dy + dh) * size]
                want = bilinear(sub, size, dh, w, h)
                got = [v for row in cam.resize(w, h) for v in row]
                for i, (a, b) in enumerate(zip(got, want)):
                    self.assertAlmostEqual(a, b, delta=1e-5, msg=i)

    def test_unknown_mode_is_refused(self):
        path = os.path.join(self.tmp.name, "bad.safetensors")
        support.write_with(BASIC, path, {}, {"resize": "letterbox"})
        with self.assertRaises(covidcam.BadFormatError) as cm:
            covidcam.Model(path)
        self.assertIn("resize must be stretch, center_crop or pad, not 'letterbox'",
                      str(cm.exception))


if __name__ == "__main__":
    unittest.main()
