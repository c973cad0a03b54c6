"""Real X-rays through the binding against PyTorch (tools/covidcam_torch.py):
skipped where torch is not installed (the plain python3 of CI)."""

import json
import os
import sys
import unittest

import support
import covidcam

try:
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(support.SOURCE_ROOT, "tools"))
    import covidcam_torch
except ImportError:
    torch = None


@unittest.skipIf(torch is None, "torch is not installed for this Python")
class TorchReferenceTest(unittest.TestCase):
    def reference(self, net, meta, path):
        w, h, _, px = support.decode_png(support.read(path))
        s = int(meta["input_size"])
        img = torch.tensor(list(px), dtype=torch.float64).reshape(1, 1, h, w)
        x = F.interpolate(img, size=(s, s), mode="bilinear", align_corners=False)
        c = int(meta["input_channels"])
        mean = torch.tensor(json.loads(meta["mean"]), dtype=torch.float64).reshape(1, c, 1, 1)
        std = torch.tensor(json.loads(meta["std"]), dtype=torch.float64).reshape(1, c, 1, 1)
        x = (x.expand(1, c, s, s) - mean) / std
        with torch.no_grad():
            return net(x)[0].tolist()

    def test_real_xrays_match_pytorch(self):
        files = support.need_xrays(3)
        for name in ("basic", "bottleneck"):
            path = support.fixture(name + ".safetensors")
            net, meta = covidcam_torch.load_covidcam(path)
            net = net.double()
            with covidcam.Model(path) as m, covidcam.Session(m, threads=1) as s:
                for f in files:
                    want = self.reference(net, meta, f)
                    got = s.classify_file(f).logits
                    self.assertLess(support.max_abs_diff(got, want), 1e-4, (name, f))


if __name__ == "__main__":
    unittest.main()
