"""Convert face-api's face expression net (tfjs, uint8-quantised weights) to ONNX with numpy and onnx only.

Source: npm ``@vladmandic/face-api@1.7.15`` (MIT, Copyright (c) Vladimir Mandic),
files ``model/face_expression_model-weights_manifest.json`` and
``model/face_expression_model.bin`` (329 468 bytes). The weights are face-api.js
0.22.2's (MIT, Copyright (c) 2018 Vincent Mühler). The network is written in the
package's ``src/faceFeatureExtractor/`` and ``src/faceExpressionNet/``:

- input: a ``(N, 112, 112, 3)`` RGB batch, 0..255; ``(x − [122.782, 117.001, 104.298]) / 255``
  (``FaceFeatureExtractor.forwardInput``);
- four dense blocks (``denseBlock4``): ``out1 = relu(conv0(x))`` with stride 2 (``dense0``:
  a 3×3 convolution 3→32; ``dense1..3``: depthwise-separable, 32→64→128→256), then three
  depthwise-separable 3×3 convolutions with stride 1, each fed the relu of the sum of
  all outputs before it; the block's output is ``relu(out1 + out2 + out3 + out4)``.
  112 → 56 → 28 → 14 → 7 pixels; TensorFlow's 'same' padding (the extra pixel after);
- a 7×7 average pool ('valid', stride 2) → 256 features, a fully connected layer → 7 logits,
  softmax (``FaceExpressionNet.forwardInput``), in face-api's class order
  ``neutral, happy, sad, angry, fearful, disgusted, surprised`` (``FACE_EXPRESSION_LABELS``).

The ONNX model keeps that layout: input ``input`` ``(N, 112, 112, 3)`` float32 RGB in
0..255 (NHWC, the normalisation inside the graph), output ``probabilities`` ``(N, 7)``
in face-api's class order. tfjs's uint8 quantisation is undone as tfjs does it
(``value = q × scale + min``, in double precision, then float32). The file is reproducible byte for byte.

Steps, from the repository root:

1. The package, into a temporary folder (nothing of it is committed but the model and
   its license texts, which ship in vcam's wheel)::

       mkdir -p /tmp/faceapi && cd /tmp/faceapi
       npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz
       npm pack face-api.js@0.22.2 && mkdir fajs && tar xzf face-api.js-0.22.2.tgz -C fajs  # its LICENSE

2. The conversion, in vcam's venv plus ``onnx`` (a converter-only dependency, not
   vcam's: ``.venv/bin/pip install onnx==1.19.1``)::

       .venv/bin/python models/convert/face_api_expression_to_onnx.py convert \\
           /tmp/faceapi/package /tmp/faceapi/fajs/package

   Writes ``vcam/assets/models/emotion/face_api_expression.onnx``, copies both
   ``LICENSE`` files beside it (``LICENSE-vladmandic-face-api.txt``,
   ``LICENSE-face-api-js.txt``) and prints the sha256 for the manifest.

3. Reference crops and face-api's own outputs for them::

       .venv/bin/python models/convert/face_api_expression_to_onnx.py crops
       cd /tmp/faceapi && npm install @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 \\
           @tensorflow/tfjs-backend-wasm@4.22.0 pngjs@7.0.0
       NODE_PATH=/tmp/faceapi/node_modules node models/convert/face_api_expression_golden.mjs

   ``crops`` writes the 112×112 RGB face crops vcam's emotion stage cuts for this model
   from the boxes in ``tests/data/emotion/golden.json`` to ``tests/data/emotion/face-api/``;
   the node script runs face-api's own ``FaceExpressionNet`` (tfjs 4.22, CPU backend,
   pure JavaScript) on them and writes ``tests/data/emotion/face-api/golden.json``.

4. ``.venv/bin/python models/convert/face_api_expression_to_onnx.py check`` compares the
   ONNX model with that file (max |diff| ≤ 1e-5), as ``tests/pipeline/test_emotion_face_api.py`` does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger("face_api_expression_to_onnx")

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "vcam" / "assets" / "models" / "emotion"  # vcam's package data
ONNX_FILE = OUT_DIR / "face_api_expression.onnx"
CROPS_DIR = ROOT / "tests" / "data" / "emotion" / "face-api"
GOLDEN = CROPS_DIR / "golden.json"
BOXES = ROOT / "tests" / "data" / "emotion" / "golden.json"  # the fer crops' images and face boxes
MANIFEST = "model/face_expression_model-weights_manifest.json"
LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]  # face-api's order
MEAN_RGB = [122.782, 117.001, 104.298]
SIZE = 112
TOLERANCE = 1e-5
OPSET = 13


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the weights ------------------------------------------------------------------------


def read_weights(package: Path) -> dict[str, np.ndarray]:
    """Every tensor of the tfjs weights manifest, dequantised to float32, by name (tfjs shapes)."""
    groups = json.loads((package / MANIFEST).read_text())
    weights: dict[str, np.ndarray] = {}
    for group in groups:
        data = b"".join((package / "model" / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            weights[spec["name"]], offset = _take(data, offset, spec)
        if offset != len(data):
            raise ValueError(f"weights use {offset} bytes of {len(data)} in {group['paths']}")
    return weights


def _take(data: bytes, offset: int, spec: dict) -> tuple[np.ndarray, int]:
    """One tensor at ``offset`` of the binary: ``(float32 array, offset after it)``.

    tfjs's ``quantization: {dtype: uint8, scale, min}`` means ``value = q × scale + min``
    (tfjs ``io.decodeWeights``: computed in double precision, stored as float32).
    """
    count = int(np.prod(spec["shape"], dtype=np.int64))
    quant = spec.get("quantization")
    if quant is None:
        values = np.frombuffer(data, "<f4", count, offset)
        return values.reshape(spec["shape"]).copy(), offset + 4 * count
    if quant["dtype"] != "uint8":
        raise ValueError(f"{spec['name']}: quantisation {quant['dtype']} is not handled (uint8 only)")
    q = np.frombuffer(data, np.uint8, count, offset).astype(np.float64)
    values = q * float(quant["scale"]) + float(quant["min"])
    return values.reshape(spec["shape"]).astype(np.float32), offset + count


# -- the graph ----------------------------------------------------------------------------


class Graph:
    """A small ONNX graph builder: nodes and initializers with deterministic names."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights, self.nodes, self.inits, self.count = weights, [], [], 0

    def const(self, name: str, value: np.ndarray) -> str:
        """An initializer named ``name`` holding ``value`` (float32 unless it is int64)."""
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        """Add one node; returns its (single) output's name."""
        from onnx import helper

        self.count += 1
        out = f"t{self.count}_{op_type}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self.count}_{op_type}", **attrs))
        return out

    def conv(self, x: str, name: str, kernel: np.ndarray, stride: int, size: int, group: int = 1) -> str:
        """A 3×3 or 1×1 convolution with TF 'same' padding on a ``size``-pixel square input.

        ``kernel`` is in ONNX layout ``(out, in / group, kh, kw)``.
        """
        k = kernel.shape[-1]
        total = max((-(-size // stride) - 1) * stride + k - size, 0)  # TF: the odd pixel goes after
        pads = [total // 2, total // 2, total - total // 2, total - total // 2]
        return self.op("Conv", [x, self.const(name, kernel)], kernel_shape=[k, k], strides=[stride, stride],
                       pads=pads, group=group)

    def bias(self, x: str, name: str) -> str:
        """Add the ``(C,)`` bias ``name`` of the weights along the channel axis of NCHW ``x``."""
        return self.op("Add", [x, self.const(name, self.weights[name].reshape(1, -1, 1, 1))])

    def separable(self, x: str, prefix: str, stride: int, size: int) -> str:
        """tfjs ``separableConv2d`` + bias: depthwise 3×3 (``[3, 3, C, 1]``) then pointwise (``[1, 1, C, D]``)."""
        depth = self.weights[f"{prefix}/depthwise_filter"]
        point = self.weights[f"{prefix}/pointwise_filter"]
        x = self.conv(x, f"{prefix}/depthwise_filter", depth.transpose(2, 3, 0, 1), stride, size,
                      group=depth.shape[2])
        x = self.conv(x, f"{prefix}/pointwise_filter", point.transpose(3, 2, 0, 1), 1, -(-size // stride))
        return self.bias(x, f"{prefix}/bias")

    def first_conv(self, x: str, prefix: str, size: int) -> str:
        """tfjs ``conv2d`` (stride 2, 'same') + bias with a ``[3, 3, in, out]`` filter."""
        filters = self.weights[f"{prefix}/filters"]
        return self.bias(self.conv(x, f"{prefix}/filters", filters.transpose(3, 2, 0, 1), 2, size), f"{prefix}/bias")

    def dense_block(self, x: str, prefix: str, size: int, first: bool) -> str:
        """face-api's ``denseBlock4`` on a ``size``-pixel square input (its output is half as wide)."""
        conv0 = self.first_conv(x, f"{prefix}/conv0", size) if first else self.separable(x, f"{prefix}/conv0", 2, size)
        outs = [self.op("Relu", [conv0])]
        for k in (1, 2, 3):
            previous = outs[0] if k == 1 else self.op("Relu", [self.sum(outs)])
            outs.append(self.separable(previous, f"{prefix}/conv{k}", 1, size // 2))
        return self.op("Relu", [self.sum(outs)])

    def sum(self, xs: list[str]) -> str:
        """``xs[0] + (xs[1] + (…))``: the order face-api adds them in (float32 sums are not associative)."""
        total = xs[-1]
        for x in reversed(xs[:-1]):
            total = self.op("Add", [x, total])
        return total


def build(weights: dict[str, np.ndarray]):
    """The ONNX model: ``input`` ``(N, 112, 112, 3)`` RGB 0..255 → ``probabilities`` ``(N, 7)``."""
    from onnx import TensorProto, helper

    g = Graph(weights)
    mean = np.array(MEAN_RGB, np.float32).reshape(1, 1, 1, 3)
    x = g.op("Sub", ["input", g.const("mean_rgb", mean)])
    x = g.op("Div", [x, g.const("255", np.array(255.0, np.float32))])
    x = g.op("Transpose", [x], perm=[0, 3, 1, 2])
    size = SIZE
    for k in range(4):
        x, size = g.dense_block(x, f"dense{k}", size, first=k == 0), size // 2
    x = g.op("AveragePool", [x], kernel_shape=[7, 7], strides=[2, 2])
    x = g.op("Flatten", [x], axis=1)
    x = g.op("MatMul", [x, g.const("fc/weights", weights["fc/weights"])])
    x = g.op("Add", [x, g.const("fc/bias", weights["fc/bias"])])
    g.nodes.append(helper.make_node("Softmax", [x], ["probabilities"], name="softmax", axis=-1))
    graph = helper.make_graph(
        g.nodes, "face_api_expression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(LABELS)])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vcam")
    model.ir_version = 8  # what onnxruntime >= 1.15 reads
    helper.set_model_props(model, {"labels": ",".join(LABELS), "source": "@vladmandic/face-api@1.7.15"})
    return model


def convert(package: Path, face_api_js: Path) -> None:
    """Write the ONNX model and both license texts; log the sha256s."""
    import onnx

    version = json.loads((package / "package.json").read_text())["version"]
    if version != "1.7.15":
        raise SystemExit(f"expected @vladmandic/face-api 1.7.15 in {package}, found {version}")
    model = build(read_weights(package))
    onnx.checker.check_model(model, full_check=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(ONNX_FILE))
    shutil.copyfile(package / "LICENSE", OUT_DIR / "LICENSE-vladmandic-face-api.txt")
    shutil.copyfile(face_api_js / "LICENSE", OUT_DIR / "LICENSE-face-api-js.txt")
    log.info("bin sha256 %s", sha256(package / "model" / "face_expression_model.bin"))
    log.info("wrote %s (%d bytes), sha256 %s", ONNX_FILE, ONNX_FILE.stat().st_size, sha256(ONNX_FILE))


# -- crops and the check (vcam's environment) ------------------------------------------


def make_crops() -> None:
    """Write the 112×112 RGB crop the emotion stage cuts for this model, for each face box of BOXES."""
    import cv2

    from vcam.pipeline.emotion_crop import CropSpec, face_crop

    spec = CropSpec(size=SIZE, colour="rgb")
    CROPS_DIR.mkdir(parents=True, exist_ok=True)
    entries = []
    for entry in json.loads(BOXES.read_text())["crops"]:
        image = cv2.imread(str(ROOT / "tests" / "data" / entry["image"]))
        crop = face_crop(image, np.array(entry["bbox"], np.float32), spec)
        cv2.imwrite(str(CROPS_DIR / entry["crop"]), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        entries.append({"crop": entry["crop"], "image": entry["image"], "bbox": entry["bbox"]})
    GOLDEN.write_text(json.dumps({"crops": entries}, indent=1) + "\n")
    log.info("%d crops written to %s", len(entries), CROPS_DIR)


def check() -> float:
    """Max |ONNX − face-api (tfjs)| over the committed crops; raises if above TOLERANCE."""
    import cv2
    import onnxruntime as ort

    golden = json.loads(GOLDEN.read_text())
    batch = np.stack([cv2.cvtColor(cv2.imread(str(CROPS_DIR / e["crop"])), cv2.COLOR_BGR2RGB)
                      for e in golden["crops"]]).astype(np.float32)
    session = ort.InferenceSession(str(ONNX_FILE), providers=["CPUExecutionProvider"])
    probs = session.run(None, {"input": batch})[0]
    diff = float(np.abs(probs - np.array([e["probs"] for e in golden["crops"]], np.float32)).max())
    log.info("max |ONNX - tfjs| over %d crops: %.2e (tolerance %.0e)", len(batch), diff, TOLERANCE)
    if diff > TOLERANCE:
        raise SystemExit(f"ONNX differs from face-api's tfjs run by {diff} > {TOLERANCE}")
    return diff


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["convert", "crops", "check"])
    parser.add_argument("package", nargs="?", type=Path, help="convert: the unpacked @vladmandic/face-api package/")
    parser.add_argument("face_api_js", nargs="?", type=Path, help="convert: the unpacked face-api.js 0.22.2 package/")
    args = parser.parse_args()
    if args.step == "convert":
        if args.package is None or args.face_api_js is None:
            parser.error("convert needs PACKAGE and FACE_API_JS (see the module docstring)")
        convert(args.package, args.face_api_js)
    else:
        make_crops() if args.step == "crops" else check()


if __name__ == "__main__":
    main()
