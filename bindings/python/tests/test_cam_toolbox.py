"""The 0.4 CAM toolbox through the binding: every method, eigen_smooth,
several layers and aug_smooth against the PyTorch references of
tests/fixtures/expected_cams.safetensors (tools/make_cam_fixtures.py), the
method names from the library, and labelled overlays."""

import os
import tempfile
import unittest

import support
import covidcam

_cams = None


def cam_fixture(name):
    global _cams
    if _cams is None:
        _cams = support.read_safetensors(support.fixture("expected_cams.safetensors"))[2]
    return _cams[name][1]


FIXTURE_NAME = {covidcam.Method.GRADCAMPP: "gradcampp"}


def key(model, layers, cls, method, eigen=False, aug=None):
    m = FIXTURE_NAME.get(method, method.label)
    return "cam2.%s.%s.%d.%s%s%s.map" % (model, "+".join(layers), cls, m,
                                          ".eigen" if eigen else "", "." + aug if aug else "")


class CamToolboxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = covidcam.Model(support.fixture("bottleneck.safetensors"))
        cls.session = covidcam.Session(cls.model, threads=1)
        shape, x = support.expected("bottleneck.input.0")
        cls.x = x
        res = cls.session.classify_tensor(x)
        assert cls.session.input() == list(x), "input() is not the tensor classified"
        order = sorted(range(len(res.logits)), key=lambda i: res.logits[i])
        cls.top = order[-1]

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.model.close()

    def check(self, layers, method, eigen=False, aug=None, aug_arg=None):
        with self.session.gradcam_tensor(self.x, method=method, layer=layers, target=self.top,
                                         eigen_smooth=eigen, aug_smooth=aug_arg) as cam:
            want = cam_fixture(key("bottleneck", layers, self.top, method, eigen, aug))
            got = [v for row in cam.data() for v in row]
            self.assertLess(support.max_abs_diff(got, want), 1e-3,
                            "%s %s eigen=%s aug=%s" % (layers, method.label, eigen, aug))
            self.assertEqual(cam.method, method)
            self.assertEqual(cam.eigen_smooth, bool(eigen))
            return cam.layer

    def test_every_method_single_and_multi_layer(self):
        for method in covidcam.Method:
            self.check(["layer3"], method)
            label = self.check(["layer3", "layer4"], method)
            self.assertEqual(label.count(","), 1)
            if method not in (covidcam.Method.EIGENCAM, covidcam.Method.EIGENGRADCAM):
                self.check(["layer3"], method, eigen=True)

    def test_aug_smooth(self):
        for aug, arg in (("aug", "intensity"), ("augflip", covidcam.AugSmooth.FLIP),
                         ("aug", True)):
            self.check(["layer4"], covidcam.Method.GRADCAM, aug=aug, aug_arg=arg)
            self.check(["layer4"], covidcam.Method.LAYERCAM, aug=aug, aug_arg=arg)
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.session.gradcam_tensor(self.x, aug_smooth="mirror")

    def test_names_come_from_the_library(self):
        self.assertEqual([m.label for m in covidcam.Method],
                         ["gradcam", "gradcam++", "layercam", "hirescam", "xgradcam", "eigencam",
                          "eigengradcam", "scorecam"])
        self.assertIs(covidcam.Method.parse("ScoreCAM"), covidcam.Method.SCORECAM)
        self.assertIs(covidcam.Method.parse("gradcampp"), covidcam.Method.GRADCAMPP)
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "eigengradcam, scorecam"):
            covidcam.Method.parse("saliency")

    def test_labelled_overlay(self):
        with covidcam.Model(support.fixture("basic.safetensors")) as m, \
                covidcam.Session(m, threads=1) as s, \
                s.gradcam_file(support.fixture("sample_97x131.png"), method="xgradcam",
                               aug_smooth="intensity") as cam:
            label = cam.label()
            self.assertEqual(label, "%s %.1f%% | xgradcam %s aug"
                             % (cam.class_name, 100.0 * cam.probability, cam.layer))
            with tempfile.TemporaryDirectory() as d:
                plain, labelled = os.path.join(d, "a.png"), os.path.join(d, "b.png")
                cam.save_overlay(plain)
                cam.save_labelled_overlay(labelled)
                self.assertNotEqual(support.read(plain), support.read(labelled))
            # the legend drawn in memory: the colour bar's ends are jet(0), jet(1)
            w, h = 64, 64
            rgb = bytearray(3 * w * h)
            covidcam.draw_legend(rgb, w, h, label)
            self.assertEqual(tuple(rgb[3 * (56 * w + 3):3 * (56 * w + 3) + 3]), (0, 0, 128))
            self.assertEqual(tuple(rgb[3 * (56 * w + 60):3 * (56 * w + 60) + 3]), (128, 0, 0))
            with self.assertRaises(covidcam.InvalidArgumentError):
                covidcam.draw_legend(bytes(3 * w * h), w, h, "x")
            with self.assertRaises(covidcam.InvalidArgumentError):
                covidcam.draw_legend(bytearray(10), w, h, "x")


if __name__ == "__main__":
    unittest.main()
