#!/usr/bin/env python3
"""covidcam-train under mpirun: N processes train exactly like one process
with the whole batch.

usage: test_mpi.py COVIDCAM_TRAIN MPIRUN SHARED_DATA_DIR

Each case runs the real trainer, once as a plain process and once under
`mpirun -np N`, on a tiny network, and compares what they wrote:
- same_steps: 3 iterations of global batch 16 on 2 and on 4 processes give the
  per-iteration losses (metrics.csv) and the weights and running statistics
  (last.safetensors) of one process with batch 16. On real X-rays from
  SHARED_DATA_DIR (16 per class) when present, else on synthetic images.
- resume: a run stopped after 13 iterations (--stop-after, mid-epoch) on 2
  processes and resumed on 1 ends where an uninterrupted run ends; so does
  one stopped on 1 and resumed on 4 (a count that does not divide the
  default batch: the checkpoint's batch is the one that counts).
- weighted: --class-weights balanced and --ema on unbalanced classes train
  the same on 2 processes as on one (the loss is normalised by the whole
  batch's weight sum; the average follows identical weights).
- averaged: --average-from (its batch-norm re-estimation pass included)
  gives the same averaged model on 2 processes as on one.
- mixup: --mixup on 2 processes (shares of 8: the same pairs and the same
  lambdas as one process) trains as one process does.
- sigterm: SIGTERM to one rank stops every rank with a checkpoint (exit 130).
- failure: a rank that fails (rank 0 cannot write its output folder) ends the
  job with its message, non-zero, within seconds; a batch the processes
  cannot share equally is refused with the reason.

Tolerance. The runs differ only in the order of fp32 sums: the gradient of a
weight is summed over the batch in two halves and then added, batch-norm
statistics are combined from shares (in double), and oneDNN's own reductions
change with the thread count. Each such sum of n terms differs from another
order by about sqrt(n) * 2^-24 of the sum of magnitudes (random-walk rounding
error; n ~ 16 * 32 * 32 here, so ~2e-6 relative), and after a handful of SGD
steps at lr 0.01 the weights move by lr * gradient, so their relative
differences stay at that level. The test allows 2e-5 relative (to the
largest magnitude of each tensor) and 2e-5 on the losses: ten times the
estimate, and far below what a wrong algorithm gives (a share normalised with
its own batch-norm statistics, or gradients averaged over the wrong count,
change the first loss step by percent). Long runs are not compared: rounding
differences grow over hundreds of steps (chaotically, as between two thread
counts of one process), so the resume cases stay within 27 iterations.

Needs numpy and PIL (Debian python3-numpy, python3-pil); exits 77 (skipped)
without them or without mpirun.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    from PIL import Image
except ImportError as exc:
    print(f"skipped: {exc}")
    sys.exit(77)

# fp32 pinned in NET: TOL is an fp32 summation-order bound, and auto is bf16
# on CPUs with native bf16.
TOL = 2e-5
TRAINER, MPIRUN, SHARED = sys.argv[1], sys.argv[2], sys.argv[3]
NET = ["--arch", "resnet", "--block", "basic", "--layers", "1,1", "--widths", "8,16",
       "--stem-width", "8", "--input-size", "32", "--batch-size", "16", "--seed", "3",
       "--workers", "1", "--no-ood", "--log-interval", "1000", "--precision", "fp32"]
# Root in containers; oversubscribe: more ranks than the machine's cores;
# bind-to none: a rank's threads are not pinned to one core.
MPI = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def command(ranks, args):
    """The trainer as one plain process (ranks 0) or under mpirun -np ranks."""
    if ranks == 0:
        return [TRAINER] + args + ["--threads", "2"]
    return MPI + ["-np", str(ranks), TRAINER] + args + ["--threads", "1"]


# In a sanitizer build LeakSanitizer reports Open MPI's own allocations, kept
# until exit by MPI_Init and its plugins (whose stacks it cannot even unwind
# once they are unloaded), and fails every rank: leak checking is off for the
# processes this test starts. The trainer's code is leak-checked by the other
# tests of suite train, which run it as one process (train_dnn_sync covers
# the synchronised batch norm).
ENV = dict(os.environ)
ENV["ASAN_OPTIONS"] = ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0"


def run(ranks, args, timeout=300):
    p = subprocess.run(command(ranks, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, env=ENV)
    return p.returncode, p.stdout, p.stderr


def write_synthetic(root, per_class, val_per_class, train_counts=None):
    """Three classes of 48 px gray images: stripes of a class-given direction
    and frequency under noise, so a tiny network learns something.
    train_counts: training images of each class (else per_class each)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:48]
    for split, n in (("train", per_class), ("val", val_per_class)):
        for ci, name in enumerate(("A", "B", "C")):
            if split == "train" and train_counts:
                n = train_counts[ci]
            d = os.path.join(root, split, name)
            os.makedirs(d)
            for i in range(n):
                img = 128 + 60 * np.sin((x * (ci + 1) + y * (2 - ci)) / 6.0)
                img += rng.normal(0, 30, img.shape)
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                    os.path.join(d, f"{i:03d}.png"))


def link_real(root, per_class, val_per_class):
    """The first images of each class of SHARED (symbolic links)."""
    for split, n in (("train", per_class), ("val", val_per_class)):
        for name in sorted(os.listdir(os.path.join(SHARED, split))):
            src = os.path.join(SHARED, split, name)
            if not os.path.isdir(src):
                continue
            d = os.path.join(root, split, name)
            os.makedirs(d)
            for f in sorted(os.listdir(src))[:n]:
                os.symlink(os.path.join(src, f), os.path.join(d, f))


def load_tensors(path):
    """The tensors of a safetensors file as float64 arrays (F32 only)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype="<f4").astype(np.float64)
    return out


def iteration_losses(out):
    with open(os.path.join(out, "metrics.csv")) as f:
        return [float(r.split(",")[4]) for r in f if r.startswith("iter,")]


def worst_difference(a_path, b_path):
    """Largest difference of any tensor relative to its largest magnitude."""
    a, b = load_tensors(a_path), load_tensors(b_path)
    if sorted(a) != sorted(b):
        return float("inf"), "tensor names differ"
    worst = (0.0, "")
    for name in a:
        scale = max(np.max(np.abs(a[name])), 1e-3)
        worst = max(worst, (float(np.max(np.abs(a[name] - b[name]))) / scale, name))
    return worst


def same_as(label, ref_out, out, losses=True):
    if losses:
        la, lb = iteration_losses(ref_out), iteration_losses(out)
        d = max((abs(x - y) / max(abs(x), 1e-3) for x, y in zip(la, lb)), default=float("inf"))
        check(len(la) == len(lb) and d <= TOL,
              f"{label}: {len(lb)} iteration losses within {d:.2g} (relative) of one process")
    d, name = worst_difference(os.path.join(ref_out, "last.safetensors"),
                               os.path.join(out, "last.safetensors"))
    check(d <= TOL, f"{label}: weights and running statistics within {d:.2g} (worst: {name})")


def same_steps(tmp):
    data = os.path.join(tmp, "steps")
    if os.path.isdir(os.path.join(SHARED, "train")):
        link_real(data, 16, 4)
        kind = "real X-rays"
    else:
        write_synthetic(data, 16, 4)
        kind = "synthetic images"
    print(f"same_steps on {kind}: 48 training images, 3 iterations of batch 16")
    args = NET + ["--train", data + "/train", "--val", data + "/val", "--epochs", "1"]
    ref = os.path.join(tmp, "steps-1")
    rc, _, err = run(0, args + ["--out", ref])
    check(rc == 0, f"one process trains (rc {rc}) {err[-300:]}")
    for ranks in (2, 4):
        out = os.path.join(tmp, f"steps-{ranks}")
        rc, so, err = run(ranks, args + ["--out", out])
        check(rc == 0, f"{ranks} processes train (rc {rc}) {err[-300:]}")
        check(f"processes: {ranks} ({16 // ranks} images" in so,
              f"{ranks} processes: the summary names the shares")
        if rc == 0:
            same_as(f"{ranks} processes", ref, out)


def resume(tmp, data):
    args = NET + ["--train", data + "/train", "--val", data + "/val", "--epochs", "3"]
    ref = os.path.join(tmp, "resume-ref")
    rc, _, err = run(0, args + ["--out", ref])
    check(rc == 0, f"uninterrupted run (rc {rc}) {err[-300:]}")
    for first, then in ((2, 0), (0, 4)):
        out = os.path.join(tmp, f"resume-{first}-{then}")
        rc, _, err = run(first, args + ["--out", out, "--stop-after", "13"])
        check(rc == 130, f"stopped after 13 iterations on {first or 1} process(es) (rc {rc})")
        rc, _, err = run(then, ["--resume", "--out", out])
        check(rc == 0, f"resumed on {then or 1} process(es) (rc {rc}) {err[-300:]}")
        if rc == 0:
            same_as(f"stopped on {first or 1}, resumed on {then or 1}", ref, out)


def one_and_two(tmp, name, args, what):
    """args trained by one process into tmp/NAME-1 and by 2 into tmp/NAME-2;
    both folders, or None when either run failed."""
    ref, out = os.path.join(tmp, f"{name}-1"), os.path.join(tmp, f"{name}-2")
    rc1, _, err = run(0, args + ["--out", ref])
    check(rc1 == 0, f"one process trains {what} (rc {rc1}) {err[-300:]}")
    rc2, _, err = run(2, args + ["--out", out])
    check(rc2 == 0, f"2 processes train {what} (rc {rc2}) {err[-300:]}")
    return (ref, out) if rc1 == 0 and rc2 == 0 else None


def same_average(label, runs):
    d, name = worst_difference(os.path.join(runs[0], "best.safetensors"),
                               os.path.join(runs[1], "best.safetensors"))
    check(d <= TOL, f"{label} on 2 processes: the weight average within {d:.2g} (worst: {name})")


def weighted(tmp):
    """Class weights and the weight average under MPI: on classes of 32, 12
    and 4 images each share of a batch has its own weight sum, so a share
    that normalised its loss by its own (not the whole batch's) would step
    differently. Compares the trained weights and the average (best)."""
    data = os.path.join(tmp, "unbalanced")
    write_synthetic(data, 0, 4, train_counts=(32, 12, 4))
    args = NET + ["--train", data + "/train", "--val", data + "/val", "--epochs", "2",
                  "--class-weights", "balanced", "--ema", "0.9"]
    runs = one_and_two(tmp, "weighted", args, "with class weights")
    if runs:
        same_as("class weights on 2 processes", *runs)
        same_average("class weights", runs)


def averaged(tmp):
    """--average-from under MPI: the batch-norm re-estimation pass runs on
    every rank's share with synchronised statistics, so the averaged model
    (best) of 2 processes is that of one."""
    data = os.path.join(tmp, "unbalanced")
    args = NET + ["--train", data + "/train", "--val", data + "/val", "--epochs", "2",
                  "--average-from", "1", "--average-lr", "0.01"]
    runs = one_and_two(tmp, "averaged", args, "with --average-from")
    if runs:
        same_average("--average-from", runs)


def mixup(tmp, data):
    """--mixup under MPI: each process blends the pairs of its own share,
    each pair's lambda keyed by its row in the whole batch; with even shares
    those are one process's pairs, so the runs agree. A blend that ignored
    the share's offset (every rank drawing rank 0's lambdas) steps
    differently."""
    args = NET + ["--train", data + "/train", "--val", data + "/val", "--epochs", "1",
                  "--mixup", "0.4"]
    runs = one_and_two(tmp, "mixup", args, "with --mixup")
    if runs:
        same_as("--mixup on 2 processes", *runs)


def wait_for(proc, text, deadline):
    """Read proc's stdout until a line contains text; the lines read."""
    seen = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    return None


def ranks_of(mpirun_pid):
    """The trainer processes mpirun started (its descendants)."""
    out = subprocess.run(["pgrep", "-x", "covidcam-train"], stdout=subprocess.PIPE,
                         text=True).stdout.split()
    mine = []
    for pid in map(int, out):
        p = pid
        # A process listed by pgrep may end (or lose a parent) before its
        # /proc entry is read: another test's trainer, or a rank finishing.
        # It is then no live rank of this job.
        try:
            while p > 1:
                with open(f"/proc/{p}/stat") as f:
                    p = int(f.read().rsplit(")", 1)[1].split()[1])
                if p == mpirun_pid:
                    mine.append(pid)
                    break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(mine)


def start_long(data, out):
    """A 2-rank run that would train for a long time, started in the background."""
    args = NET + ["--train", data + "/train", "--val", data + "/val", "--epochs", "100000",
                  "--out", out]
    return subprocess.Popen(command(2, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)


def wait_end(p, timeout=60):
    """(stderr, seconds) once p ends; killed after timeout seconds."""
    t0 = time.time()
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        err += f"\n(killed after {timeout} s)"
    return err, time.time() - t0


def sigterm(tmp, data):
    out = os.path.join(tmp, "sigterm")
    p = start_long(data, out)
    started = wait_for(p, "epoch 1/", time.time() + 120)
    ranks = ranks_of(p.pid)
    check(started is not None and len(ranks) == 2, f"2 ranks training (pids {ranks})")
    if ranks:
        os.kill(ranks[-1], signal.SIGTERM)
    err, took = wait_end(p)
    check(p.returncode == 130, f"SIGTERM to one rank: mpirun exits 130 (rc {p.returncode}) "
                               f"after {took:.1f} s")
    check("interrupted at epoch" in err and "checkpoint saved" in err,
          "rank 0 says where it stopped and that the checkpoint is saved")
    rc, _, err = run(0, ["--resume", "--out", out, "--stop-after", "1"])
    check(rc == 130 and "interrupted" in err,
          f"the checkpoint resumes (rc {rc}) {err[-200:]}")


def failure(tmp, data):
    out = os.path.join(tmp, "failure")
    p = start_long(data, out)
    # Once training runs, the output folder becomes a file: rank 0 cannot
    # write the first epoch's model, while rank 1 goes on to the next epoch
    # and waits for rank 0 in a collective.
    started = wait_for(p, "processes: 2", time.time() + 120)
    check(started is not None, "2 ranks started")
    shutil.rmtree(out)
    with open(out, "w") as f:
        f.write("not a folder\n")
    err, took = wait_end(p)
    check(p.returncode not in (0, None) and took < 30,
          f"a failing rank ends the job: rc {p.returncode} after {took:.1f} s")
    check("covidcam-train (process 0 of 2):" in err and out in err,
          "the failing rank says who it is and names the culprit: " +
          next((l for l in err.splitlines() if "process 0 of 2" in l), err[-300:]))

    odd = NET[:NET.index("--batch-size")] + NET[NET.index("--batch-size") + 2:]
    rc, _, err = run(2, odd + ["--train", data + "/train", "--val", data + "/val",
                               "--out", out + "-odd", "--batch-size", "15"])
    check(rc != 0 and "--batch-size 15 is not divisible by the 2 processes" in err,
          f"an unequal share is refused with the reason (rc {rc})")


def main():
    if not shutil.which(MPIRUN) and not os.path.exists(MPIRUN):
        print(f"skipped: no {MPIRUN}")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "synthetic")
        write_synthetic(data, 48, 8)
        same_steps(tmp)
        resume(tmp, data)
        weighted(tmp)
        averaged(tmp)
        mixup(tmp, data)
        sigterm(tmp, data)
        failure(tmp, data)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
