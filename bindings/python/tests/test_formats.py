"""Every image format through the binding: JPEG and PNG from paths and bytes,
the image info of sessions, heatmaps and covidcam.probe, and the refusals of
formats the library does not decode (compared with PIL's decode, committed as
tests/fixtures/jpeg/*.gray)."""

import os
import tempfile
import unittest

import support
import covidcam
from covidcam import _cli_gradcam

JPEG = support.fixture("jpeg/exif_o6.jpg")
JPEG_GRAY = support.fixture("jpeg/exif_o6.pil.gray")  # PIL, after EXIF rotation: 47 x 61
CMYK = support.fixture("jpeg/cmyk_adobe.jpg")
PNG16 = support.fixture("png/gray16.png")


class FormatsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = covidcam.Model(support.fixture("basic.safetensors"))
        cls.s = covidcam.Session(cls.model, threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        cls.model.close()

    def test_jpeg_path_bytes_pixels_agree(self):
        ref = self.s.classify_pixels(support.read(JPEG_GRAY), 47, 61)
        by_path = self.s.classify(JPEG)
        info = self.s.image_info()
        by_bytes = self.s.classify(support.read(JPEG))
        self.assertEqual(ref.probabilities, by_path.probabilities)
        self.assertEqual(ref.probabilities, by_bytes.probabilities)
        self.assertEqual(info.format, covidcam.Format.JPEG)
        self.assertEqual((info.width, info.height, info.orientation), (47, 61, 6))
        self.assertEqual(info.photometric, "GRAY")
        self.assertEqual(info.warnings(), [])

    def test_session_info_after_failure(self):
        with self.assertRaises(covidcam.BadFormatError):
            self.s.classify_png(support.read(JPEG))  # _png stays PNG-only
        with self.assertRaises(covidcam.InvalidArgumentError):
            self.s.image_info()

    def test_heatmap_info(self):
        with self.s.gradcam(support.read(CMYK)) as cam:
            info = cam.image_info()
        self.assertEqual((info.format, info.channels, info.photometric),
                         (covidcam.Format.JPEG, 4, "CMYK"))
        with self.s.gradcam(PNG16) as cam:
            self.assertEqual(cam.image_info().bits, 16)

    def test_probe(self):
        a = covidcam.probe(PNG16)
        b = covidcam.probe(support.read(PNG16))
        self.assertEqual(a.as_dict(), b.as_dict())
        self.assertEqual(a.as_dict()["format"], "PNG")
        # With the DICOM decoder built (CC_HAVE_DICOM, from meson) an empty
        # DICOM is the decoder's BAD_FORMAT; without it, UNSUPPORTED by name.
        dicom = bytes(128) + b"DICM" + bytes(64)
        decoder = os.environ.get("CC_HAVE_DICOM") == "1"
        want = covidcam.BadFormatError if decoder else covidcam.UnsupportedError
        with self.assertRaises(want) as e:
            covidcam.probe(dicom)
        self.assertIn("DICOM" if decoder else "looks like DICOM", str(e.exception))
        with self.assertRaises(covidcam.UnsupportedError) as e:
            self.s.classify(b"GIF89a" + bytes(16))
        self.assertIn("GIF", str(e.exception))
        with self.assertRaises(covidcam.BadFormatError):
            covidcam.probe(b"hello world")

    def test_name_does_not_matter(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "really_a_jpeg.png")
            with open(p, "wb") as f:
                f.write(support.read(JPEG))
            self.assertEqual(covidcam.probe(p).format, covidcam.Format.JPEG)
            self.assertEqual(self.s.classify(p).probabilities,
                             self.s.classify(JPEG).probabilities)

    def test_stem(self):
        for path, want in (("a/x.jpg", "x"), ("y.DCM", "y"), ("s.1.2.png", "s.1.2"),
                           ("noext", "noext"), (".hidden", ".hidden")):
            self.assertEqual(_cli_gradcam.stem(path), want)

    def test_dicom_warnings(self):
        info = covidcam.probe(PNG16)
        info.format = covidcam.Format.DICOM
        info.modality, info.view_position = "CT", "LATERAL"
        w = info.warnings()
        self.assertEqual(len(w), 2)
        self.assertIn("LATERAL", w[0])
        self.assertIn("'CT'", w[1])


if __name__ == "__main__":
    unittest.main()
