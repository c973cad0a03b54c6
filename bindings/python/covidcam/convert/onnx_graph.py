"""ONNX ResNet graphs matched against the covidcam network.

The graph is walked from its input the way the covidcam network computes:
stem Conv [BatchNormalization] Relu MaxPool, then blocks (a chain of Conv
[BN] Relu ... ending in Add with an identity or Conv [BN] shortcut, then Relu),
then GlobalAveragePool or ReduceMean, optional Flatten/Reshape, and Gemm or
MatMul + Add. The first node that does not fit is named in the error. Batch
norm folded into a convolution's bias (what torch.onnx.export does in eval
mode) is expressed with an identity batch norm: gamma 1, beta = bias,
running_mean 0, running_var 1 - eps. A convolution with both a bias and a
following BatchNormalization has its bias moved into running_mean.
"""

import collections

import numpy as np

from .errors import ConvertError

DEFAULT_EPS = 1e-5


def _import_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConvertError("reading ONNX needs the onnx Python package (Debian: apt-get "
                           "install python3-onnx)") from None
    return onnx, numpy_helper


def _attrs(node, onnx):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _label(node):
    return "node '%s' (%s)" % (node.name or (node.output[0] if node.output else "?"),
                               node.op_type)


class Unit(collections.namedtuple("Unit", "node weight bias bn")):
    """One convolution: its node, weight, bias (or None) and BN (or None)."""


class Matcher:
    def __init__(self, model, what):
        onnx, self.nh = _import_onnx()
        self.onnx = onnx
        self.what = what
        g = model.graph
        for t in g.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                raise ConvertError("%s keeps initializer '%s' in an external data file; save "
                                   "the model as one file (onnx.save(model, path, "
                                   "save_as_external_data=False))" % (what, t.name))
        self.consts = {t.name: self.nh.to_array(t) for t in g.initializer}
        self.alias = {}
        self.nodes = []
        for node in g.node:
            if node.op_type == "Constant":
                a = _attrs(node, onnx)
                if "value" not in a:
                    self._fail(node, "only tensor-valued Constant nodes are read")
                self.consts[node.output[0]] = self.nh.to_array(a["value"])
            elif node.op_type == "Identity":
                src = self.resolve(node.input[0])
                if src in self.consts:
                    self.consts[node.output[0]] = self.consts[src]
                else:
                    self.alias[node.output[0]] = src
            else:
                self.nodes.append(node)
        self.consumers = collections.defaultdict(list)
        for node in self.nodes:
            for i in node.input:
                if i:
                    self.consumers[self.resolve(i)].append(node)
        self.used = set()
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ConvertError("%s: the graph has %d inputs (%s); a ResNet has one image input"
                               % (what, len(inputs), ", ".join(i.name for i in inputs)))
        self.input = inputs[0]
        self.outputs = {self.resolve(o.name) for o in g.output}

    # ------------------------------------------------------------ helpers

    def resolve(self, name):
        while name in self.alias:
            name = self.alias[name]
        return name

    def _fail(self, node, why):
        raise ConvertError("%s: %s does not fit a covidcam ResNet: %s" % (self.what, _label(node), why))

    def const(self, node, i, why):
        name = self.resolve(node.input[i]) if i < len(node.input) else ""
        if name not in self.consts:
            self._fail(node, "%s is not a constant (initializer)" % why)
        return self.consts[name].astype(np.float64) if self.consts[name].dtype.kind == "f" \
            else self.consts[name]

    def next_node(self, value, ops, after):
        # The Add that ends a block is reached from both of its branches.
        users = [n for n in self.consumers.get(value, [])
                 if id(n) not in self.used or (n.op_type == "Add" and "Add" in ops)]
        if value in self.outputs and not users:
            raise ConvertError("%s: the graph ends after %s; expected %s next"
                               % (self.what, after, " or ".join(ops)))
        if len(users) != 1:
            if not users:
                raise ConvertError("%s: nothing reads the output of %s; expected %s"
                                   % (self.what, after, " or ".join(ops)))
            self._fail(users[1], "the output of %s feeds %d nodes where one (%s) was expected"
                       % (after, len(users), " or ".join(ops)))
        node = users[0]
        if node.op_type not in ops:
            self._fail(node, "expected %s after %s" % (" or ".join(ops), after))
        self.used.add(id(node))
        return node

    def out(self, node):
        return node.output[0]

    # ------------------------------------------------------------ pieces

    def conv(self, node):
        a = _attrs(node, self.onnx)
        w = self.const(node, 1, "the weight")
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            self._fail(node, "weight of shape %s is not a square 2-d kernel" % list(w.shape))
        k = w.shape[2]
        if a.get("group", 1) != 1:
            self._fail(node, "grouped convolution (group %d)" % a["group"])
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self._fail(node, "dilated convolution")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            self._fail(node, "auto_pad %s (explicit pads expected)" % a["auto_pad"])
        strides = list(a.get("strides", [1, 1]))
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(set(strides)) != 1 or len(set(pads)) != 1:
            self._fail(node, "unequal strides %s / pads %s" % (strides, pads))
        bias = self.const(node, 2, "the bias") if len(node.input) > 2 and node.input[2] else None
        geom = (k, strides[0], pads[0])
        x = self.out(node)
        users = [n for n in self.consumers.get(x, []) if id(n) not in self.used]
        bn = None
        if len(users) == 1 and users[0].op_type == "BatchNormalization":
            bn_node = self.next_node(x, ("BatchNormalization",), _label(node))
            bn = self.batchnorm(bn_node)
            x = self.out(bn_node)
        return Unit(node, w, bias, bn), geom, x

    def batchnorm(self, node):
        a = _attrs(node, self.onnx)
        if a.get("training_mode", 0) or len([o for o in node.output if o]) != 1:
            self._fail(node, "batch norm in training mode")
        parts = [self.const(node, i, n) for i, n in
                 ((1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var"))]
        # ONNX stores epsilon as float32: keep its shortest decimal (1e-05, not
        # 9.999999747378752e-06), the value the exporter was given.
        return parts, float(str(np.float32(a.get("epsilon", DEFAULT_EPS))))

    def chain(self, x, after):
        """Conv [BN] (Relu Conv [BN])* up to the Add that ends a branch."""
        units = []
        while True:
            node = self.next_node(x, ("Conv",), after)
            unit, geom, x = self.conv(node)
            units.append((unit, geom))
            nxt = self.next_node(x, ("Relu", "Add"), _label(unit.node))
            if nxt.op_type == "Add":
                return units, nxt, x
            x, after = self.out(nxt), _label(nxt)

    def block(self, x, after):
        users = [n for n in self.consumers.get(x, []) if id(n) not in self.used]
        convs = [n for n in users if n.op_type == "Conv"]
        others = [n for n in users if n.op_type != "Conv"]
        if not (len(users) == 2 and (len(convs) == 2 or
                                     (len(convs) == 1 and others[0].op_type == "Add"))):
            bad = [n for n in users if n.op_type not in ("Conv", "Add")] or users[2:] or users
            if not users:
                raise ConvertError("%s: nothing reads the output of %s" % (self.what, after))
            self._fail(bad[0], "a residual block (Conv main path with an identity or Conv "
                       "shortcut) was expected after %s" % after)
        branches = []
        for c in convs:
            units, add, end = self._branch(c, after)
            branches.append((units, add, end))
        if len(branches) == 2:
            branches.sort(key=lambda b: len(b[0]))
            short, main = branches
            if short[1] is not main[1]:
                self._fail(main[1], "the two branches after %s do not meet in one Add" % after)
            down, short_end = short[0], short[2]
            if len(down) != 1:
                self._fail(down[-1][0].node, "the shortcut has more than one convolution")
        else:
            main, down, short_end = branches[0], [], x
            if others[0] is not main[1]:
                self._fail(others[0], "the identity shortcut from %s and the main path meet in "
                           "different Add nodes" % after)
        add = main[1]
        ins = {self.resolve(i) for i in add.input}
        want = {main[2], short_end}
        if ins != want:
            self._fail(add, "it adds something other than the block's two branches")
        relu = self.next_node(self.out(add), ("Relu",), _label(add))
        return main[0], down, self.out(relu), _label(relu)

    def _branch(self, conv_node, after):
        self.used.add(id(conv_node))
        unit, geom, x = self.conv(conv_node)
        units = [(unit, geom)]
        nxt = self.next_node(x, ("Relu", "Add"), _label(conv_node))
        if nxt.op_type == "Add":
            return units, nxt, x
        rest, add, end = self.chain(self.out(nxt), _label(nxt))
        return units + rest, add, end

    def head(self, x, after):
        pool = self.global_pool(x, after)
        x, after = self.out(pool), _label(pool)
        users = [n for n in self.consumers.get(x, []) if id(n) not in self.used]
        if len(users) == 1 and users[0].op_type in ("Flatten", "Reshape", "Squeeze"):
            node = self.next_node(x, (users[0].op_type,), after)
            a = _attrs(node, self.onnx)
            if node.op_type == "Flatten" and a.get("axis", 1) != 1:
                self._fail(node, "Flatten with axis %d (1 expected)" % a["axis"])
            if node.op_type == "Reshape":
                shape = self.const(node, 1, "the shape")
                if shape.size != 2:
                    self._fail(node, "Reshape to %s (a 2-d [N, C] shape expected)"
                               % list(shape))
            x, after = self.out(node), _label(node)
        node = self.next_node(x, ("Gemm", "MatMul"), after)
        if node.op_type == "Gemm":
            a = _attrs(node, self.onnx)
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                self._fail(node, "Gemm with transA or alpha/beta other than 1")
            w = self.const(node, 1, "the fc weight")
            w = w if a.get("transB", 0) else w.T
            b = self.const(node, 2, "the fc bias") if len(node.input) > 2 else np.zeros(w.shape[0])
            end = node
        else:
            w = self.const(node, 1, "the fc weight").T  # MatMul weight is [in, out]
            end = self.next_node(self.out(node), ("Add",), _label(node))
            other = [i for i in end.input if self.resolve(i) != self.out(node)]
            if len(other) != 1 or self.resolve(other[0]) not in self.consts:
                self._fail(end, "the fc bias is not a constant")
            b = self.consts[self.resolve(other[0])].astype(np.float64)
        if w.ndim != 2 or b.reshape(-1).shape[0] != w.shape[0]:
            self._fail(node, "fc weight %s and bias %s do not match" % (list(w.shape), list(b.shape)))
        if self.out(end) not in self.outputs:
            users = self.consumers.get(self.out(end), [])
            if users:
                self._fail(users[0], "the fc output must be the graph output (raw logits)")
            raise ConvertError("%s: the fc output is not a graph output" % self.what)
        return w, b.reshape(-1)

    def global_pool(self, x, after):
        node = self.next_node(x, ("GlobalAveragePool", "ReduceMean"), after)
        if node.op_type == "ReduceMean":
            a = _attrs(node, self.onnx)
            axes = a.get("axes")
            if axes is None and len(node.input) > 1:
                axes = self.const(node, 1, "the axes").tolist()
            if sorted(int(v) % 4 for v in (axes or [])) != [2, 3]:
                self._fail(node, "ReduceMean over axes %s (2, 3 expected)" % (axes,))
        return node


def _maxpool_ok(m, node):
    a = _attrs(node, m.onnx)
    if (list(a.get("kernel_shape", [])) != [3, 3] or list(a.get("strides", [1, 1])) != [2, 2]
            or list(a.get("pads", [0] * 4)) != [1] * 4 or a.get("ceil_mode", 0)
            or any(d != 1 for d in a.get("dilations", [1, 1]))):
        m._fail(node, "the stem max-pool must be 3x3 stride 2 pad 1 (got kernel %s strides %s "
                "pads %s)" % (list(a.get("kernel_shape", [])), list(a.get("strides", [])),
                              list(a.get("pads", []))))


def _check_geom(m, unit, geom, want, role):
    if geom != want:
        m._fail(unit.node, "as %s it should be %dx%d stride %d pad %d, not %dx%d stride %d pad %d"
                % ((role,) + (want[0], want[0], want[1], want[2]) + (geom[0], geom[0]) + geom[1:]))


def _bn_tensors(unit, eps, what):
    """gamma, beta, mean, var for one unit at the file-wide epsilon `eps`."""
    oc = unit.weight.shape[0]
    bias = np.zeros(oc) if unit.bias is None else unit.bias.reshape(-1)
    if unit.bn is None:
        return [np.ones(oc), bias, np.zeros(oc), np.full(oc, 1.0 - eps)]
    (gamma, beta, mean, var), e = unit.bn
    var = var + (e - eps)
    if (var < 0).any():
        raise ConvertError("%s: batch norm after %s uses epsilon %g, and its variances cannot "
                           "be moved to the file's epsilon %g" % (what, _label(unit.node), e, eps))
    return [gamma, beta, mean - bias, var]


def _walk(m):
    """(stem Unit, [(main [(Unit, geom)], shortcut [(Unit, geom)])], fc weight, fc bias)."""
    stem, sgeom, x = m.conv(m.next_node(m.input.name, ("Conv",), "the graph input"))
    _check_geom(m, stem, sgeom, (7, 2, 3), "the stem convolution")
    relu = m.next_node(x, ("Relu",), _label(stem.node))
    pool = m.next_node(m.out(relu), ("MaxPool",), _label(relu))
    _maxpool_ok(m, pool)
    x, after = m.out(pool), _label(pool)
    blocks = []
    while True:
        users = [n for n in m.consumers.get(x, []) if id(n) not in m.used]
        if len(users) == 1 and users[0].op_type in ("GlobalAveragePool", "ReduceMean"):
            break
        main, down, x, after = m.block(x, after)
        blocks.append((main, down))
    if not blocks:
        raise ConvertError("%s: no residual block after the stem" % m.what)
    fc_w, fc_b = m.head(x, after)
    left = [n for n in m.nodes if id(n) not in m.used]
    if left:
        m._fail(left[0], "it is not on the ResNet path from the input to the fc output")
    kinds = {len(main) for main, _ in blocks}
    if kinds not in ({2}, {3}):
        odd = [b for b in blocks if len(b[0]) not in (2, 3)] or \
            [b for b in blocks if len(b[0]) != len(blocks[0][0])]
        m._fail(odd[0][0][0][0].node, "blocks must all have 2 (basic) or all 3 (bottleneck) "
                "convolutions on the main path")
    return stem, blocks, fc_w, fc_b


def _to_state_dict(m, stem, blocks, eps):
    """torchvision names for the walked graph, checking each block's geometry."""
    bottleneck = len(blocks[0][0]) == 3
    sd = collections.OrderedDict()

    def put(conv, bn, unit):
        sd[conv + ".weight"] = unit.weight
        for name, v in zip(("weight", "bias", "running_mean", "running_var"),
                           _bn_tensors(unit, eps, m.what)):
            sd["%s.%s" % (bn, name)] = v

    put("conv1", "bn1", stem)
    stage, index = 0, -1
    for b, (main, down) in enumerate(blocks):
        unit, geom = main[1 if bottleneck else 0]  # the convolution that strides
        stride = geom[1]
        if stride not in (1, 2) or (stride == 2 and b == 0):
            m._fail(unit.node, "stride %d in block %d; covidcam blocks stride by 1, or by 2 in "
                    "the first block of every stage but the first" % (stride, b))
        stage, index = (stage + 1, 0) if stride == 2 else (stage, index + 1)
        want = [(1, 1, 0), (3, stride, 1), (1, 1, 0)] if bottleneck else [(3, stride, 1), (3, 1, 1)]
        for c, ((unit, geom), w) in enumerate(zip(main, want)):
            _check_geom(m, unit, geom, w, "conv%d of block %d" % (c + 1, b))
        p = "layer%d.%d." % (stage + 1, index)
        for c, (unit, _) in enumerate(main):
            put(p + "conv%d" % (c + 1), p + "bn%d" % (c + 1), unit)
        if down:
            _check_geom(m, down[0][0], down[0][1], (1, stride, 0), "the shortcut of block %d" % b)
            put(p + "downsample.0", p + "downsample.1", down[0][0])
    return sd


def read(data, path):
    """({torchvision name: array}, description, bn_eps or None, input size or None)."""
    onnx, _ = _import_onnx()
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf raises its own DecodeError type
        raise ConvertError("%s is not a readable ONNX model (%s)" % (path, exc)) from None
    m = Matcher(model, path)
    stem, blocks, fc_w, fc_b = _walk(m)
    units = [stem] + [u for main, down in blocks for u, _ in main + down]
    eps_all = [u.bn[1] for u in units if u.bn]
    eps = eps_all[0] if eps_all else DEFAULT_EPS
    sd = _to_state_dict(m, stem, blocks, eps)
    sd["fc.weight"], sd["fc.bias"] = fc_w, fc_b
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in m.input.type.tensor_type.shape.dim]
    size = dims[2] if len(dims) == 4 and dims[2] and dims[2] == dims[3] else None
    folded = sum(1 for u in units if u.bn is None)
    kind = "ONNX graph (%d blocks%s)" % (len(blocks), ", %d convolutions with batch norm folded "
                                         "into their bias" % folded if folded else "")
    return sd, kind, (eps if eps_all else None), size
