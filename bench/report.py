#!/usr/bin/env python3
"""Side-by-side table of covidcam-bench --json and torch_reference.py --json results.

    report.py OURS.jsonl TORCH.jsonl

Rows are matched on (arch, input_size, threads). Standard library only.
"""

import json
import sys

LATENCY_TARGET = 0.6  # covidcam / PyTorch, from the performance issue
RSS_TARGET_MB = 300.0


def read(path):
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows[(r["arch"], r["input_size"], r["threads"])] = r
    except FileNotFoundError:
        pass
    return rows


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main():
    ours, torch = read(sys.argv[1]), read(sys.argv[2])
    head = (f"{'model':<10}{'size':>5}{'thr':>4} | {'covidcam ms':>12}{'p10':>8}{'p90':>8}"
            f" | {'torch ms':>9}{'p10':>8}{'p90':>8} | {'ratio':>6} | {'RSS MB':>7}{'torch':>7}"
            f" | Grad-CAM ms (x classify)")
    print(head)
    print("-" * len(head))
    for key in sorted(ours, key=lambda k: (k[0], k[1], k[2])):
        o, t = ours[key], torch.get(key)
        oc, tc = o["classify"], t["classify"] if t else None
        ratio = oc["median"] / tc["median"] if tc else None
        cams = "  ".join(f"{name} {g['median']:.1f} ({g['ratio']:.2f}x)"
                         for name, g in o.get("gradcam", {}).items())
        print(f"{key[0]:<10}{key[1]:>5}{key[2]:>4} | {oc['median']:>12.1f}{oc['p10']:>8.1f}"
              f"{oc['p90']:>8.1f} | {fmt(tc and tc['median']):>9}{fmt(tc and tc['p10']):>8}"
              f"{fmt(tc and tc['p90']):>8} | {fmt(ratio, '.2f'):>6} | {o['rss_mb']:>7.0f}"
              f"{fmt(t and t['rss_mb'], '.0f'):>7} | {cams}")
    print(f"\ntargets: ratio <= {LATENCY_TARGET} (covidcam / PyTorch median), "
          f"covidcam peak RSS <= {RSS_TARGET_MB:.0f} MB. "
          "PyTorch RSS includes importing torch.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
