#!/usr/bin/env python3
"""Side-by-side table of covidcam-bench --json and torch_reference.py --json results.

    report.py OURS.jsonl TORCH.jsonl

Rows are matched on (arch, input_size, threads); PyTorch results per mode
(channels_last, mkldnn). Standard library only.
"""

import json
import sys

LATENCY_TARGET = 0.6  # covidcam / PyTorch median, from the performance issue
RSS_TARGET_MB = 300.0
MODES = ("channels_last", "mkldnn")


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
    head = (f"{'model':<9}{'size':>5}{'thr':>4} | {'covidcam':>9}{'p10':>7}{'p90':>7}"
            f" | {'torch CL':>9}{'mkldnn':>8} | {'ratio CL':>8}{'mkldnn':>8}"
            f" | {'CPU covidcam':>12}{'CL':>8}{'mkldnn':>8}"
            f" | {'RSS covidcam':>12}{'CL':>6}{'mkldnn':>7} | Grad-CAM ms (x classify)")
    print("latency: median wall ms over the runs after warm-up (covidcam also p10/p90); "
          "CPU: median process CPU ms per call\n(= latency for 1 thread on an idle "
          "machine, insensitive to other load); RSS: peak MB per process")
    print(head)
    print("-" * len(head))
    for o in sorted(ours, key=lambda r: (r["arch"], r["input_size"], r["threads"])):
        key = (o["arch"], o["input_size"], o["threads"])
        oc = o["classify"]
        t = {m: torch.get(key + (m,)) for m in MODES}
        tmed = {m: t[m]["classify"]["median"] if t[m] else None for m in MODES}
        ratio = {m: oc["median"] / tmed[m] if tmed[m] else None for m in MODES}
        rss = {m: t[m]["rss_mb"] if t[m] else None for m in MODES}
        cpu = {m: t[m]["classify"].get("cpu_median") if t[m] else None for m in MODES}
        cams = "  ".join(f"{name} {g['median']:.1f} ({g['ratio']:.2f}x)"
                         for name, g in o.get("gradcam", {}).items())
        print(f"{key[0]:<9}{key[1]:>5}{key[2]:>4} | {oc['median']:>9.1f}{oc['p10']:>7.1f}"
              f"{oc['p90']:>7.1f} | {fmt(tmed['channels_last']):>9}{fmt(tmed['mkldnn']):>8}"
              f" | {fmt(ratio['channels_last'], '.2f'):>8}{fmt(ratio['mkldnn'], '.2f'):>8}"
              f" | {oc.get('cpu_median', 0):>12.1f}{fmt(cpu['channels_last']):>8}"
              f"{fmt(cpu['mkldnn']):>8}"
              f" | {o['rss_mb']:>12.0f}{fmt(rss['channels_last'], '.0f'):>6}"
              f"{fmt(rss['mkldnn'], '.0f'):>7} | {cams}")
    print(f"\ntargets: ratio <= {LATENCY_TARGET} (covidcam / PyTorch median), covidcam peak "
          f"RSS <= {RSS_TARGET_MB:.0f} MB. PyTorch RSS includes importing torch "
          "(see rss_import_mb in the JSON).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
