"""covidcam convert: converted fixtures classify like their references, and
hostile or broken inputs are refused with a message naming the culprit.

The fixtures (tests/fixtures/convert/, tools/make_convert_fixtures.py) hold
tiny ResNets written by torch.save, torch.onnx.export and paddle.save's
format, with inputs and logits computed by torch (float64) or, for the
notebook layout, by a separate numpy implementation of that network."""

import contextlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("CC_SOURCE_ROOT") or os.path.normpath(
    os.path.join(HERE, "..", "..", ".."))
FIX = os.path.join(SOURCE_ROOT, "tests", "fixtures", "convert")
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..")))

import covidcam  # noqa: E402
from covidcam.convert import cli  # noqa: E402

try:
    import numpy as np
except ImportError:
    np = None
try:
    import onnx
except ImportError:
    onnx = None

TOL = 1e-4
RGB = ["--mean", "120,127.5,135", "--std", "60,61,62"]
GRAY = ["--mean", "129.5", "--std", "61.25"]


def run(argv):
    """(exit status, stdout, stderr) of covidcam convert argv."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@unittest.skipIf(np is not None, "numpy is installed: the no-numpy message is not reachable")
class NoNumpyTest(unittest.TestCase):
    def test_says_numpy_is_needed(self):
        rc, _, err = run([os.path.join(FIX, "basic_sd.pth"), "-o", "x.safetensors"])
        self.assertEqual(rc, 1)
        self.assertIn("needs numpy", err)
        self.assertIn("python3-numpy", err)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "out.safetensors")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def refused(self, path, *args, want=(), rc=1):
        """Converting path fails with status rc; the message has every `want`."""
        if os.path.exists(self.out):
            os.unlink(self.out)
        code, out, err = run([path, "-o", self.out] + list(args or ["--classes", "A,B,C"] + RGB))
        self.assertEqual(code, rc, err + out)
        for w in want:
            self.assertIn(w, err)
        self.assertFalse(os.path.exists(self.out))
        return err


@unittest.skipIf(np is None, "numpy is not installed for this Python (the converter needs it)")
class FixtureTest(Base):
    @classmethod
    def setUpClass(cls):
        with np.load(os.path.join(FIX, "expected.npz")) as z:
            cls.expected = {k: z[k] for k in z.files}

    def convert_and_classify(self, fixture, ref, classes, norm, *extra):
        rc, out, err = run([os.path.join(FIX, fixture), "-o", self.out, "--classes", classes]
                           + norm + list(extra))
        self.assertEqual(rc, 0, err)
        self.assertIn("wrote " + self.out, out)
        x = self.expected[ref.split("_")[0] + ".input"]
        with covidcam.Model(self.out) as m, covidcam.Session(m, threads=1) as s:
            logits = np.array(s.classify_tensor(x).logits)
            self.assertEqual(m.classes, tuple(classes.split(",")))
            meta = {k: m.metadata(k) for k in ("arch", "bn_eps", "converted_from", "input_size")}
        want = self.expected[ref + ".logits"]
        self.assertLess(np.abs(logits - want).max(), TOL, (fixture, logits, want))
        self.assertIn(np.abs(want).max() > 0.5, (True,))  # logits that can tell errors apart
        return out, meta

    def test_torch_state_dicts(self):
        out, meta = self.convert_and_classify("basic_sd.pth", "basic", "A,B,C", RGB,
                                              "--input-size", "32")
        self.assertIn("parameters  3255", out)
        self.assertEqual((meta["arch"], meta["input_size"]), ("resnet", "32"))
        self.assertIn("basic_sd.pth (PyTorch state dict)", meta["converted_from"])
        self.convert_and_classify("bottleneck_sd.pth", "bottleneck", "X,Y", GRAY,
                                  "--input-size", "40")

    def test_whole_torchvision_model(self):
        out, meta = self.convert_and_classify("basic_model.pth", "basic", "A,B,C", RGB,
                                              "--input-size", "32")
        self.assertIn("torchvision.models.resnet.ResNet", out)

    def test_paddle_vision_layout(self):
        self.convert_and_classify("basic_vision.pdparams", "basic", "A,B,C", RGB,
                                  "--input-size", "32")  # pickle protocol 2
        self.convert_and_classify("bottleneck_vision.pdparams", "bottleneck", "X,Y", GRAY,
                                  "--input-size", "40")  # protocol 4

    def test_paddle_notebook_layout(self):
        nb = ["--mean", "129.909", "--std", "59.018", "--input-size", "32"]
        out, _ = self.convert_and_classify("notebook.pdparams", "notebook", "A,B,C,D", nb)
        self.assertIn("layers [2, 2, 1, 1]", out)
        self.convert_and_classify("notebook.pdparams", "notebook", "A,B,C,D", nb,
                                  "--layers", "2,2,1,1")
        err = self.refused(os.path.join(FIX, "notebook.pdparams"), "--classes", "A,B,C,D",
                           "--layers", "3,1,1,1", *nb, rc=1)
        self.assertIn("block 2", err)
        self.assertIn("inferred split: [2, 2, 1, 1]", err)
        err = self.refused(os.path.join(FIX, "notebook.pdparams"), "--classes", "A,B,C,D",
                           "--layers", "2,2,1", *nb, rc=1)
        self.assertIn("adds up to 5 blocks", err)

    @unittest.skipIf(onnx is None, "the onnx package is not installed (python3-onnx)")
    def test_onnx(self):
        _, meta = self.convert_and_classify("basic.onnx", "basic", "A,B,C", RGB)
        self.assertEqual((meta["bn_eps"], meta["input_size"]), ("1e-05", "32"))
        self.convert_and_classify("basic_convbias.onnx", "basic_convbias", "A,B,C", RGB)
        out, meta = self.convert_and_classify("bottleneck_folded.onnx", "bottleneck", "X,Y", GRAY)
        self.assertIn("batch norm folded", out)
        self.assertIsNone(meta["bn_eps"])


def _zip_pth(pickle_bytes, storages=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        for k, v in storages:
            z.writestr("archive/data/" + k, v)
    return buf.getvalue()


class System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch '%s'" % self.marker,))


@unittest.skipIf(np is None, "numpy is not installed for this Python (the converter needs it)")
class HostileTest(Base):
    def test_reduce_calling_os_system_is_refused_and_not_run(self):
        marker = os.path.join(self.tmp.name, "pwned")
        payload = pickle.dumps({"conv1.weight": System(marker)}, protocol=2)
        for name, data in (("evil.pdparams", payload), ("evil.pth", _zip_pth(payload))):
            err = self.refused(self.write(name, data), want=["%s.system" % os.name])
            self.assertIn("nothing in the file is run", err)
            self.assertFalse(os.path.exists(marker))

    def test_unexpected_globals(self):
        for mod, name in (("builtins", "eval"), ("subprocess", "Popen"),
                          ("torch", "load"), ("numpy", "load")):
            data = b"\x80\x02c%s\n%s\n)R." % (mod.encode(), name.encode())
            self.refused(self.write("g.pdparams", data), want=["'%s.%s'" % (mod, name)])

    def test_user_model_class_explains_state_dict(self):
        data = b"\x80\x02c__main__\nMyNet\n)\x81}b."
        self.refused(self.write("m.pth", _zip_pth(data)),
                     want=["'__main__.MyNet'", "torch.save(model.state_dict()"])

    def test_truncated_and_damaged_zip(self):
        with open(os.path.join(FIX, "basic_sd.pth"), "rb") as f:
            good = f.read()
        for cut in (len(good) // 2, len(good) - 30, 100):
            self.refused(self.write("t.pth", good[:cut]), want=["truncated or damaged"])
        bad = bytearray(good)
        with zipfile.ZipFile(io.BytesIO(good)) as z:
            info = [i for i in z.infolist() if i.filename.endswith("/data/0")][0]
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
        bad[start] ^= 0xFF
        self.refused(self.write("crc.pth", bytes(bad)), want=["truncated or damaged"])

    def test_storage_too_small_for_tensor(self):
        src = zipfile.ZipFile(os.path.join(FIX, "basic_sd.pth"))
        buf = io.BytesIO()
        with src, zipfile.ZipFile(buf, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith("/data/0"):
                    data = data[:16]  # 4 floats left of the first storage
                    short = info.filename
                dst.writestr(info, data)
        err = self.refused(self.write("s.pth", buf.getvalue()), want=["of a storage of 4"])
        self.assertIn("storage '%s'" % short.rsplit("/", 1)[1], err)

    def vision_arrays(self):
        from covidcam.convert import paddle
        with open(os.path.join(FIX, "basic_vision.pdparams"), "rb") as f:
            return paddle.read_arrays(f.read(), "x")

    def test_wrong_shape_missing_extra_nan(self):
        a = self.vision_arrays()
        a["layer1.0.conv2.weight"] = np.zeros((4, 4, 1, 1), np.float32)
        self.refused(self.write("w.pdparams", pickle.dumps(a)),
                     want=["'layer1.0.conv2.weight' has shape [4, 4, 1, 1], expected [4, 4, 3, 3]"])
        a = self.vision_arrays()
        del a["layer2.0.bn1._variance"]
        self.refused(self.write("m.pdparams", pickle.dumps(a)), want=["layer2.0.bn1.running_var"])
        a = self.vision_arrays()
        a["layer1.0.extra.weight"] = np.zeros(3, np.float32)
        self.refused(self.write("e.pdparams", pickle.dumps(a)), want=["'layer1.0.extra.weight'"])
        a = self.vision_arrays()
        a["layer3.0.bn2.bias"][5] = np.nan
        self.refused(self.write("n.pdparams", pickle.dumps(a)),
                     want=["'layer3.0.bn2.bias' has a non-finite value at element 5"])
        a = self.vision_arrays()
        a["bn1._variance"][1] = -1
        self.refused(self.write("v.pdparams", pickle.dumps(a)),
                     want=["'bn1.running_var' is negative at channel 1"])

    def test_not_a_model(self):
        self.refused(self.write("r.bin", b"\x13\x37" * 50), want=["unknown file format"])
        self.refused(os.path.join(SOURCE_ROOT, "tests", "fixtures", "basic.safetensors"),
                     want=["already a safetensors file"])
        self.refused(self.write("l.pdparams", pickle.dumps([1, 2])), want=["not a dict"])

    @unittest.skipIf(onnx is None, "the onnx package is not installed (python3-onnx)")
    def test_onnx_unsupported_op_names_the_node(self):
        m = onnx.load(os.path.join(FIX, "basic.onnx"))
        relus = [n for n in m.graph.node if n.op_type == "Relu"]
        relus[2].op_type = "Sigmoid"
        name = relus[2].name
        err = self.refused(self.write("s.onnx", m.SerializeToString()))
        self.assertIn("node '%s' (Sigmoid) does not fit a covidcam ResNet" % name, err)
        m = onnx.load(os.path.join(FIX, "basic.onnx"))
        m.graph.node.append(onnx.helper.make_node("Softmax", ["logits"], ["prob"], name="sm"))
        m.graph.output[0].name = "prob"
        self.refused(self.write("sm.onnx", m.SerializeToString()),
                     want=["node 'sm' (Softmax)", "graph output (raw logits)"])
        self.refused(self.write("trunc.onnx", m.SerializeToString()[:500]))


@unittest.skipIf(np is None, "numpy is not installed for this Python (the converter needs it)")
class OptionsTest(Base):
    def test_messages_say_what_the_file_holds(self):
        sd = os.path.join(FIX, "bottleneck_sd.pth")
        err = self.refused(sd, *GRAY, rc=2)
        self.assertIn("--classes is required", err)
        self.assertIn("bottleneck blocks, layers [2, 1, 1]", err)
        self.assertIn("2 outputs", err)
        self.refused(sd, "--classes", "A,B,C", *GRAY, rc=2,
                     want=["--classes has 3 names", "fc.weight [2, 32]"])
        self.refused(sd, "--classes", "A,B", "--input-channels", "3", *GRAY, rc=2,
                     want=["stem convolution of", "takes 1"])
        self.refused(sd, "--classes", "A,B", rc=2, want=["--mean is required",
                                                         "1 input channel"])
        self.refused(sd, "--classes", "A,A", *GRAY, want=["class 'A' appears twice"])
        self.refused(sd, "--classes", "A,B", "--input-size", "2000", *GRAY,
                     want=["--input-size must be 8 to 1024"])
        self.refused(sd, "--classes", "A,B", "--mean", "1", "--std", "0", want=["positive"])
        self.refused(sd, "--classes", "A,B", "--layers", "1,1", *GRAY, rc=2,
                     want=["notebook-layout"])

    def test_module_cli(self):
        env = dict(os.environ, PYTHONPATH=os.path.normpath(os.path.join(HERE, "..")))
        p = subprocess.run([sys.executable, "-m", "covidcam", "convert",
                            os.path.join(FIX, "basic_vision.pdparams"), "-o", self.out,
                            "--classes", "COVID,Normal,ViralPneumonia"] + RGB,
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("classes     COVID, Normal, ViralPneumonia", p.stdout)
        self.assertIn("input 3x224x224", p.stdout)


if __name__ == "__main__":
    unittest.main()
