"""Arguments ctypes would truncate, embedded NULs, accepted buffer types and
error messages of the binding; and valid JSON lines from every --json writer
(C programs and `python3 -m covidcam`) for non-UTF-8 names and for a model
whose logits overflow."""

import ctypes
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import support
import test_cli

import covidcam

BASIC = support.fixture("basic.safetensors")
SAMPLE = support.fixture("sample_64.png")


def overflowing_model(path):
    """basic.safetensors with fc.weight row 0 = 3e38: finite, loads, but the
    logit of class 0 is not finite on any image."""
    buf = support.read(BASIC)
    (n,) = struct.unpack("<Q", buf[:8])
    info = json.loads(buf[8:8 + n].decode())["fc.weight"]
    b = 8 + n + info["data_offsets"][0]
    row = struct.pack("<%df" % info["shape"][1], *([3e38] * info["shape"][1]))
    with open(path, "wb") as f:
        f.write(buf[:b] + row + buf[b + len(row):])


class ArgumentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = covidcam.Model(BASIC)
        cls.session = covidcam.Session(cls.model, threads=1)
        cls.tensor = [0.0] * (64 * 64)

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.model.close()

    def test_ints_out_of_c_range(self):
        for target in (2 ** 32, 2 ** 32 + 2, -2 ** 31 - 1):
            with self.assertRaisesRegex(covidcam.InvalidArgumentError, "target must be in"):
                self.session.gradcam_tensor(self.tensor, target=target)
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "threads must be in"):
            covidcam.Session(self.model, threads=2 ** 32 + 1)
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "width must be in"):
            self.session.classify_pixels(b"\0" * 64, width=2 ** 32 + 8, height=8)
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "must be an integer"):
            self.session.gradcam_tensor(self.tensor, target=1.5)

    def test_embedded_nul(self):
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "NUL"):
            self.session.gradcam_tensor(self.tensor, layer="layer1\0junk")
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "NUL"):
            self.session.classify_file(SAMPLE + "\0.txt")
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "NUL"):
            covidcam.Model(BASIC + "\0x")
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, "NUL"):
            self.model.class_index("COVID\0x")

    def test_ctypes_float_array_accepted(self):
        flat = (ctypes.c_float * (64 * 64))(*self.tensor)
        self.assertEqual(self.session.classify_tensor(flat).logits,
                         self.session.classify_tensor(self.tensor).logits)

    def test_save_npy_directory(self):
        with self.session.gradcam_tensor(self.tensor) as cam, tempfile.TemporaryDirectory() as d:
            with self.assertRaises(covidcam.FileIOError) as cm:
                cam.save_npy(d)
            self.assertIn(d, str(cm.exception))

    @unittest.skipUnless(covidcam._buffers.have_numpy(), "needs numpy")
    def test_color_array_message(self):
        import numpy as np
        with self.assertRaisesRegex(covidcam.InvalidArgumentError, r"2-D \(height, width\)"):
            self.session.classify(np.zeros((64, 64, 3), np.uint8))

    def test_overflowing_logits(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "overflow.safetensors")
            overflowing_model(path)
            with covidcam.Model(path) as m, covidcam.Session(m, threads=1) as s:
                with self.assertRaisesRegex(covidcam.BadFormatError, "logit of class 0"):
                    s.classify_file(SAMPLE)


class JsonLinesTest(unittest.TestCase):
    """Every program prints one valid JSON line per image, success or not."""

    def commands(self, tool, model, extra):
        cmds = [["python3", "-m", "covidcam", tool.split("-")[1]]]
        exe = test_cli.example(tool)
        if exe:
            cmds.append([exe])
        return [c + ["--model", model, "--json"] + extra for c in cmds]

    def lines(self, cmd):
        env = dict(os.environ)
        env["PYTHONPATH"] = test_cli.PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
        out = p.stdout.decode("utf-8")  # stdout must be UTF-8 JSON; stderr has raw names
        return (p.returncode, [json.loads(line) for line in out.splitlines()],
                p.stderr.decode("utf-8", "replace"))

    def test_non_utf8_names(self):
        with tempfile.TemporaryDirectory() as d:
            good = os.path.join(os.fsencode(d), b"x\xff\xfe.png")
            shutil.copy(SAMPLE, good)
            missing = os.path.join(os.fsencode(d), b"no\xffne.png")
            names = [os.fsdecode(good), os.fsdecode(missing)]
            for tool, extra in (("covidcam-classify", []),
                                ("covidcam-gradcam", ["--out-dir", os.path.join(d, "o")])):
                for cmd in self.commands(tool, BASIC, extra + names):
                    rc, lines, _ = self.lines(cmd)
                    self.assertEqual(rc, 1, cmd)
                    self.assertEqual(len(lines), 2, cmd)
                    self.assertEqual(bytes.fromhex(lines[0]["file_bytes"]), good)
                    self.assertIn("\ufffd", lines[0]["file"])
                    self.assertIn("top", lines[0])
                    self.assertEqual(bytes.fromhex(lines[1]["file_bytes"]), missing)
                    self.assertEqual(lines[1]["status"], "i/o error")

    def test_overflow_model_error_line(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "overflow.safetensors")
            overflowing_model(path)
            for tool in ("covidcam-classify", "covidcam-gradcam"):
                for cmd in self.commands(tool, path, [SAMPLE]):
                    rc, lines, err = self.lines(cmd)
                    self.assertEqual(rc, 1, cmd)
                    self.assertEqual(len(lines), 1, cmd)
                    self.assertIn("logit of class 0", lines[0]["error"])
                    self.assertNotIn("UTF-8", err)


if __name__ == "__main__":
    unittest.main()
