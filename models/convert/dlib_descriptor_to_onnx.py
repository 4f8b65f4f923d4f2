"""Convert dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

Why: dlib-bin runs this net in ~90-140 ms per face on one core and holds the
GIL while it does, so vcam ran it in a child process. ONNX Runtime runs the
same weights several times faster and releases the GIL, so the identity stage
can run it on a worker thread (see ``vcam/pipeline/descriptor.py``).

Source: ``face-recognition-models==0.3.0`` (PyPI), file
``face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat``
(sha256 55533b28…da30), Davis King's weights, released into the public domain
(CC0-1.0). The network is dlib's ``anet_type`` from
``examples/dnn_face_recognition_ex.cpp``: a 29-layer ResNet over a 150×150 RGB
chip, ending in a 128-d ``fc_no_bias`` (the ``loss_metric`` layer adds nothing
at inference).

How: the ``.dat`` file is dlib's own binary serialization of that network. This
script reads it with a small parser that follows dlib 20.0's ``serialize``
functions (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``,
``input.h``, ``loss.h``, ``cuda/tensor.h`` in the ``dlib==20.0.0`` sdist on
PyPI), in the order dlib writes it: each ``add_layer`` writes its version, then
its whole sub-network, then its own layer, so layers come input first. Batch
norm layers saved from training (``bn_con2``) become a per-channel scale and
shift exactly as dlib's ``affine_(const bn_&)`` makes them.

The ONNX graph takes the chip itself, ``(N, 150, 150, 3) uint8`` RGB as
``vcam.pipeline.descriptor.face_chip`` cuts it, and does dlib's input step
(``input_rgb_image_sized``: ``(x − channel mean) / 256``) inside the graph, so
the model needs no preprocessing code. Two dlib rules that ONNX does not share
are written out: ``add_prev`` adds tensors of different sizes by treating the
missing part of the smaller one as zeros (``Pad`` + ``Add``), and every pooling
and convolution output is ``1 + (size + 2·pad − window) // stride``.

Run, from the repository root, in a throwaway environment (CI never runs it)::

    python3.11 -m venv /tmp/dlibconv
    /tmp/dlibconv/bin/pip install onnx==1.17.0 numpy==1.26.4 onnxruntime==1.32.0 \\
        dlib-bin==20.0.1.post1 protobuf==4.25.9 pillow==11.3.0
    /tmp/dlibconv/bin/python models/convert/dlib_descriptor_to_onnx.py \\
        .venv/lib/python3.11/site-packages/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat

It writes ``vcam/assets/models/identity/dlib_face_descriptor.onnx`` (package data of
vcam, shipped in its wheel), then checks it against
dlib itself (``dlib.face_recognition_model_v1.compute_face_descriptor``) on the
test portraits in ``tests/data/`` (centre crops scaled to 150×150: real photos,
not aligned chips) and on random chips, and prints the largest difference and
the file's sha256. ``tests/pipeline/test_descriptor.py`` repeats the check on
aligned chips cut by vcam, in vcam's environment, where dlib-bin is installed. The output is the same
byte for byte on every run (no timestamps, fixed node names).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "vcam" / "assets" / "models" / "identity" / "dlib_face_descriptor.onnx"  # vcam's package data
PORTRAITS = ROOT / "tests" / "data"
OPSET = 17


# --- dlib's serialization format -----------------------------------------------------------


class Reader:
    """dlib's binary format (``dlib/serialize.h``): compact integers, floats, strings, bools, tensors."""

    def __init__(self, data: bytes) -> None:
        self.buf = io.BytesIO(data)

    def raw(self, n: int) -> bytes:
        data = self.buf.read(n)
        if len(data) != n:
            raise ValueError(f"file ends early at byte {self.buf.tell()}: wanted {n} bytes")
        return data

    def int(self) -> int:
        """A control byte (bit 7: negative; low 4 bits: byte count), then the magnitude, little endian."""
        control = self.raw(1)[0]
        value = int.from_bytes(self.raw(control & 0x0F), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        """``float_details``: a signed int64 mantissa, then an int16 exponent: mantissa × 2^exponent."""
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0 ** exponent

    def bool(self) -> bool:
        value = self.raw(1)
        if value not in (b"0", b"1"):
            raise ValueError(f"expected a bool ('0' or '1') at byte {self.buf.tell() - 1}, got {value!r}")
        return value == b"1"

    def string(self) -> str:
        return self.raw(self.int()).decode()

    def expect(self, *versions: str) -> str:
        found = self.string()
        if found not in versions:
            raise ValueError(f"expected {' or '.join(versions)} at byte {self.buf.tell()}, found {found!r}")
        return found

    def version(self, *allowed: int) -> int:
        found = self.int()
        if found not in allowed:
            raise ValueError(f"unexpected version {found} at byte {self.buf.tell()}, expected {allowed}")
        return found

    def tensor(self) -> np.ndarray:
        """``resizable_tensor`` (version 2): n, k, nr, nc, then raw little-endian float32."""
        self.version(2)
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self.raw(4 * count), "<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        """``alias_tensor`` (version 1): only its shape; the numbers live in the layer's ``params``."""
        self.version(1)
        return tuple(self.int() for _ in range(4))


# --- the network, as dlib's templates build it ------------------------------------------------


@dataclass
class Node:
    """One dlib layer: ``kind`` and its arguments, over ``sub`` (None for the input layer)."""

    kind: str
    sub: Node | None = None
    args: dict = field(default_factory=dict)


def con(n: int, size: int, stride: int, sub: Node) -> Node:
    return Node("con", sub, {"filters": n, "size": size, "stride": stride})


def affine(sub: Node) -> Node:
    return Node("affine", sub)


def relu(sub: Node) -> Node:
    return Node("relu", sub)


def tag(i: int, sub: Node) -> Node:
    return Node("tag", sub, {"id": i})


def skip(i: int, sub: Node) -> Node:
    return Node("skip", sub, {"id": i})


def add_prev(i: int, sub: Node) -> Node:
    return Node("add_prev", sub, {"id": i})


def avg_pool(size: int, stride: int, sub: Node) -> Node:
    return Node("avg_pool", sub, {"size": size, "stride": stride})


def block(n: int, stride: int, sub: Node) -> Node:
    """``BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>``."""
    return affine(con(n, 3, 1, relu(affine(con(n, 3, stride, sub)))))


def ares(n: int, sub: Node) -> Node:
    """``relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>``."""
    return relu(add_prev(1, block(n, 1, tag(1, sub))))


def ares_down(n: int, sub: Node) -> Node:
    """``relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>``."""
    return relu(add_prev(2, avg_pool(2, 2, skip(1, tag(2, block(n, 2, tag(1, sub)))))))


def anet() -> Node:
    """dlib's ``anet_type`` (examples/dnn_face_recognition_ex.cpp), outermost layer first."""
    x = Node("input")
    x = Node("max_pool", relu(affine(con(32, 7, 2, x))), {"size": 3, "stride": 2})
    for _ in range(3):
        x = ares(32, x)  # alevel4
    x = ares_down(64, x)  # alevel3
    for _ in range(3):
        x = ares(64, x)
    for n in (128, 256):  # alevel2, alevel1
        x = ares_down(n, x)
        x = ares(n, ares(n, x))
    x = ares_down(256, x)  # alevel0
    x = Node("global_avg_pool", x)
    return Node("loss", Node("fc", x, {"outputs": 128}))


# --- reading the file into the tree --------------------------------------------------------------


def read_net(r: Reader, root: Node) -> None:
    """Fill ``args`` of every node of ``root`` from the file (weights, paddings), checking the shape."""
    r.version(1)  # add_loss_layer
    if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.float(), r.float()  # margin, distance threshold: training only
    read_layer(r, root.sub)
    if r.buf.read(1):
        raise ValueError("bytes left after the network: not dlib's anet_type")


def read_layer(r: Reader, node: Node) -> None:
    if node.kind in ("tag", "skip"):
        r.version(1, 2) if node.sub.kind == "input" else r.version(1)
        read_layer(r, node.sub)
        return
    if node.sub.kind == "input":  # add_layer<DETAILS, INPUT_LAYER>
        version = r.version(2, 3)
        read_input(r, node.sub)
        read_details(r, node)
        r.bool(), r.bool(), r.bool()  # setup called, gradient stale, output disabled
        r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, grad_final
        if version >= 3:
            r.int()  # sample expansion factor
        return
    version = r.version(1, 2)  # add_layer<DETAILS, SUBNET>
    read_layer(r, node.sub)
    read_details(r, node)
    r.bool(), r.bool(), r.bool()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if version == 2:
        r.tensor()  # params_grad


def read_input(r: Reader, node: Node) -> None:
    r.expect("input_rgb_image_sized")
    node.args["mean"] = np.array([r.float(), r.float(), r.float()], np.float32)  # red, green, blue
    if (r.int(), r.int()) != (150, 150):
        raise ValueError("the input layer is not 150×150")


def read_details(r: Reader, node: Node) -> None:
    """One layer's own record (its ``serialize`` in dlib/dnn/layers.h or loss.h)."""
    readers = {"con": read_con, "affine": read_affine, "relu": read_relu, "max_pool": read_pool,
               "avg_pool": read_pool, "global_avg_pool": read_pool, "add_prev": read_add_prev, "fc": read_fc}
    readers[node.kind](r, node)


def read_con(r: Reader, node: Node) -> None:
    version = r.expect("con_4", "con_5", "con_6")
    params = r.tensor().ravel()
    n, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
    want = node.args
    if (n, nr, nc, sy, sx) != (want["filters"], want["size"], want["size"], want["stride"], want["stride"]):
        raise ValueError(f"con layer is {n} {nr}x{nc}/{sy}, expected {want}")
    filters, biases = r.alias(), r.alias()
    for _ in range(4):
        r.float()  # learning-rate and weight-decay multipliers
    use_bias = r.bool() if version in ("con_5", "con_6") else True
    if version == "con_6" and r.bool():
        raise ValueError("con layer with a fused relu is not expected in this network")
    size = int(np.prod(filters))
    node.args.update(weight=params[:size].reshape(filters), pad=(py, px),
                     bias=params[size:size + int(np.prod(biases))] if use_bias else np.zeros(n, np.float32))


def read_affine(r: Reader, node: Node) -> None:
    version = r.expect("bn_con2", "affine_", "affine_2")
    params = r.tensor().ravel()
    gamma = r.alias()
    r.alias()  # beta: the second half of params
    channels = int(np.prod(gamma))
    if version == "bn_con2":  # dlib's affine_(const bn_&): g = gamma / sqrt(var + eps); b = beta - g * mean
        r.tensor(), r.tensor()  # means, invstds of the last training batch
        running_means, running_vars = r.tensor().ravel(), r.tensor().ravel()
        r.int(), r.int()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.float()
        eps = r.float()
        scale = params[:channels] / np.sqrt(running_vars + eps)
        shift = params[channels:2 * channels] - scale * running_means
    else:
        r.int()  # mode
        if version == "affine_2" and r.bool():
            raise ValueError("a disabled affine layer is not expected in this network")
        scale, shift = params[:channels], params[channels:2 * channels]
    node.args.update(scale=scale.astype(np.float32), shift=shift.astype(np.float32))


def read_relu(r: Reader, node: Node) -> None:
    if r.expect("relu_", "relu_2") == "relu_2" and r.bool():
        raise ValueError("a disabled relu is not expected in this network")


def read_pool(r: Reader, node: Node) -> None:
    r.expect("max_pool_2" if node.kind == "max_pool" else "avg_pool_2")
    nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
    node.args.update(window=(nr, nc), strides=(sy, sx), pad=(py, px))


def read_add_prev(r: Reader, node: Node) -> None:
    r.expect("add_prev_")


def read_fc(r: Reader, node: Node) -> None:
    r.expect("fc_2", "fc_3")
    outputs, inputs = r.int(), r.int()
    params = r.tensor().ravel()
    weights = r.alias()
    if weights[:2] != (inputs, outputs):
        raise ValueError(f"fc weights are {weights}, expected ({inputs}, {outputs})")
    r.alias()  # biases (fc_no_bias: empty)
    if r.int() != 1:  # FC_NO_BIAS
        raise ValueError("the fc layer has a bias; anet_type's has none")
    for _ in range(4):
        r.float()
    node.args.update(weight=params[:inputs * outputs].reshape(inputs, outputs))  # dlib: (inputs, outputs)


# --- the ONNX graph ----------------------------------------------------------------------------


class Graph:
    """Builds ONNX nodes in forward order, tracking each value's ``(C, H, W)``."""

    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list = []
        self.weights: list = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.tags: dict[int, str] = {}

    def name(self, kind: str) -> str:
        return f"{kind}_{len(self.nodes)}"

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out


def pooled(size: int, window: int, stride: int, pad: int) -> int:
    """dlib's output size for convolution and pooling."""
    return 1 + (size + 2 * pad - window) // stride


def build(g: Graph, node: Node) -> str:
    """Emit ``node`` (after its sub-network) and return the name of its output."""
    if node.kind == "input":
        return emit_input(g, node)
    x = build(g, node.sub)
    c, h, w = g.shapes[x]
    if node.kind == "tag":
        g.tags[node.args["id"]] = x
        return x
    if node.kind == "skip":
        return g.tags[node.args["id"]]
    if node.kind == "con":
        a = node.args
        k, s, (py, px) = a["size"], a["stride"], a["pad"]
        wname, bname = g.const(f"w{len(g.weights)}", a["weight"]), g.const(f"b{len(g.weights)}", a["bias"])
        return g.op("Conv", [x, wname, bname], (a["filters"], pooled(h, k, s, py), pooled(w, k, s, px)),
                    kernel_shape=[k, k], strides=[s, s], pads=[py, px, py, px])
    if node.kind == "affine":
        scale = g.const(f"s{len(g.weights)}", node.args["scale"].reshape(1, c, 1, 1))
        shift = g.const(f"t{len(g.weights)}", node.args["shift"].reshape(1, c, 1, 1))
        return g.op("Add", [g.op("Mul", [x, scale], (c, h, w)), shift], (c, h, w))
    if node.kind == "relu":
        return g.op("Relu", [x], (c, h, w))
    if node.kind in ("max_pool", "avg_pool"):
        a = node.args
        (kh, kw), (sy, sx), (py, px) = a["window"], a["strides"], a["pad"]
        if py or px:
            raise ValueError("padded pooling is not expected in this network")
        return g.op("MaxPool" if node.kind == "max_pool" else "AveragePool", [x],
                    (c, pooled(h, kh, sy, 0), pooled(w, kw, sx, 0)), kernel_shape=[kh, kw], strides=[sy, sx])
    if node.kind == "global_avg_pool":
        if node.args["window"] != (0, 0):
            raise ValueError("expected avg_pool_everything")
        return g.op("GlobalAveragePool", [x], (c, 1, 1))
    if node.kind == "add_prev":
        return emit_add(g, x, g.tags[node.args["id"]])
    if node.kind == "fc":
        flat = g.op("Flatten", [x], (c * h * w, 1, 1), axis=1)
        return g.op("MatMul", [flat, g.const("fc_weight", node.args["weight"])], (node.args["outputs"], 1, 1))
    raise ValueError(f"no ONNX form for dlib layer {node.kind}")


def emit_input(g: Graph, node: Node) -> str:
    """``(N, 150, 150, 3) uint8`` RGB → dlib's ``(N, 3, 150, 150)``: ``(x − mean) / 256``."""
    x = g.op("Cast", ["chips"], (150, 150, 3), to=1)
    mean = g.const("input_mean", node.args["mean"].reshape(1, 1, 1, 3))
    scale = g.const("input_scale", np.full((1, 1, 1, 1), 1.0 / 256.0, np.float32))
    x = g.op("Mul", [g.op("Sub", [x, mean], (150, 150, 3)), scale], (150, 150, 3))
    return g.op("Transpose", [x], (3, 150, 150), perm=[0, 3, 1, 2])


def emit_add(g: Graph, a: str, b: str) -> str:
    """dlib's ``add_prev``: sizes may differ; the missing part of the smaller is zeros."""
    shape = tuple(max(p, q) for p, q in zip(g.shapes[a], g.shapes[b]))
    return g.op("Add", [pad_to(g, a, shape), pad_to(g, b, shape)], shape)


def pad_to(g: Graph, x: str, shape: tuple[int, int, int]) -> str:
    have = g.shapes[x]
    if have == shape:
        return x
    pads = g.const(f"pads{len(g.weights)}", np.array([0, 0, 0, 0, 0, *(s - h for s, h in zip(shape, have))], np.int64))
    return g.op("Pad", [x, pads], shape)


def to_onnx(root: Node):
    """The ONNX model of the filled tree: input ``chips`` ``(N,150,150,3) uint8``, output ``descriptor`` ``(N,128)``."""
    import onnx
    from onnx import TensorProto, helper

    g = Graph()
    build(g, root.sub)
    g.nodes[-1].output[0] = "descriptor"  # the fc layer's output is the model's
    g.nodes[-1].name = "descriptor"
    graph = helper.make_graph(g.nodes, "dlib_face_recognition_resnet_model_v1", [
        helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", 150, 150, 3])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", 128])], g.weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vcam",
                              doc_string="dlib_face_recognition_resnet_model_v1 (CC0-1.0, Davis King), "
                                         "converted by models/convert/dlib_descriptor_to_onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --- checking it against dlib --------------------------------------------------------------------


def check(dat: Path, onnx_file: Path) -> float:
    """Largest |ONNX − dlib| over the test portraits (centre crops, 150×150) and 8 random chips."""
    import dlib
    import onnxruntime as ort
    from PIL import Image, ImageOps

    chips = [np.asarray(ImageOps.fit(Image.open(p).convert("RGB"), (150, 150))) for p in sorted(PORTRAITS.glob("*.jpg"))]
    rng = np.random.default_rng(0)
    chips += [rng.integers(0, 256, (150, 150, 3), np.uint8) for _ in range(8)]
    net = dlib.face_recognition_model_v1(str(dat))
    want = np.array(net.compute_face_descriptor(chips), np.float32)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {"chips": np.stack(chips)})[0]
    worst = float(np.abs(got - want).max())
    print(f"{len(chips)} chips ({len(chips) - 8} real): max |onnx - dlib| = {worst:.2e}, "
          f"max |dlib| = {np.abs(want).max():.3f}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dat", type=Path, help="dlib_face_recognition_resnet_model_v1.dat")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import onnx

    root = anet()
    read_net(Reader(args.dat.read_bytes()), root)
    model = to_onnx(root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model.SerializeToString())
    worst = check(args.dat, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")
    print(f"source {args.dat.name} sha256 {hashlib.sha256(args.dat.read_bytes()).hexdigest()}, onnx {onnx.__version__}")
    if worst > 1e-3:
        print("FAILED: the ONNX model does not match dlib", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
