#!/usr/bin/env python3
"""Out-of-distribution statistics for a covidcam model: fit, write, measure.

  fit      Run the model on every image of the training trees (through the
           library, Python binding), take the pooled features (what the fc
           layer reads), and fit class-conditional Gaussians with one shared
           covariance (Lee et al., "A Simple Unified Framework for Detecting
           Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018).
           The score of an image is the squared Mahalanobis distance of its
           features to the nearest class mean. The threshold is the 99th
           percentile of the score on the validation trees, so about 1 % of
           in-distribution images are flagged by construction. --write OUT
           copies the model with the tensors ood.class_means and ood.precision
           and the metadata ood_method / ood_threshold added
           (docs/model-format.md); every other byte of meaning is unchanged.
  measure  The fraction of images flagged under each folder given (one
           category per folder, searched recursively), for the model's
           Mahalanobis score and, for comparison, the energy score
           -T log sum exp(z / T) on the logits with a threshold set the same
           way on the validation trees (--val).

Needs numpy (Debian's python3-numpy) and the Python binding:

    PYTHONPATH=bindings/python /usr/bin/python3 tools/ood_fit.py fit \\
        --model M --train ../shared/data/cxr/train --train ../shared/data/cxr-tb/train \\
        --val ../shared/data/cxr/val --val ../shared/data/cxr-tb/val --write OUT
    PYTHONPATH=bindings/python /usr/bin/python3 tools/ood_fit.py measure \\
        --model OUT --val ../shared/data/cxr/val SETS/*
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402

import covidcam  # noqa: E402



def _read_fit_constants():
    """CC_OOD_SHRINK and CC_OOD_PERCENTILE from lib/net/ood.h, the one place
    they are defined (covidcam-train fits with the same values)."""
    here = os.path.dirname(os.path.abspath(__file__))
    values = {}
    with open(os.path.join(here, "..", "lib", "net", "ood.h")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "#define" and parts[1] in (
                    "CC_OOD_SHRINK", "CC_OOD_PERCENTILE"):
                values[parts[1]] = float(parts[2])
    return values["CC_OOD_SHRINK"], values["CC_OOD_PERCENTILE"]


# Shrinkage of the shared covariance towards a multiple of the identity: the
# covariance of a few thousand 256-dimensional features is well conditioned,
# but a small ridge keeps the inverse stable for wider models and small sets.
SHRINK, PERCENTILE = _read_fit_constants()


def classified(session, paths):
    """(index, result) for every readable image of paths, in order, the
    session holding that image's features and assessment; unreadable images
    are reported and left out."""
    for i, p in enumerate(paths):
        try:
            r = session.classify_file(p)
        except covidcam.Error as exc:
            print("skipped %s: %s" % (p, exc), file=sys.stderr)
            continue
        yield i, r


def run(session, paths):
    """Pooled features (n x F) of every readable image and their indices."""
    feats, kept = [], []
    for i, _ in classified(session, paths):
        feats.append(session.features(numpy=True))
        kept.append(i)
    return np.array(feats, dtype=np.float64), kept


def fit_gaussians(feats, labels, k):
    """Class means (K x F) and the shrunk shared covariance's inverse."""
    means = np.stack([feats[labels == c].mean(axis=0) for c in range(k)])
    centred = feats - means[labels]
    cov = centred.T @ centred / len(feats)
    f = cov.shape[0]
    cov = (1 - SHRINK) * cov + SHRINK * np.trace(cov) / f * np.eye(f)
    prec = np.linalg.inv(cov)
    return means, (prec + prec.T) / 2


def mahalanobis(feats, means, prec):
    """min over classes of (f - mu)^T P (f - mu), per row."""
    d = [np.einsum("ij,jk,ik->i", feats - mu, prec, feats - mu) for mu in means]
    return np.maximum(np.min(np.stack(d), axis=0), 0)


def energy(logits, t=1.0):
    """-T log sum exp(z / T): larger is less like the training data."""
    z = logits / t
    m = z.max(axis=1, keepdims=True)
    return -t * (m[:, 0] + np.log(np.exp(z - m).sum(axis=1)))


def append_tensors(src, dst, tensors, meta):
    """Copy the safetensors file src to dst with F32 `tensors` ({name: array})
    appended after the existing data and `meta` merged into the metadata."""
    with open(src, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = bytearray(data[8 + n:])
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    header.setdefault("__metadata__", {}).update(meta)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = dst + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(body))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)


def labelled(model, roots, per_class=0):
    classes, items = evaluate.list_images(roots)
    if per_class:  # the first N of each class in name order: deterministic
        seen, kept = {}, []
        for p, c in items:
            seen[c] = seen.get(c, 0) + 1
            if seen[c] <= per_class:
                kept.append((p, c))
        items = kept
    missing = [c for c in classes if model.class_index(c) < 0]
    if missing:
        sys.exit("class folders %s are not classes of the model %s" % (missing, model.classes))
    return [p for p, _ in items], np.array([model.class_index(c) for _, c in items])


def cmd_fit(a):
    model = covidcam.Model(a.model)
    session = covidcam.Session(model, threads=a.threads)
    k = model.num_classes
    paths, labels = labelled(model, a.train, a.per_class)
    feats, kept = run(session, paths)
    labels = labels[kept]
    means, prec = fit_gaussians(feats, labels, k)
    vpaths, _ = labelled(model, a.val)
    vfeats, _ = run(session, vpaths)
    vscore = mahalanobis(vfeats, means, prec)
    thr = float(np.percentile(vscore, PERCENTILE))
    print("fitted on %d training images (%d features, %d classes); threshold %.4f = "
          "%g th percentile of %d validation scores (median %.2f)"
          % (len(feats), feats.shape[1], k, thr, PERCENTILE, len(vscore), np.median(vscore)))
    if a.write:
        append_tensors(a.model, a.write,
                       {"ood.class_means": means.astype(np.float32),
                        "ood.precision": prec.astype(np.float32)},
                       {"ood_method": "mahalanobis", "ood_threshold": "%.6g" % thr})
        print("wrote", a.write)


def images_under(folder):
    out = []
    for root, _, files in os.walk(folder):
        out += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
    return sorted(out)


def judge(session, paths, t):
    """Per readable image: (OOD flag, flagged or warned, energy score)."""
    out = []
    for _, r in classified(session, paths):
        s = session.assessment()
        out.append((s.ood, s.ood or bool(s.warnings), float(energy(np.array([r.logits]), t)[0])))
    return out


def cmd_measure(a):
    model = covidcam.Model(a.model)
    if not model.has_ood:
        sys.exit("%s has no OOD statistics (run fit --write first)" % a.model)
    session = covidcam.Session(model, threads=a.threads)
    t = model.temperature
    vpaths, _ = labelled(model, a.val)
    val = judge(session, vpaths, t)
    ethr = float(np.percentile([e for _, _, e in val], PERCENTILE))
    sets = [("validation X-rays (in distribution)", val)]
    sets += [(os.path.basename(os.path.normpath(f)), judge(session, images_under(f), t))
             for f in a.sets]
    rows = []
    for name, res in sets:
        n = len(res)
        rows.append((name, n, sum(r[0] for r in res), sum(r[1] for r in res),
                     sum(r[2] > ethr for r in res)))
    print("| set | images | Mahalanobis flagged | flagged or warned | energy flagged |")
    print("|---|---|---|---|---|")
    for name, n, m, w, e in rows:
        pct = (lambda x: "%.1f %%" % (100.0 * x / n)) if n else (lambda x: "-")
        print("| %s | %d | %s | %s | %s |" % (name, n, pct(m), pct(w), pct(e)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump([dict(zip(("set", "images", "ood", "ood_or_warning", "energy"), r))
                       for r in rows], f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit the statistics and the threshold")
    f.add_argument("--model", required=True)
    f.add_argument("--train", action="append", required=True, help="tree of class folders")
    f.add_argument("--val", action="append", required=True, help="tree of class folders")
    f.add_argument("--write", help="write the model with the statistics here")
    f.add_argument("--per-class", type=int, default=0,
                   help="fit on at most N training images per class (0 = all) [0]")
    f.add_argument("--threads", type=int, default=0)
    m = sub.add_parser("measure", help="fraction flagged per folder")
    m.add_argument("--model", required=True)
    m.add_argument("--val", action="append", required=True,
                   help="in-distribution tree (the energy threshold)")
    m.add_argument("--threads", type=int, default=0)
    m.add_argument("--json", help="also write the table as JSON here")
    m.add_argument("sets", nargs="+", help="one folder per category")
    a = ap.parse_args()
    (cmd_fit if a.cmd == "fit" else cmd_measure)(a)


if __name__ == "__main__":
    main()
