#!/usr/bin/env python3
"""Expected data-parallel scaling of covidcam-train on a cluster, on paper,
from one node's measured iteration time (bench/train_mpi.sh measures it).

usage: mpi_scaling.py --arch NAME --iteration S --node-batch B --gradient-mb MB --bn-layers L
                      [--global-batch G] [--latency US] [--speedup F]

Model (stated so it can be argued with):
- Gradients: one ring allreduce of the fp32 gradient (MB megabytes) per
  iteration: 2 (N-1)/N * MB / bandwidth + 2 (N-1) * latency.
- Batch norm: 2 small allreduces per BN layer (statistics forward, gradient
  sums backward) and 3 per iteration (stop/count, metrics), latency-bound:
  2 log2(N) * latency each (recursive doubling).
- Compute: the measured iteration time for B images per node, scaled
  linearly with the images per node (optimistic for small shares).
- Weak scaling keeps B images per node (global batch B * N); strong scaling
  keeps --global-batch G images in all (G / N per node).
- "serial" adds communication to compute; "overlap" hides the gradient
  allreduce behind the backward pass (what bucketing would approach), leaving
  the latency-bound batch-norm exchanges on the critical path.
--speedup F divides the compute time: a node F times faster than the one
measured (a 32-core node is about 16x a 2-core one).
"""
import argparse
import math


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--iteration", type=float, required=True, help="s per iteration, one node")
    p.add_argument("--node-batch", type=int, required=True)
    p.add_argument("--gradient-mb", type=float, required=True)
    p.add_argument("--bn-layers", type=int, required=True)
    p.add_argument("--global-batch", type=int, default=256)
    p.add_argument("--latency", type=float, default=30.0, help="microseconds per message")
    p.add_argument("--speedup", type=float, default=1.0)
    a = p.parse_args()
    lat = a.latency * 1e-6
    t1 = a.iteration / a.speedup
    print(f"{a.arch}: {a.gradient_mb:.1f} MB of fp32 gradients, {a.bn_layers} BN layers; "
          f"one node {t1:.3f} s per {a.node_batch}-image iteration"
          + (f" (measured / {a.speedup:g})" if a.speedup != 1 else "")
          + f"; latency {a.latency:g} us")
    print(f"{'nodes':>5} {'link':>8} | {'allreduce':>9} {'BN sync':>8} | "
          f"{'weak: serial':>12} {'overlap':>8} | {'strong G=' + str(a.global_batch) + ': serial':>20}"
          f" {'overlap':>8}")
    for n in (4, 16, 64):
        for gbit in (10, 100):
            bw = gbit * 1e9 / 8
            t_ar = 2 * (n - 1) / n * a.gradient_mb * 1e6 / bw + 2 * (n - 1) * lat
            t_bn = (2 * a.bn_layers + 3) * 2 * math.log2(n) * lat
            weak = t1
            strong = t1 * (a.global_batch / n) / a.node_batch

            def eff(tc):
                serial = tc / (tc + t_ar + t_bn)
                overlap = tc / (max(tc, t_ar) + t_bn)
                return serial, overlap

            ws, wo = eff(weak)
            ss, so = eff(strong)
            print(f"{n:>5} {gbit:>4} Gb/s | {1e3 * t_ar:>7.1f}ms {1e3 * t_bn:>6.1f}ms | "
                  f"{100 * ws:>11.0f}% {100 * wo:>7.0f}% | {100 * ss:>19.0f}% {100 * so:>7.0f}%")
    print("efficiency = compute time / iteration time (100% = linear speed-up)")


if __name__ == "__main__":
    main()
