#!/usr/bin/python3
"""PyTorch reference side of libcovidcam: build, save and load covidcam models.

A covidcam model is a standard safetensors file holding a torchvision-style
ResNet plus string metadata (docs/model-format.md). This module is the
reference writer and reader; the C loader must accept everything it writes.

Importable (tools/ on sys.path):
    build_resnet, save_covidcam, covidcam_meta, load_safetensors, load_covidcam,
    save_safetensors, model_from_meta, NAMED_ARCHS (the metadata half, without
    torch: covidcam_meta.py)

CLI:
    covidcam_torch.py export-torchvision --arch resnet18 --classes A,B,C \
        --input-size 224 --input-channels 3 --mean 123.7,116.3,103.5 \
        --std 58.4,57.1,57.4 [--weights file.pth] [--dtype F32] out.safetensors
    covidcam_torch.py info [--tensors] model.safetensors
"""

import argparse
import functools
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

# Metadata rules, named archs and limits live in the torch-free covidcam_meta.
from covidcam_meta import (FORMAT, FORMAT_VERSION, LIMITS, NAMED_ARCHS,  # noqa: F401
                           STANDARD_STEM, STANDARD_WIDTHS, _json, arch_from_meta,
                           check_class_names, covidcam_meta, resolve_arch)

_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}

# safetensors dtype name -> (torch dtype, numpy dtype used for the raw bytes).
# numpy has no bfloat16, so BF16 bytes travel as int16 and are reinterpreted.
_DTYPES = {
    "F32": (torch.float32, np.dtype("<f4")),
    "F16": (torch.float16, np.dtype("<f2")),
    "BF16": (torch.bfloat16, np.dtype("<i2")),
    "F64": (torch.float64, np.dtype("<f8")),
    "I64": (torch.int64, np.dtype("<i8")),
    "I32": (torch.int32, np.dtype("<i4")),
    "U8": (torch.uint8, np.dtype("u1")),
}
_TORCH_TO_ST = {v[0]: k for k, v in _DTYPES.items()}


# --------------------------------------------------------------------- model


class CovidcamResNet(nn.Module):
    """torchvision.models.ResNet with free stage count (1..4), stage widths and
    stem width. Module names, and so state_dict keys, match torchvision's."""

    def __init__(self, block, layers, widths, stem_width, in_channels, num_classes,
                 bn_eps=1e-5):
        super().__init__()
        if not 1 <= len(layers) <= 4 or len(layers) != len(widths):
            raise ValueError("layers and widths need the same length, 1 to 4 stages")
        norm = functools.partial(nn.BatchNorm2d, eps=bn_eps)
        self._norm_layer = norm
        self.inplanes = stem_width
        self.conv1 = nn.Conv2d(in_channels, stem_width, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = norm(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.num_stages = len(layers)
        for s, (n, w) in enumerate(zip(layers, widths)):
            setattr(self, "layer%d" % (s + 1),
                    self._make_layer(block, w, n, stride=1 if s == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1,
                          stride=stride, bias=False),
                self._norm_layer(planes * block.expansion),
            )
        mods = [block(self.inplanes, planes, stride, downsample, norm_layer=self._norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            mods.append(block(self.inplanes, planes, norm_layer=self._norm_layer))
        return nn.Sequential(*mods)

    def stages(self):
        return [getattr(self, "layer%d" % (s + 1)) for s in range(self.num_stages)]

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages():
            x = stage(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_resnet(arch="resnet", block="basic", layers=None, widths=None, stem_width=64,
                 in_channels=3, num_classes=1000, bn_eps=1e-5):
    """A ResNet with torchvision's state_dict names. Named archs (resnet18..152)
    ignore block/layers/widths/stem_width unless they contradict the standard."""
    if arch in NAMED_ARCHS:
        block, layers, widths, stem_width = resolve_arch(arch)
    else:
        block, layers, widths, stem_width = resolve_arch(arch, block, layers, widths, stem_width)
    if in_channels not in (1, 3):
        raise ValueError("in_channels must be 1 or 3")
    return CovidcamResNet(_BLOCKS[block], layers, widths, stem_width, in_channels,
                          num_classes, bn_eps=float(bn_eps))


# --------------------------------------------------------------- safetensors


def save_safetensors(path, tensors, meta=None):
    """Write name->tensor (any dtype in _DTYPES) plus string metadata as a
    safetensors file: u64 LE header length, space-padded JSON header, data."""
    header, chunks, offset = {}, [], 0
    if meta:
        for k, v in meta.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata keys and values must be strings (%r)" % (k,))
        header["__metadata__"] = dict(meta)
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _TORCH_TO_ST:
            raise TypeError("unsupported dtype %s for %s" % (t.dtype, name))
        st = _TORCH_TO_ST[t.dtype]
        raw = t.view(torch.int16) if st == "BF16" else t
        data = raw.numpy().astype(_DTYPES[st][1], copy=False).tobytes()
        header[name] = {"dtype": st, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    hjson = _json(header).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


def _state_dict_of(model_or_state_dict):
    sd = model_or_state_dict
    if isinstance(sd, nn.Module):
        sd = sd.state_dict()
    return {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}


def save_covidcam(path, model_or_state_dict, meta, dtype="F32"):
    """Save a model (or its state_dict) with covidcam metadata. dtype: F32,
    BF16 or F16 (round-to-nearest-even from the fp32/fp64 values)."""
    if dtype not in ("F32", "BF16", "F16"):
        raise ValueError("dtype must be F32, BF16 or F16")
    sd = _state_dict_of(model_or_state_dict)
    tdt = _DTYPES[dtype][0]
    # Going through fp32 first keeps BF16/F16 results identical whether the
    # caller passes an fp32 or an fp64 model.
    out = {k: v.detach().float().to(tdt) for k, v in sd.items()}
    rows = out["fc.weight"].shape[0]
    if len(json.loads(meta["classes"])) != rows:
        raise ValueError("metadata has %d classes, fc.weight has %d rows"
                         % (len(json.loads(meta["classes"])), rows))
    save_safetensors(path, out, meta)


def load_safetensors(path):
    """(dict name -> torch.Tensor, metadata dict) from a safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        tdt, ndt = _DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        arr = np.frombuffer(buf, dtype=ndt, count=(e - b) // ndt.itemsize, offset=base + b)
        t = torch.from_numpy(arr.copy()).reshape(info["shape"])
        tensors[name] = t.view(torch.bfloat16) if info["dtype"] == "BF16" else t
    return tensors, meta


def model_from_meta(meta):
    """An untrained model with the architecture and shapes described by meta."""
    block, layers, widths, stem = arch_from_meta(meta)
    return build_resnet("resnet", block, layers, widths, stem,
                        in_channels=int(meta["input_channels"]),
                        num_classes=len(json.loads(meta["classes"])),
                        bn_eps=float(meta.get("bn_eps", "1e-5")))


def load_covidcam(path):
    """(fp32 model in eval mode, metadata) from a covidcam file."""
    tensors, meta = load_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError("%s: not a covidcam model (format=%r)" % (path, meta.get("format")))
    model = model_from_meta(meta)
    res = model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or res.unexpected_keys:
        raise ValueError("%s: missing %s, unexpected %s" % (path, missing, res.unexpected_keys))
    return model.eval(), meta


# ----------------------------------------------------------------------- CLI


def _floats(s):
    return [float(v) for v in s.split(",")]


def _torchvision_state_dict(weights):
    obj = torch.load(weights, map_location="cpu")
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    # Checkpoints saved from DataParallel prefix every key with "module.".
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def cmd_export_torchvision(a):
    classes = a.classes.split(",")
    model = build_resnet(a.arch, in_channels=a.input_channels, num_classes=len(classes))
    if a.weights:
        sd = _torchvision_state_dict(a.weights)
        w = sd["conv1.weight"]
        if a.input_channels == 1 and w.shape[1] == 3:
            # Gray replicated to 3 channels through a 3-channel conv equals
            # the channel-summed kernel on one channel.
            sd["conv1.weight"] = w.sum(dim=1, keepdim=True)
        if sd["fc.weight"].shape[0] != len(classes):
            sys.exit("fc.weight has %d rows but %d classes were given"
                     % (sd["fc.weight"].shape[0], len(classes)))
        model.load_state_dict(sd, strict=False)
    meta = covidcam_meta(a.arch, input_size=a.input_size, input_channels=a.input_channels,
                         mean=_floats(a.mean), std=_floats(a.std), classes=classes,
                         description=a.description)
    save_covidcam(a.out, model, meta, dtype=a.dtype)


def cmd_info(a):
    tensors, meta = load_safetensors(a.model)
    for k in sorted(meta):
        print("%-16s %s" % (k, meta[k]))
    total = sum(t.numel() for t in tensors.values())
    print("%d tensors, %d values" % (len(tensors), total))
    if a.tensors:
        for name, t in tensors.items():
            print("%-52s %-5s %s" % (name, _TORCH_TO_ST[t.dtype], list(t.shape)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export-torchvision", help="torchvision ResNet weights -> covidcam file")
    e.add_argument("--arch", required=True, choices=sorted(NAMED_ARCHS))
    e.add_argument("--classes", required=True, help="comma-separated class names, logit order")
    e.add_argument("--input-size", type=int, default=224)
    e.add_argument("--input-channels", type=int, default=3, choices=(1, 3))
    e.add_argument("--mean", required=True, help="comma-separated, 0-255 units, one per channel")
    e.add_argument("--std", required=True, help="comma-separated, 0-255 units, one per channel")
    e.add_argument("--weights", help=".pth state_dict (random init if omitted)")
    e.add_argument("--dtype", default="F32", choices=("F32", "BF16", "F16"))
    e.add_argument("--description")
    e.add_argument("out")
    e.set_defaults(func=cmd_export_torchvision)
    i = sub.add_parser("info", help="print metadata (and tensors) of a safetensors file")
    i.add_argument("--tensors", action="store_true", help="also list every tensor")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)
    a = p.parse_args(argv)
    a.func(a)


if __name__ == "__main__":
    main()
