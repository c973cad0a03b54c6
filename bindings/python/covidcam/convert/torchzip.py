"""PyTorch `.pth` / `.pt` files (the zip format of torch.save, torch >= 1.6)
read without torch: the pickle goes through the restricted unpickler and the
tensor storages come from the zip entries it names."""

import io
import zipfile

from . import unpickle
from .errors import ConvertError

MAX_STORAGE_BYTES = 4 << 30  # COVIDCAM_MAX_MODEL_BYTES: no convertible model has more


def _find_prefix(zf):
    names = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(names) != 1:
        raise ConvertError("zip file without exactly one '<name>/data.pkl' entry: not a "
                           "PyTorch file (entries: %s)" % ", ".join(zf.namelist()[:6]))
    return names[0][:-len("data.pkl")]


def _read(zf, name):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ConvertError("the PyTorch file has no entry '%s' (truncated or damaged?)"
                           % name) from None
    if info.file_size > MAX_STORAGE_BYTES:
        raise ConvertError("zip entry '%s' claims %d bytes" % (name, info.file_size))
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ConvertError("cannot read zip entry '%s' (%s): the file is truncated or damaged"
                           % (name, exc)) from None


def _collect(obj, prefix, out):
    """A state dict from a loaded object: a dict of tensors, a dict holding one
    under 'state_dict'/'model'/..., or a whole pickled module (ModuleRecord)."""
    if isinstance(obj, unpickle.ModuleRecord):
        st = getattr(obj, "state", {})
        skip = st.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            for k, v in (st.get(group) or {}).items():
                if v is None or k in skip:
                    continue
                if not isinstance(v, unpickle.Tensor):
                    raise ConvertError("%s '%s' of the pickled model is a %s, not a tensor"
                                       % (group[1:-1], prefix + k, type(v).__name__))
                out[prefix + k] = v
        for k, v in (st.get("_modules") or {}).items():
            if v is not None:
                _collect(v, prefix + k + ".", out)
        return out
    for k, v in obj.items():
        if isinstance(v, unpickle.Tensor):
            out[prefix + str(k)] = v
    return out


def state_dict_from(obj, what):
    if isinstance(obj, unpickle.ModuleRecord):
        return _collect(obj, "", {}), "whole pickled model (%s)" % obj.qualname
    if not isinstance(obj, dict):
        raise ConvertError("%s holds a %s, not a state dict" % (what, type(obj).__name__))
    if any(isinstance(v, unpickle.Tensor) for v in obj.values()):
        return _collect(obj, "", {}), "state dict"
    for key in ("state_dict", "model_state_dict", "model", "net", "weights"):
        sub = obj.get(key)
        if isinstance(sub, unpickle.ModuleRecord) or (
                isinstance(sub, dict) and any(isinstance(v, unpickle.Tensor)
                                              for v in sub.values())):
            sd, kind = state_dict_from(sub, what)
            return sd, "%s under key '%s'" % (kind, key)
    raise ConvertError("%s holds a dict without tensors (keys: %s)"
                       % (what, ", ".join(map(str, list(obj)[:8]))))


def read(data, path):
    """{name: numpy array} (float tensors as float32/64) and a description."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ConvertError("%s is not a readable zip file (%s): truncated or damaged?"
                           % (path, exc)) from None
    with zf:
        prefix = _find_prefix(zf)
        order = zf.read(prefix + "byteorder") if prefix + "byteorder" in zf.namelist() else b"little"
        if order.strip() != b"little":
            raise ConvertError("%s was saved on a %s-endian machine; only little-endian "
                               "files are read" % (path, order.decode("ascii", "replace")))
        pkl = _read(zf, prefix + "data.pkl")
        cache = {}  # tensors sharing a storage name it once each

        def storage(key):
            if key not in cache:
                cache[key] = _read(zf, prefix + "data/" + key)
            return cache[key]

        obj = unpickle.load(pkl, storages=storage, modules=True, what=path)
    sd, kind = state_dict_from(obj, path)
    if sd and all(k.startswith("module.") for k in sd):  # saved from nn.DataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
        kind += ", 'module.' prefix dropped"
    return {k: v.array for k, v in sd.items()}, "PyTorch %s" % kind
