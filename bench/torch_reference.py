#!/usr/bin/python3
"""PyTorch reference latency for covidcam models (the comparison for covidcam-bench).

Loads each covidcam safetensors model into PyTorch (tools/covidcam_torch.py) and
times single-image fp32 inference in eval mode under torch.no_grad(), in one or
both of two modes:

  channels_last  weights and input in torch.channels_last, the usual fast eager
                 setting. With Debian's PyTorch 1.13 (reference BLAS, no MKL),
                 convolutions oneDNN does not take (1x1 stride-1 ones at batch 1
                 with one thread) fall back to a slow BLAS path.
  mkldnn         torch.utils.mkldnn.to_mkldnn(model) on an mkldnn input tensor:
                 every convolution runs in oneDNN with pre-reordered weights,
                 PyTorch's fastest CPU fp32 path here.
  bf16_autocast  channels_last under torch.cpu.amp.autocast(dtype=torch.bfloat16).
  bf16_mkldnn    to_mkldnn(model, torch.bfloat16) on a bf16 mkldnn input, logits
                 back to dense fp32: PyTorch's fastest bf16 CPU path (on CPUs
                 with AVX512-BF16 or AMX; elsewhere oneDNN emulates bf16).
PyTorch 1.13 has no int8 engine for CPU inference of these models here.

Each (model, mode) runs in its own subprocess so that its peak RSS
(resource.getrusage ru_maxrss, which includes importing torch) is its own.

    /usr/bin/python3 bench/torch_reference.py [--threads N] [--runs N] [--warmup N]
                                              [--mode MODE|both|bf16|all] [--batch N]
                                              [--json] MODEL...
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("channels_last", "mkldnn", "bf16_autocast", "bf16_mkldnn")
GROUPS = {"both": list(MODES[:2]), "bf16": list(MODES[2:]), "all": list(MODES)}


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def percentile(sorted_ms, q):
    """Linear interpolation between order statistics (numpy's default), as in bench/stats.c."""
    pos = q * (len(sorted_ms) - 1)
    lo = int(pos)
    if lo + 1 >= len(sorted_ms):
        return sorted_ms[-1]
    return sorted_ms[lo] + (pos - lo) * (sorted_ms[lo + 1] - sorted_ms[lo])


def prepare(model, x, mode):
    """The model call to time, on input x, in the given mode."""
    import torch

    if mode in ("channels_last", "bf16_autocast"):
        model = model.to(memory_format=torch.channels_last)
        xc = x.to(memory_format=torch.channels_last)
        if mode == "channels_last":
            return lambda: model(xc)

        def autocast_call():
            with torch.cpu.amp.autocast(dtype=torch.bfloat16):
                return model(xc).float()

        return autocast_call
    from torch.utils import mkldnn

    # The input conversion and the dense fp32 logits are part of a real call.
    if mode == "bf16_mkldnn":
        model = mkldnn.to_mkldnn(model, torch.bfloat16)
        return lambda: model(x.to_mkldnn(torch.bfloat16)).to_dense(torch.float32)
    model = mkldnn.to_mkldnn(model)
    return lambda: model(x.to_mkldnn()).to_dense()


def measure(path, mode, threads, runs, warmup, batch=1):
    import torch

    sys.path.insert(0, os.path.join(HERE, "..", "tools"))
    from covidcam_torch import load_covidcam

    torch.set_num_threads(threads)
    rss_import = rss_mb()
    model, meta = load_covidcam(path)
    size, channels = int(meta["input_size"]), int(meta["input_channels"])
    x = torch.randn(batch, channels, size, size)
    samples, cpu = [], []
    with torch.no_grad():
        call = prepare(model.float().eval(), x, mode)
        for i in range(warmup + runs):
            c0, t0 = time.process_time(), time.perf_counter()
            call()
            dt, dc = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
            if i >= warmup:
                samples.append(dt)
                cpu.append(dc)
    samples.sort()
    cpu.sort()
    return {
        "model": path,
        "mode": mode,
        "arch": meta["arch"],
        "input_size": size,
        "input_channels": channels,
        "threads": threads,
        "batch": batch,  # latencies below are per call of `batch` images
        "runs": runs,
        "warmup": warmup,
        "torch": torch.__version__,
        "classify": {
            "median": round(percentile(samples, 0.5), 3),
            "p10": round(percentile(samples, 0.1), 3),
            "p90": round(percentile(samples, 0.9), 3),
            "min": round(samples[0], 3),
            "cpu_median": round(percentile(cpu, 0.5), 3),  # process CPU time, as covidcam-bench
        },
        "rss_import_mb": round(rss_import, 3),
        "rss_mb": round(rss_mb(), 3),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=1, help="images per call (the table shows ms "
                   "per image)")
    p.add_argument("--mode", default="both", choices=MODES + tuple(GROUPS),
                   help="one mode, or both (the fp32 ones), bf16 (the bf16 ones), all")
    p.add_argument("--json", action="store_true", help="one JSON object per model/mode and line")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("models", nargs="+")
    a = p.parse_args()
    if a.threads < 1 or a.runs < 1 or a.warmup < 0 or a.batch < 1:
        p.error("--threads, --runs and --batch must be >= 1, --warmup >= 0")
    modes = GROUPS.get(a.mode, [a.mode])
    if a.child:
        print(json.dumps(measure(a.models[0], modes[0], a.threads, a.runs, a.warmup, a.batch)))
        return 0
    status = 0
    for path in a.models:
        for mode in modes:
            status |= run_child(a, path, mode)
    return status


def run_child(a, path, mode):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--mode", mode, "--threads",
           str(a.threads), "--runs", str(a.runs), "--warmup", str(a.warmup), "--batch",
           str(a.batch), path]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print(f"torch_reference: {path} ({mode}): failed ({r.returncode})", file=sys.stderr)
        return 1
    res = json.loads(r.stdout)
    if a.json:
        print(json.dumps(res), flush=True)
        return 0
    c, b = res["classify"], res["batch"]
    per = f" per call of {b} images: {c['median'] / b:.3f} ms per image" if b > 1 else ""
    print(f"{res['arch']} {res['input_size']} {mode} threads {res['threads']}: median "
          f"{c['median']:.3f} ms  p10 {c['p10']:.3f}  p90 {c['p90']:.3f}{per}  peak RSS "
          f"{res['rss_mb']:.1f} MB (after import {res['rss_import_mb']:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
