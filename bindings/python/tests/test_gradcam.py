import os
import tempfile
import unittest

import support
import covidcam

METHODS = {"gradcam": covidcam.Method.GRADCAM, "gradcampp": covidcam.Method.GRADCAMPP,
           "layercam": covidcam.Method.LAYERCAM}


def cam_references():
    """[(model, k, layer, class, method, kind, name)] of the Grad-CAM fixtures."""
    out = []
    for name in support.expected_names():
        if not name.startswith("cam.") or name.startswith("cam.negfc"):
            continue
        parts = name.split(".")
        model, k = parts[1], int(parts[2])
        cls, method, kind = int(parts[-3]), parts[-2], parts[-1]
        layer = ".".join(parts[3:-3])
        out.append((model, k, layer, cls, method, kind, name))
    return out


def close_to(test, got, want, what):
    scale = max(max(want), 1e-6)
    test.assertLess(support.max_abs_diff(got, want), 1e-4 * scale + 1e-6, what)


class GradcamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.models = {n: covidcam.Model(support.fixture(n + ".safetensors"))
                      for n in ("basic", "bottleneck", "negfc")}
        cls.sessions = {n: covidcam.Session(m, threads=1) for n, m in cls.models.items()}

    @classmethod
    def tearDownClass(cls):
        for s in cls.sessions.values():
            s.close()
        for m in cls.models.values():
            m.close()

    def test_maps_match_pytorch(self):
        refs = cam_references()
        self.assertGreater(len(refs), 100)
        for model, k, layer, cls, method, kind, name in refs:
            s = self.sessions[model]
            shape, want = support.expected(name)
            t = support.expected("%s.input.%d" % (model, k))[1]
            with s.gradcam_tensor(t, method=method, layer=layer, target=cls) as cam:
                self.assertEqual(cam.class_index, cls)
                self.assertEqual(cam.method, METHODS[method])
                if kind == "raw":
                    self.assertEqual(cam.raw_size, (shape[1], shape[0]))
                    close_to(self, support.flatten(cam.raw()), want, name)
                else:
                    self.assertEqual(cam.size, shape[0])
                    close_to(self, support.flatten(cam.data()), want, name)

    def test_all_negative_fc_gives_zero_map(self):
        t = support.expected("basic.input.0")[1]
        with self.sessions["negfc"].gradcam_tensor(t, layer="layer4.0", target=0) as cam:
            self.assertEqual(max(support.flatten(cam.raw())), 0.0)
            self.assertEqual(max(support.flatten(cam.data())), 0.0)

    def test_heatmap_carries_the_classification(self):
        s = self.sessions["basic"]
        path = support.fixture("sample_97x131.png")
        r = s.classify_file(path)
        with s.gradcam(path) as cam:
            self.assertEqual(cam.result().logits, r.logits)
            self.assertEqual(cam.probabilities, r.probabilities)
            self.assertEqual(cam.top, r.top)
            self.assertEqual(cam.class_index, r.top)  # default target: the top class
            self.assertEqual(cam.class_name, r.label)
            self.assertEqual(cam.probability, r.probabilities[r.top])
            self.assertEqual(cam.layer, "layer4.1")  # "layer4" on basic [1,2,1,2]
            self.assertEqual(cam.image_size, (97, 131))
            self.assertEqual(cam.size, 64)
            rows = cam.data()
            self.assertEqual((len(rows), len(rows[0])), (64, 64))
            flat = support.flatten(rows)
            self.assertEqual((min(flat), max(flat) > 0.99), (0.0, True))
        with s.gradcam(path, target="COVID", layer="layer2", method="layercam") as cam:
            self.assertEqual((cam.class_index, cam.layer, cam.method.label),
                             (0, "layer2.1", "layercam"))

    def test_every_input_path_gives_the_same_map(self):
        s = self.sessions["basic"]
        m = self.models["basic"]
        for path in support.need_xrays(1) + [support.fixture("sample_97x131.png")]:
            data = support.read(path)
            w, h, _, px = support.decode_png(data)
            kw = {"method": "gradcam++", "layer": "layer3"}
            with s.gradcam_file(path, **kw) as a, s.gradcam_png(data, **kw) as b, \
                    s.gradcam_pixels(px, w, h, **kw) as c, \
                    s.gradcam_tensor(m.preprocess(px, w, h), **kw) as d:
                want = a.raw()
                self.assertEqual(b.raw(), want)
                self.assertEqual(c.raw(), want)
                self.assertEqual(d.raw(), want)
                self.assertEqual(d.image_size, (0, 0))

    def test_heatmap_outlives_session_and_model(self):
        m = covidcam.Model(support.fixture("basic.safetensors"))
        s = covidcam.Session(m)
        cam = s.gradcam(support.fixture("sample_64.png"))
        want = self.sessions["basic"].gradcam(support.fixture("sample_64.png")).data()
        s.close()
        m.close()
        self.assertEqual(cam.data(), want)
        self.assertEqual(cam.class_name, m.classes[cam.class_index])
        cam.close()
        cam.close()
        with self.assertRaises(covidcam.InvalidArgumentError):
            cam.data()

    def test_resize_colormap_overlay_and_files(self):
        s = self.sessions["basic"]
        path = support.fixture("sample_97x131.png")
        w, h, _, px = support.decode_png(support.read(path))
        with s.gradcam(path) as cam, tempfile.TemporaryDirectory() as d:
            same = cam.resize(cam.size, cam.size)
            self.assertLess(support.max_abs_diff(support.flatten(same),
                                                 support.flatten(cam.data())), 1e-6)
            self.assertEqual(len(cam.resize(7, 5)), 5)
            # The written files decode to the in-memory renderings.
            for alpha in (0.5, 0.2):
                cam.save_overlay(os.path.join(d, "o.png"), alpha=alpha)
                ow, oh, ch, rgb = support.decode_png(support.read(os.path.join(d, "o.png")))
                self.assertEqual((ow, oh, ch), (w, h, 3))
                self.assertEqual(rgb, cam.overlay(px, w, h, alpha=alpha))
            self.assertNotEqual(cam.overlay(px, w, h, alpha=0.2),
                                cam.overlay(px, w, h, alpha=0.5))
            # alpha 0 keeps the gray image.
            gray_rgb = bytes(v for p in px for v in (p, p, p))
            self.assertEqual(cam.overlay(px, w, h, alpha=0.0), gray_rgb)
            cam.save_colormap(os.path.join(d, "c.png"))
            cw, ch_, _, rgb = support.decode_png(support.read(os.path.join(d, "c.png")))
            self.assertEqual((cw, ch_), (w, h))
            self.assertEqual(rgb, cam.colormap())
            self.assertEqual(len(cam.colormap(10, 20)), 600)
            cam.save_npy(os.path.join(d, "m.npy"))
            npy = support.read(os.path.join(d, "m.npy"))
            self.assertEqual(npy[:6], b"\x93NUMPY")
            hlen = int.from_bytes(npy[8:10], "little")
            self.assertEqual((10 + hlen) % 64, 0)
            self.assertIn(b"'shape': (64, 64)", npy[10:10 + hlen])
            import array
            a = array.array("f")
            a.frombytes(npy[10 + hlen:])
            self.assertEqual(list(a), support.flatten(cam.data()))

    def test_render_errors_name_the_culprit(self):
        # The library's own message (from the _errbuf renderers) reaches Python.
        with self.sessions["basic"].gradcam(support.fixture("sample_64.png")) as cam:
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                cam.overlay(bytes(12), 4, 3, alpha=1.5)
            self.assertIn("image_weight -0.5 is not in [0, 1]", str(cm.exception))
            with self.assertRaises(covidcam.InvalidArgumentError) as cm:
                cam.colormap(0, 5)
            self.assertIn("0 x 5", str(cm.exception))

    def test_errors(self):
        s = self.sessions["basic"]
        path = support.fixture("sample_64.png")
        with self.assertRaises(covidcam.InvalidArgumentError) as cm:
            s.gradcam(path, layer="layer9")
        self.assertIn("layer4.1", cm.exception.message)  # lists the valid names
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.gradcam(path, target=3)
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.gradcam(path, target="Flu")
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.gradcam(path, method="saliency")
        with self.assertRaises(covidcam.InvalidArgumentError):
            s.gradcam(path, method=8)
        with self.assertRaises(covidcam.FileIOError):
            s.gradcam("/nonexistent.png")
        t = support.expected("basic.input.0")[1]
        with s.gradcam_tensor(t) as cam, tempfile.TemporaryDirectory() as d:
            with self.assertRaises(covidcam.InvalidArgumentError):
                cam.save_overlay(os.path.join(d, "o.png"))  # no image behind a tensor
            with self.assertRaises(covidcam.FileIOError):
                cam.save_colormap(os.path.join(d, "missing", "c.png"))
            with self.assertRaises(covidcam.InvalidArgumentError):
                cam.resize(0, 5)
            with self.assertRaises(covidcam.InvalidArgumentError):
                cam.overlay(b"\x00" * 10, 4, 4)
            self.assertEqual(cam.colormap(), cam.colormap(64, 64))


if __name__ == "__main__":
    unittest.main()
