#!/usr/bin/env python3
"""PyTorch's CPU data-parallel training, the peer of covidcam-train under
mpirun (bench/train_mpi.sh).

usage: torch_ddp.py --arch resnet18 --batch 32 --iterations 5 --procs N --threads T

Trains torchvision's ResNet (3 classes, 224 px, SGD with momentum, random
images) for --iterations timed iterations after one untimed one. With
--procs 1 it is a plain process; with N > 1 it starts N processes that train
with DistributedDataParallel over gloo (PyTorch's CPU backend; this PyTorch
has no MPI backend), each on batch / N images. Its batch norm is each
process's own: torch.nn.SyncBatchNorm works with GPU modules only, so PyTorch
on CPUs cannot compute what one process computes on the whole batch (it
exchanges less than covidcam-train, which synchronises batch norm). Prints
one line:
  torch <arch> procs N threads T: S s/iteration, I images/s
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torchvision


def train(rank, a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(rank)
    model = getattr(torchvision.models, a.arch)(num_classes=3)
    share = a.batch // a.procs
    if a.procs > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        dist.init_process_group("gloo", rank=rank, world_size=a.procs)
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(share, 3, 224, 224)
    y = torch.arange(share) % 3
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    if a.procs > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(a.iterations):
        step()
    dt = time.perf_counter() - t0
    if rank == 0:
        print(f"torch {a.arch} procs {a.procs} threads {a.threads}: "
              f"{dt / a.iterations:.3f} s/iteration, {a.iterations * a.batch / dt:.2f} images/s",
              flush=True)
    if a.procs > 1:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    if a.batch % a.procs:
        sys.exit("--batch must be a multiple of --procs")
    if a.procs == 1:
        train(0, a)
    else:
        mp.spawn(train, args=(a,), nprocs=a.procs)


if __name__ == "__main__":
    main()
