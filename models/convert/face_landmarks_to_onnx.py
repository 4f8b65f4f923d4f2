"""Convert MediaPipe's face mesh and iris models (tflite) to ONNX with a dynamic batch, and check them.

Shipped in ``vcam/assets/models/landmarks/`` (manifest ``face-mesh-onnx`` and ``iris-landmarks-onnx``):
vcam runs the original .tflite files with LiteRT (``ai-edge-litert``) wherever it imports, and these
ONNX files with onnxruntime where it does not: LiteRT has no Windows wheel. LiteRT stays first because
under onnxruntime 1.32 these ONNX files ran slower on this 2-core machine (see ``bench/README.md``,
``landmarks_speed.py``'s ``onnx`` variants; XNNPACK's fused convolution + PReLU has no onnxruntime
CPU counterpart).

Source: ``mediapipe==0.10.21`` (PyPI, Apache-2.0), files
``mediapipe/modules/face_landmark/face_landmark.tflite`` (468-point face mesh,
input ``(1, 192, 192, 3)`` RGB float32 in 0..1; outputs ``(1, 1, 1, 1404)`` =
468 × (x, y, z) in input pixels, and ``(1, 1, 1, 1)`` the face-presence logit) and
``mediapipe/modules/iris_landmark/iris_landmark.tflite`` (one eye, input
``(1, 64, 64, 3)`` RGB float32 in 0..1; outputs ``(1, 213)`` = 71 eye contour and
brow points and ``(1, 15)`` = 5 iris points, x, y, z in input pixels).

tf2onnx reads the tflite files as they are (opset 13). Both graphs are plain
convolutions; their only batch-bound parts are the input and output shapes and
the final Reshape ops, whose target shape is rewritten to ``[0, ...]`` (0 = keep
the batch). The file is canonicalised like the emotion model (deterministic node
order and names, batch dim ``N``), so re-running the conversion gives the same bytes.

The check runs the ORIGINAL tflite models with TensorFlow Lite, one image at a
time, and the ONNX models with onnxruntime on the same images as one batch
(face crops cut from ``tests/data/grace_hopper.jpg`` and ``astronaut.jpg`` at
several scales and angles, plus noise), and fails if any output differs by more
than ``TOLERANCE`` (pixels of the model input, or logits).

Run from the repository root, in a throwaway environment (never vcam's)::

    python3.11 -m venv /tmp/lmconv
    /tmp/lmconv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.16.2 \\
        onnxruntime==1.19.2 numpy==1.26.4 protobuf==3.20.3
    /tmp/lmconv/bin/python models/convert/face_landmarks_to_onnx.py \\
        --mediapipe .venv/lib/python3.11/site-packages/mediapipe

It writes ``face_landmark.onnx``, ``iris_landmark.onnx`` and ``LICENSE-mediapipe.txt`` to ``--out``
(default ``/tmp/vcam-landmarks-onnx``; ``--out vcam/assets/models/landmarks`` replaces the shipped files)
and prints the sha256 of each file (the files are reproducible byte for byte: face 8ef171b5…941e, iris
b130fb53…63ff with these pins, the manifest's). CI never runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
TOLERANCE = 1e-3
MODELS = {  # ONNX name: path inside the mediapipe package
    "face_landmark": "modules/face_landmark/face_landmark.tflite",
    "iris_landmark": "modules/iris_landmark/iris_landmark.tflite",
}

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fer_emotion_to_onnx import canonical, sha256  # noqa: E402  (same folder: one canonical form for all)


def dynamic_batch(model):
    """Rewrite each Reshape's constant target shape to keep the batch (``[1, ...]`` → ``[0, ...]``)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            assert shape[0] in (0, 1), f"unexpected Reshape target {shape} in {node.name}"  # 0: shared, done
            shape[0] = 0
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    return model


def convert_one(tflite: Path, out: Path) -> None:
    """``tflite`` → ONNX at ``out`` with a dynamic batch, checked by onnx."""
    import onnx
    import tf2onnx

    model, _ = tf2onnx.convert.from_tflite(str(tflite), opset=13)
    model = canonical(dynamic_batch(model))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(out))


def sample_inputs(size: int):
    """``(K, size, size, 3)`` float32 in 0..1: face crops of two test photos (scaled, rotated, shifted) and noise."""
    import numpy as np
    import tensorflow as tf

    crops = []
    for name, box in (("grace_hopper.jpg", (110, 60, 300, 330)), ("astronaut.jpg", (150, 20, 200, 220))):
        image = tf.io.decode_jpeg(tf.io.read_file(str(DATA / name))).numpy().astype(np.float32) / 255
        x, y, w, h = box
        for grow in (0, 40, -30):
            crop = image[max(0, y - grow):y + h + grow, max(0, x - grow):x + w + grow]
            crop = tf.image.resize(crop, (size, size)).numpy()
            crops += [crop, np.rot90(crop).copy(), crop[:, ::-1].copy()]
    crops.append(np.random.default_rng(0).random((size, size, 3), np.float32))
    return np.stack(crops).astype(np.float32)


def check(tflite: Path, onnx_file: Path) -> float:
    """Max |ONNX batch − TFLite one by one| over :func:`sample_inputs`, for every output."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    interp = tf.lite.Interpreter(str(tflite))
    interp.allocate_tensors()
    size = interp.get_input_details()[0]["shape"][1]
    batch = sample_inputs(size)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    ours = session.run(None, {session.get_inputs()[0].name: batch})
    names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for k, x in enumerate(batch):
        interp.set_tensor(interp.get_input_details()[0]["index"], x[None])
        interp.invoke()
        ref = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
        for name, value in zip(names, ours):
            worst = max(worst, float(np.abs(value[k:k + 1] - ref[name].reshape(value[k:k + 1].shape)).max()))
    print(f"{onnx_file.name}: inputs {session.get_inputs()[0].shape}, outputs "
          f"{[o.shape for o in session.get_outputs()]}; max |ONNX - TFLite| over {len(batch)} inputs {worst:.2e}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mediapipe", required=True, type=Path, help="the installed mediapipe==0.10.21 package folder")
    parser.add_argument("--out", type=Path, default=Path("/tmp/vcam-landmarks-onnx"), help="where the ONNX files go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, relative in MODELS.items():
        tflite, out = args.mediapipe / relative, args.out / f"{name}.onnx"
        convert_one(tflite, out)
        diff = check(tflite, out)
        print(f"tflite sha256 {sha256(tflite)}\nonnx sha256 {sha256(out)}")
        assert diff <= TOLERANCE, f"{out.name} differs from TFLite by {diff} > {TOLERANCE}"
    shutil.copyfile(mediapipe_license(args.mediapipe), args.out / "LICENSE-mediapipe.txt")


def mediapipe_license(package: Path) -> Path:
    """The LICENSE of the mediapipe distribution next to ``package`` (checked to be 0.10.21)."""
    info = next(package.parent.glob("mediapipe-*.dist-info"))
    assert info.name == "mediapipe-0.10.21.dist-info", f"expected mediapipe 0.10.21, found {info.name}"
    return next(p for p in info.rglob("LICENSE*"))


if __name__ == "__main__":
    main()
