"""covidcam convert: converted fixtures classify like their references, and
hostile or broken inputs are refused with a message naming the culprit.

The fixtures (tests/fixtures/convert/, tools/make_convert_fixtures.py) hold
tiny ResNets written by torch.save, torch.onnx.export and paddle.save's
format, with inputs and logits computed by torch (float64) or, for the
notebook layout, by a separate numpy implementation of that network."""

import contextlib
import io
import json
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


def read_st(path):
    """(metadata, {name: float32 ndarray}) of an F32 safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__")
    return meta, {k: np.frombuffer(buf[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                   "<f4").reshape(v["shape"]) for k, v in header.items()}


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

    def test_checkpoint_of_data_parallel_model(self):
        out, _ = self.convert_and_classify("basic_ckpt.pth", "basic", "A,B,C", RGB,
                                           "--input-size", "32")
        self.assertIn("state dict under key 'state_dict', 'module.' prefix dropped", out)

    def test_three_channel_model_as_gray(self):
        """--input-channels 1 sums the stem kernels: on gray input (what the
        library feeds a 3-channel model) it equals the 3-channel conversion."""
        sd = os.path.join(FIX, "basic_sd.pth")
        three = os.path.join(self.tmp.name, "three.safetensors")
        base = [sd, "--classes", "A,B,C", "--mean", "120", "--std", "60", "--input-size", "32"]
        self.assertEqual(run(base + ["-o", three])[0], 0)
        rc, out, err = run(base + ["-o", self.out, "--input-channels", "1"])
        self.assertEqual(rc, 0, err)
        self.assertIn("input 1x32x32", out)
        gray = self.expected["basic.input"][:1]
        with covidcam.Model(three) as m3, covidcam.Session(m3, threads=1) as s3, \
                covidcam.Model(self.out) as m1, covidcam.Session(m1, threads=1) as s1:
            want = np.array(s3.classify_tensor(np.repeat(gray, 3, axis=0)).logits)
            got = np.array(s1.classify_tensor(gray).logits)
        self.assertLess(np.abs(got - want).max(), TOL, (got, want))
        self.refused(sd, "--classes", "A,B,C", "--input-channels", "1", *RGB, rc=2,
                     want=["one --mean and one --std"])

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
        # the identity batch norm the loader folds: scale 1/sqrt(var + 1e-5) within 3e-8 of 1
        _, t = read_st(self.out)
        var = np.concatenate([v for k, v in t.items() if k.endswith("running_var")])
        self.assertEqual(set(var.tolist()), {float(np.float32(1 - 1e-5))})
        self.assertLess(np.abs(1 / np.sqrt(var.astype(np.float64) + 1e-5) - 1).max(), 3e-8)
        for part, value in (("weight", 1.0), ("running_mean", 0.0)):
            vals = np.concatenate([v for k, v in t.items() if k.endswith("." + part) and
                                   (k.startswith("bn1.") or ".bn" in k or "downsample.1" in k)])
            self.assertEqual(set(vals.tolist()), {value}, part)

    @unittest.skipIf(onnx is None, "the onnx package is not installed (python3-onnx)")
    def test_onnx_reducemean_matmul_head(self):
        """paddle2onnx-style head: ReduceMean, Reshape, MatMul with [in, out] + Add."""
        from onnx import helper, numpy_helper
        m = onnx.load(os.path.join(FIX, "basic.onnx"))
        g = m.graph
        inits = {t.name: t for t in g.initializer}
        nodes = list(g.node)
        pool = next(n for n in nodes if n.op_type == "GlobalAveragePool")
        flat = next(n for n in nodes if n.op_type == "Flatten")
        gemm = next(n for n in nodes if n.op_type == "Gemm")
        w = numpy_helper.to_array(inits[gemm.input[1]])
        g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w.T), "fc_w_io"))
        g.initializer.append(numpy_helper.from_array(np.array([-1, w.shape[1]], np.int64), "shp"))
        new = [helper.make_node("ReduceMean", [pool.input[0]], ["pooled"], axes=[2, 3],
                                keepdims=1, name="mean"),
               helper.make_node("Reshape", ["pooled", "shp"], ["flat"], name="reshape"),
               helper.make_node("MatMul", ["flat", "fc_w_io"], ["mm"], name="matmul"),
               helper.make_node("Add", [gemm.input[2], "mm"], [gemm.output[0]], name="bias")]
        del g.node[:]
        g.node.extend([n for n in nodes if n not in (pool, flat, gemm)] + new)
        path = self.write("head.onnx", m.SerializeToString())
        rc, _, err = run([path, "-o", self.out, "--classes", "A,B,C"] + RGB)
        self.assertEqual(rc, 0, err)
        with covidcam.Model(self.out) as model, covidcam.Session(model, threads=1) as s:
            logits = np.array(s.classify_tensor(self.expected["basic.input"]).logits)
        self.assertLess(np.abs(logits - self.expected["basic.logits"]).max(), TOL)


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

    def test_stand_ins_cannot_be_rewritten(self):
        from covidcam.convert import unpickle
        # BUILD on the numpy.dtype stand-in class, then on a function
        for data in (b"\x80\x02cnumpy\ndtype\n}X\x05\x00\x00\x00numpyK\x01sb.",
                     b"\x80\x02ccopyreg\n_reconstructor\n}X\x01\x00\x00\x00aK\x01sb."):
            self.refused(self.write("b.pdparams", data), want=["sets the state of"])
        self.assertTrue(callable(unpickle.DType.numpy))
        self.assertFalse(hasattr(unpickle.reconstructor, "a"))

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
        self.refused(self.write("old.pth", cli.LEGACY_TORCH + b"\x00" * 20),
                     want=["legacy (pre-1.6)", "state_dict()"])
        self.refused(os.path.join(SOURCE_ROOT, "tests", "fixtures", "basic.safetensors"),
                     want=["already a safetensors file"])
        self.refused(self.write("l.pdparams", pickle.dumps([1, 2])), want=["not a dict"])

    @unittest.skipIf(onnx is None, "the onnx package is not installed (python3-onnx)")
    def test_onnx_wrong_geometry_names_the_node(self):
        for op, index, attr, value, want in (
                ("MaxPool", 0, "kernel_shape", [2, 2], "max-pool must be 3x3 stride 2 pad 1"),
                ("Conv", 0, "strides", [1, 1], "as the stem convolution it should be 7x7 stride 2"),
                ("Conv", 1, "group", 2, "grouped convolution")):
            m = onnx.load(os.path.join(FIX, "basic.onnx"))
            node = [n for n in m.graph.node if n.op_type == op][index]
            for a in [a for a in node.attribute if a.name == attr]:
                node.attribute.remove(a)
            node.attribute.append(onnx.helper.make_attribute(attr, value))
            self.refused(self.write("g.onnx", m.SerializeToString()),
                         want=["node '%s' (%s)" % (node.name, op), want])

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


def notebook_resnet50(rng, classes=4):
    """Notebook-layout arrays of a full ResNet-50 (3 channels), small random values."""
    p = {}

    def conv_bn(prefix, oc, ic, k):
        p[prefix + ".0.weight"] = rng.standard_normal((oc, ic, k, k), np.float32) * 0.01
        p[prefix + ".1.weight"] = np.ones(oc, np.float32)
        p[prefix + ".1.bias"] = np.zeros(oc, np.float32)
        p[prefix + ".1._mean"] = np.zeros(oc, np.float32)
        p[prefix + ".1._variance"] = np.ones(oc, np.float32)

    conv_bn("conv", 64, 3, 7)
    cin, n = 64, 0
    for count, w in zip([3, 4, 6, 3], [64, 128, 256, 512]):
        for i in range(count):
            for c, (oc, ic, k) in enumerate(((w, cin, 1), (w, w, 3), (4 * w, w, 1))):
                conv_bn("block.%d.conv%d" % (n, c + 1), oc, ic, k)
            if i == 0:
                conv_bn("block.%d.shortcut" % n, 4 * w, cin, 1)
            cin, n = 4 * w, n + 1
    p["fc.weight"] = rng.standard_normal((2048, classes), np.float32)
    p["fc.bias"] = rng.standard_normal(classes, np.float32)
    p["StructuredToParameterName@@"] = {k: "param_%d" % i for i, k in enumerate(p)}
    return p


@unittest.skipIf(np is None, "numpy is not installed for this Python (the converter needs it)")
class OptionsTest(Base):
    def test_documented_notebook_resnet50_command(self):
        """The command docs/model-format.md gives for the notebook's 4-class ResNet-50."""
        p = notebook_resnet50(np.random.default_rng(5))
        path = self.write("resnet50.pdparams", pickle.dumps(p, protocol=4))
        rc, out, err = run([path, "-o", self.out, "--classes",
                            "COVID,Lung_Opacity,Normal,Viral_Pneumonia", "--input-size", "224",
                            "--mean", "129.909", "--std", "59.018"])
        self.assertEqual(rc, 0, err)
        self.assertIn("arch        resnet50 (bottleneck blocks, layers [3, 4, 6, 3]", out)
        meta, t = read_st(self.out)
        self.assertEqual((meta["arch"], meta["input_size"], meta["input_channels"]),
                         ("resnet50", "224", "3"))
        self.assertEqual(json.loads(meta["mean"]), [129.909] * 3)
        self.assertEqual(json.loads(meta["std"]), [59.018] * 3)
        self.assertNotIn("layers", meta)
        np.testing.assert_array_equal(t["fc.weight"], p["fc.weight"].T)
        np.testing.assert_array_equal(t["layer3.5.conv2.weight"], p["block.12.conv2.0.weight"])
        np.testing.assert_array_equal(t["layer4.0.downsample.1.running_var"],
                                      p["block.13.shortcut.1._variance"])

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
        self.refused(sd, "--classes", "A,\udcff", *GRAY, want=["class 1 \\udcff is not valid UTF-8"])
        fifo = os.path.join(self.tmp.name, "fifo")
        os.mkfifo(fifo)
        for path in (self.tmp.name, fifo):  # a read would block on the FIFO
            self.refused(path, "--classes", "A,B", *GRAY, rc=2, want=["is not a regular file"])
        self.refused(os.path.join(self.tmp.name, "nope.pth"), "--classes", "A,B", *GRAY, rc=2,
                     want=["cannot read", "No such file"])
        code, _, err = run([sd, "-o", sd, "--classes", "A,B"] + GRAY)
        self.assertEqual(code, 2)
        self.assertIn("is the input file", err)

    def test_file_the_library_refuses_is_removed(self):
        """420 basic blocks of width 1: valid tensors, but more than the loader's
        4096-tensor limit, so libcovidcam refuses the written file."""
        one = lambda *shape: np.full(shape, 0.5, np.float32)  # noqa: E731
        p = {"conv.0.weight": one(1, 3, 7, 7), "fc.weight": one(1, 2), "fc.bias": one(2)}
        for prefix in ["conv"] + ["block.%d.conv%d" % (n, c) for n in range(420) for c in (1, 2)]:
            if prefix != "conv":
                p[prefix + ".0.weight"] = one(1, 1, 3, 3)
            for part in ("weight", "bias", "_mean", "_variance"):
                p["%s.1.%s" % (prefix, part)] = one(1)
        path = self.write("deep.pdparams", pickle.dumps(p))
        err = self.refused(path, "--classes", "A,B", *RGB)
        self.assertIn("libcovidcam refused the converted file, so it was removed", err)
        self.assertIn("4096", err)  # the loader's tensor limit, named in its message

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
