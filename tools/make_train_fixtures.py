#!/usr/bin/python3
"""Regenerate the PyTorch reference fixtures of the trainer tests
(tests/fixtures/train/, read by tests/train/test_parity.c).

Each fixture is a tiny torchvision-style ResNet (tools/covidcam_torch.py)
trained for two SGD steps on one fixed batch, in float64 so the reference is
exact to well below the fp32 tolerance of the C trainer:

    init.<name>   every state_dict tensor before training (running stats too)
    grad1.<name>  the gradient of every trainable tensor at step 1
    step2.<name>  every tensor after the two steps (BN running stats included)
    input         the batch, N x C x H x W (already normalized)
    labels        N class indices (as F32)
    loss          the loss before each step (2 values)

Metadata (strings): arch block/layers/widths/stem_width, classes, lr (the two
learning rates, JSON), momentum, weight_decay, label_smoothing, bn_eps.

The optimiser is torch.optim.SGD(momentum, weight_decay) with weight decay on
convolution and fc weights only (BN weights/biases and the fc bias in a group
without decay), as covidcam-train does by default. BN in training mode
updates its running statistics with momentum 0.1 (unbiased variance).

    /usr/bin/python3 tools/make_train_fixtures.py [--out tests/fixtures/train]

Deterministic: rerunning it gives byte-identical files.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import covidcam_torch as ct  # noqa: E402

CASES = [
    # name, block, layers, widths, stem, in_ch, size, batch, classes, lrs, wd, smoothing, seed
    ("parity_basic", "basic", [1, 1], [4, 8], 4, 3, 16, 4, 3, [0.1, 0.05], 1e-3, 0.0, 1),
    ("parity_bottleneck", "bottleneck", [1, 1], [2, 4], 8, 1, 20, 5, 4, [0.05, 0.1], 5e-3, 0.1, 2),
]
MOMENTUM = 0.9


def decays(name):
    """Weight decay only on convolution and fc weights."""
    return name.endswith("weight") and (name.startswith("fc.") or "conv" in name
                                         or "downsample.0" in name)


def run_case(out_dir, name, block, layers, widths, stem, in_ch, size, batch, classes, lrs, wd,
             smoothing, seed):
    torch.manual_seed(seed)
    model = ct.build_resnet("resnet", block, layers, widths, stem, in_channels=in_ch,
                            num_classes=classes).double().train()
    x = torch.randn(batch, in_ch, size, size, dtype=torch.float64)
    y = torch.arange(batch) % classes
    init = {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}
    named = dict(model.named_parameters())
    groups = [{"params": [p for n, p in named.items() if decays(n)], "weight_decay": wd},
              {"params": [p for n, p in named.items() if not decays(n)], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=lrs[0], momentum=MOMENTUM)
    crit = nn.CrossEntropyLoss(label_smoothing=smoothing)
    losses, grad1 = [], {}
    for step, lr in enumerate(lrs):
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            grad1 = {n: p.grad.detach().clone() for n, p in named.items()}
        opt.step()
    final = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    tensors = {}
    for k, v in init.items():
        tensors["init." + k] = v.float()
    for k, v in grad1.items():
        tensors["grad1." + k] = v.float()
    for k, v in final.items():
        tensors["step2." + k] = v.float()
    tensors["input"] = x.float()
    tensors["labels"] = y.float()
    tensors["loss"] = torch.tensor(losses, dtype=torch.float32)
    meta = {"arch": "resnet", "block": block, "layers": json.dumps(layers),
            "widths": json.dumps(widths), "stem_width": str(stem),
            "input_channels": str(in_ch), "input_size": str(size), "classes": str(classes),
            "lr": json.dumps(lrs), "momentum": repr(MOMENTUM), "weight_decay": repr(wd),
            "label_smoothing": repr(smoothing), "bn_eps": "1e-05"}
    path = os.path.join(out_dir, name + ".safetensors")
    ct.save_safetensors(path, tensors, meta)
    return path, losses


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "train"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for case in CASES:
        path, losses = run_case(a.out, *case)
        print("%s: losses %s" % (path, ["%.6f" % v for v in losses]))


if __name__ == "__main__":
    main()
