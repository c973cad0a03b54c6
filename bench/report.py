#!/usr/bin/env python3
"""Side-by-side table of covidcam-bench --json and torch_reference.py --json results.

    report.py OURS.jsonl TORCH.jsonl [TORCH_BATCH.jsonl]

One row per covidcam (arch, input_size, threads, precision); the PyTorch
columns are that (arch, input_size, threads) in each mode torch_reference.py
ran. The ratio compares covidcam with PyTorch's fastest path of the same
precision (fp32: the faster of channels_last and mkldnn; bf16: the faster of
bf16_autocast and bf16_mkldnn). With covidcam rows that carry a batch
(covidcam-bench --batch) and PyTorch results at that batch, a second table
compares throughput: ms per image, and PyTorch's fastest mode of any
precision over covidcam's. Standard library only.
"""

import json
import sys

LATENCY_TARGET = 0.6  # covidcam / PyTorch median, from the performance issues
RSS_TARGET_MB = 300.0
MODES = ("channels_last", "mkldnn", "bf16_autocast", "bf16_mkldnn")
SHORT = {"channels_last": "CL", "mkldnn": "mkldnn", "bf16_autocast": "bf16 AC",
         "bf16_mkldnn": "bf16 mkl"}
# PyTorch 1.13 has no int8 CPU engine (its int8 needs FBGEMM/QNNPACK model
# conversion, not the oneDNN path compared here): int8 is held to bf16 to_mkldnn.
PEERS = {"fp32": ("channels_last", "mkldnn"), "bf16": ("bf16_autocast", "bf16_mkldnn"),
         "int8": ("bf16_mkldnn",)}


def read(path):
    rows = []
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        pass
    return rows


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main():
    ours = read(sys.argv[1])
    torch = {(r["arch"], r["input_size"], r["threads"], r.get("mode", "channels_last")): r
             for r in read(sys.argv[2])}
    tcols = "".join(f"{SHORT[m]:>9}" for m in MODES)
    head = (f"{'model':<9}{'size':>5}{'thr':>4} {'prec':>5} | {'covidcam':>9}{'p10':>7}{'p90':>7}"
            f" | torch{tcols} | {'ratio':>6} | {'RSS covidcam':>12}{'torch':>7}"
            f" | {'load ms':>7} | Grad-CAM ms (x classify)")
    print("latency: median wall ms over the runs after warm-up (covidcam also p10/p90); "
          "torch modes: CL = channels_last fp32,\nmkldnn = to_mkldnn fp32, bf16 AC = "
          "bf16 autocast, bf16 mkl = to_mkldnn(model, bfloat16); ratio: covidcam / PyTorch's "
          "fastest\nmode of the same precision (int8: / bf16 mkl, PyTorch has no int8 CPU engine); RSS: peak MB per process (PyTorch's includes "
          "importing torch). PyTorch 1.13 has no int8 CPU engine for these models.")
    print(head)
    print("-" * len(head))
    order = {"fp32": 0, "bf16": 1, "int8": 2}
    for o in sorted(ours, key=lambda r: (r["arch"], r["input_size"], r["threads"],
                                         order.get(r.get("precision", "fp32"), 9))):
        prec = o.get("precision", "fp32")
        key = (o["arch"], o["input_size"], o["threads"])
        oc = o["classify"]
        t = {m: torch.get(key + (m,)) for m in MODES}
        tmed = {m: t[m]["classify"]["median"] if t[m] else None for m in MODES}
        peers = [tmed[m] for m in PEERS.get(prec, ()) if tmed[m]]
        ratio = oc["median"] / min(peers) if peers else None
        trss = max((t[m]["rss_mb"] for m in PEERS.get(prec, ()) if t[m]), default=None)
        cams = "  ".join(f"{name} {g['median']:.1f} ({g['ratio']:.2f}x)"
                         for name, g in o.get("gradcam", {}).items())
        tvals = "".join(f"{fmt(tmed[m]):>9}" for m in MODES)
        print(f"{key[0]:<9}{key[1]:>5}{key[2]:>4} {prec:>5} | {oc['median']:>9.1f}"
              f"{oc['p10']:>7.1f}{oc['p90']:>7.1f} |      {tvals} | {fmt(ratio, '.2f'):>6}"
              f" | {o['rss_mb']:>12.0f}{fmt(trss, '.0f'):>7} | {o.get('load_ms', 0):>7.0f}"
              f" | {cams}")
    print(f"\ntargets: ratio <= {LATENCY_TARGET}, covidcam peak RSS <= {RSS_TARGET_MB:.0f} MB.")
    if len(sys.argv) > 3:
        batch_table(ours, read(sys.argv[3]))
    return 0


def batch_table(ours, torch_rows):
    """Throughput at a batch: ms per image of covidcam's batch call and of each
    PyTorch mode at the same batch; speedup = PyTorch's fastest / covidcam."""
    torch = {(r["arch"], r["input_size"], r["threads"], r.get("batch", 1),
              r.get("mode")): r for r in torch_rows}
    rows = [o for o in ours if o.get("batch", 1) > 1]
    if not rows:
        return
    tcols = "".join(f"{SHORT[m]:>9}" for m in MODES)
    head = (f"{'model':<9}{'size':>5}{'thr':>4}{'batch':>6} {'prec':>5} | {'covidcam':>9}"
            f" | torch{tcols} | {'speedup':>7}")
    print("\nthroughput: median ms per image of one call of `batch` images; speedup: PyTorch's "
          "fastest mode (any precision) / covidcam")
    print(head)
    print("-" * len(head))
    for o in sorted(rows, key=lambda r: (r["arch"], r["input_size"], r["threads"],
                                         r.get("precision", "fp32"))):
        b = o["batch"]
        key = (o["arch"], o["input_size"], o["threads"], b)
        per = {m: torch[key + (m,)]["classify"]["median"] / b if key + (m,) in torch else None
               for m in MODES}
        best = min((v for v in per.values() if v), default=None)
        ours_ms = o["classify_batch_per_image_ms"]
        tvals = "".join(f"{fmt(per[m], '.2f'):>9}" for m in MODES)
        print(f"{key[0]:<9}{key[1]:>5}{key[2]:>4}{b:>6} {o.get('precision', 'fp32'):>5} | "
              f"{ours_ms:>9.2f} |      {tvals} | {fmt(best / ours_ms if best else None, '.2f'):>7}")


if __name__ == "__main__":
    sys.exit(main())
