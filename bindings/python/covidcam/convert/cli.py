"""`python3 -m covidcam convert` / `covidcam-convert`: detect the input format,
map it to torchvision ResNet names, check it, write a covidcam safetensors
file, load that with libcovidcam and print a summary."""

import argparse
import os
import stat
import sys

USAGE = """\
python3 -m covidcam convert IN -o OUT.safetensors --classes A,B[,...] --mean M[,M,M]
       --std S[,S,S] [--input-size N] [--input-channels 1|3] [--layers L1,L2,...]
       [--bn-eps E] [--description TEXT]

IN is a PyTorch state dict (.pth/.pt, or a whole pickled torchvision model),
a PaddlePaddle .pdparams (paddle.vision or notebook layout) or an ONNX graph;
the format is detected from the file's bytes.
"""

MAX_INPUT_BYTES = 4 << 30  # COVIDCAM_MAX_MODEL_BYTES
LEGACY_TORCH = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


class UsageError(Exception):
    pass


def _parser():
    p = argparse.ArgumentParser(prog="covidcam convert", usage=USAGE, add_help=True)
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--classes", help="class names in logit order, comma separated")
    p.add_argument("--input-size", type=int, help="network input side in pixels "
                   "(default: the ONNX input's, else 224)")
    p.add_argument("--input-channels", type=int, choices=(1, 3),
                   help="default: the stem convolution's input channels; 1 for a 3-channel "
                   "model sums its stem kernels (exact: the library feeds gray to all three)")
    p.add_argument("--mean", help="per-channel mean in 0-255 pixel units (one value or one "
                   "per channel)")
    p.add_argument("--std", help="per-channel std in 0-255 pixel units")
    p.add_argument("--layers", help="notebook-layout .pdparams: blocks per stage, e.g. 3,4,6,3")
    p.add_argument("--bn-eps", type=float, help="batch-norm epsilon the model was trained "
                   "with (default 1e-5; ONNX: the graph's)")
    p.add_argument("--description")
    return p


def _floats(text, opt):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError("--%s must be comma-separated numbers, not '%s'" % (opt, text)) from None


def _ints(text, opt):
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if not vals or min(vals) < 1:
        raise UsageError("--%s must be comma-separated positive integers, not '%s'"
                         % (opt, text))
    return vals


def detect(data):
    """'torch', 'pickle', 'onnx' or a ConvertError naming what the bytes look like."""
    from .errors import ConvertError
    if data[:4] == b"PK\x03\x04":
        return "torch"
    if data.startswith(LEGACY_TORCH):
        raise ConvertError("this is PyTorch's legacy (pre-1.6) serialization; load it with "
                           "torch and save it again with torch.save(model.state_dict(), path) "
                           "(the zip format)")
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if len(data) > 9 and data[8:9] == b"{" and b"__metadata__" in data[:1 << 16]:
        raise ConvertError("this is already a safetensors file; `python3 -m covidcam "
                           "classify --model` reads covidcam safetensors directly")
    if data[:1] == b"\x08":
        return "onnx"
    raise ConvertError("unknown file format (first bytes %s): expected a PyTorch zip (.pth), "
                       "a pickle (.pdparams) or an ONNX protobuf" % data[:8].hex())


def read_model(data, path, layers):
    """({torchvision name: array}, description, bn_eps or None, input size or None)."""
    from . import onnx_graph, paddle, torchzip
    kind = detect(data)
    if kind == "onnx":
        if layers:
            raise UsageError("--layers applies to notebook-layout .pdparams only")
        return onnx_graph.read(data, path)
    if kind == "torch":
        if layers:
            raise UsageError("--layers applies to notebook-layout .pdparams only")
        sd, what = torchzip.read(data, path)
        return sd, what, None, None
    sd, what = paddle.read(data, path, layers)
    return sd, what, None, None


def _per_channel(vals, n, opt, arch):
    if vals is None:
        example = ("--mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 for ImageNet "
                   "statistics" if n == 3 else "--mean 129.5 --std 64")
        raise UsageError("--%s is required: the normalisation the model was trained with is "
                         "not stored in the file (this %s takes %d input channel%s; e.g. %s)"
                         % (opt, arch.describe(), n, "" if n == 1 else "s", example))
    return vals * n if len(vals) == 1 else vals


def shown(path):
    """A path as printable text, whatever bytes its name has."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _read_input(path):
    """The file's bytes; a FIFO or device is refused before any read can block."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UsageError("cannot read %s: %s" % (shown(path), exc.strerror or exc)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UsageError("%s is not a regular file" % shown(path))
    with os.fdopen(fd, "rb") as f:
        if st.st_size > MAX_INPUT_BYTES:
            raise UsageError("%s has %d bytes, more than the %d a covidcam model may have"
                             % (shown(path), st.st_size, MAX_INPUT_BYTES))
        try:
            return f.read()
        except OSError as exc:
            raise UsageError("cannot read %s: %s" % (shown(path), exc.strerror or exc)) from None


def _to_gray(tensors, arch, mean, std):
    """A 3-channel model as the 1-channel one it is on gray input: the library
    replicates gray to every channel, so with one mean and std for all three
    the stem's kernels sum over their input channels exactly."""
    if len(set(mean)) != 1 or len(set(std)) != 1:
        raise UsageError("--input-channels 1 folds the 3 input channels into one, which is exact "
                         "only with one --mean and one --std for all channels (got %s / %s)"
                         % (mean, std))
    tensors = dict(tensors)
    tensors["conv1.weight"] = tensors["conv1.weight"].astype("<f8").sum(
        axis=1, keepdims=True).astype("<f4")
    return tensors, arch._replace(in_channels=1), mean[:1], std[:1]


def convert(args):
    """Write args.output; returns (tensors, meta, arch, source description)."""
    from . import resnet_map, st_writer
    data = _read_input(args.input)
    name = shown(args.input)
    if os.path.exists(args.output) and os.path.samefile(args.input, args.output):
        raise UsageError("-o %s is the input file; write the covidcam file elsewhere"
                         % shown(args.output))
    layers = _ints(args.layers, "layers") if args.layers else None
    sd, what, eps, size = read_model(data, name, layers)
    arch = resnet_map.infer(sd, name)
    tensors = resnet_map.check(sd, arch, name)
    if args.classes is None:
        raise UsageError("--classes is required: %s holds a %s, so give %d class names in "
                         "logit order" % (name, arch.describe(), arch.classes))
    classes = [c.strip() for c in args.classes.split(",")]
    if len(classes) != arch.classes:
        raise UsageError("--classes has %d names, but %s holds a %s (fc.weight %s)"
                         % (len(classes), name, arch.describe(), list(tensors["fc.weight"].shape)))
    if arch.in_channels not in (1, 3):
        raise UsageError("%s's stem convolution takes %d input channels; covidcam takes 1 or 3"
                         % (name, arch.in_channels))
    n = arch.in_channels
    mean = _per_channel(_floats(args.mean, "mean") if args.mean else None, n, "mean", arch)
    std = _per_channel(_floats(args.std, "std") if args.std else None, n, "std", arch)
    if args.input_channels is not None and args.input_channels != n:
        if (args.input_channels, n) != (1, 3):
            raise UsageError("--input-channels %d, but the stem convolution of %s takes %d"
                             % (args.input_channels, name, n))
        tensors, arch, mean, std = _to_gray(tensors, arch, mean, std)
    if args.bn_eps is not None:
        if what.startswith("ONNX"):
            raise UsageError("--bn-eps does not apply to ONNX: the graph's batch norms carry "
                             "their epsilon (%s here)" % (eps if eps is not None else
                                                          "none: all folded"))
        eps = args.bn_eps
    meta = st_writer.metadata(arch, classes, args.input_size or size or 224, arch.in_channels,
                              mean, std,
                              bn_eps=eps, description=args.description,
                              source="%s (%s)" % (os.path.basename(name), what))
    st_writer.write(args.output, tensors, meta)
    return tensors, meta, arch, what


def _summary(args, tensors, meta, arch, what):
    from .. import Model
    from . import resnet_map
    with Model(args.output) as m:
        lines = [
            "%s: %s" % (shown(args.input), what),
            "wrote %s" % shown(args.output),
            "  arch        %s" % arch.describe(),
            "  library     %s, input %dx%dx%d" % (m.arch, m.input_channels, m.input_size,
                                                  m.input_size),
            "  classes     %s" % ", ".join(m.classes),
            "  parameters  %d" % resnet_map.count_parameters(tensors),
            "  mean / std  %s / %s" % (meta["mean"], meta["std"]),
        ]
        if "bn_eps" in meta:
            lines.append("  bn_eps      %s" % meta["bn_eps"])
    sys.stdout.write("\n".join(lines) + "\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        import numpy
        del numpy  # imported only to say early, and clearly, that it is missing
    except ImportError:
        sys.stderr.write("covidcam convert: needs numpy for this Python (%s); Debian: apt-get "
                         "install python3-numpy\n" % sys.executable)
        return 1
    from ..errors import Error, LibraryNotFoundError
    from .errors import ConvertError
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code
    try:
        tensors, meta, arch, what = convert(args)
    except (ConvertError, UsageError) as exc:
        sys.stderr.write("covidcam convert: %s\n" % exc)
        return 2 if isinstance(exc, UsageError) else 1
    try:
        _summary(args, tensors, meta, arch, what)
    except LibraryNotFoundError as exc:
        sys.stderr.write("covidcam convert: wrote %s but could not check it with libcovidcam: "
                         "%s\n" % (shown(args.output), exc))
        return 1
    except Error as exc:
        os.unlink(args.output)
        sys.stderr.write("covidcam convert: libcovidcam refused the converted file, so it was "
                         "removed: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
