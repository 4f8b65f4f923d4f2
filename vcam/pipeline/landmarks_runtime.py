"""The landmarks stage's two models and how they run: LiteRT on the shipped .tflite files where it imports,
else onnxruntime on their ONNX conversions (Windows: LiteRT has no wheel there). See
:mod:`vcam.pipeline.landmarks` for the stage, its accuracy and its speed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vcam.errors import ModelError

FIX = "reinstall mediapipe==0.10.21 with `bash installer/linux/dev.sh setup`, which holds both landmark models"
"""What to do when a landmark model is missing or broken."""
RUNTIMES = ("auto", "litert", "onnx")
"""How :class:`Landmarks` runs its two models: ``"litert"`` the .tflite files under LiteRT (``ai-edge-litert``,
fastest), ``"onnx"`` their ONNX conversions under onnxruntime (everywhere, Windows included: LiteRT has no
Windows wheel), ``"auto"`` LiteRT when it imports, else onnxruntime."""
MODEL_NAMES = {"litert": ("face-mesh", "iris-landmarks"), "onnx": ("face-mesh-onnx", "iris-landmarks-onnx")}
"""The manifest's ``(mesh, iris)`` models of each runtime."""
RUNTIME_LABELS = {"litert": "LiteRT (ai-edge-litert)", "onnx": "onnxruntime (ONNX conversions)"}
ONNX_FIX = ("reinstall vcam, or rebuild the file with models/convert/face_landmarks_to_onnx.py "
            "(see vcam/assets/models/landmarks/README.md)")


def litert_interpreter() -> type | None:
    """LiteRT's ``Interpreter`` class, or None when ``ai_edge_litert`` does not import (no wheel on Windows)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    return Interpreter


def choose_runtime(runtime: str = "auto") -> str:
    """``"litert"`` or ``"onnx"``: the runtime ``runtime`` (one of :data:`RUNTIMES`) stands for here.

    Raises:
        ValueError: ``runtime`` is not one of :data:`RUNTIMES`.
        ImportError: ``"litert"`` was asked for and ``ai_edge_litert`` does not import.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime == "onnx":
        return "onnx"
    if litert_interpreter() is not None:
        return "litert"
    if runtime == "litert":
        raise ImportError("runtime 'litert' needs ai-edge-litert, which does not import here (it has no Windows "
                          "wheel): `pip install ai-edge-litert==1.4.0`, or use runtime='auto' or 'onnx'")
    return "onnx"


class LiteRTModel:
    """One ``.tflite`` model under LiteRT; its input is resized when the batch size changes.

    Args:
        path: the ``.tflite`` file (verified by :func:`vcam.models.model_path` when it comes from the manifest).
        name: its manifest name, for errors.
        size: the side in pixels of its square RGB input, checked.
        threads: XNNPACK threads. 2 uses the second core; see :class:`Landmarks`.

    Raises:
        ModelError: the file is missing, LiteRT cannot load it, or its input is not ``(1, size, size, 3)``.
    """

    def __init__(self, path: Path, name: str, size: int, threads: int) -> None:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model {name} is missing: expected a file at {path}; {FIX}")
        try:
            self._interp = litert_interpreter()(model_path=str(path), num_threads=threads)
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"model {name} at {path} cannot be loaded by LiteRT ({err}); {FIX}") from err
        self._input = self._interp.get_input_details()[0]
        if list(self._input["shape"]) != [1, size, size, 3]:
            raise ModelError(f"model {name} at {path} is not the {name} model: expected an input "
                             f"(1, {size}, {size}, 3), got {tuple(self._input['shape'])}; {FIX}")
        self._outputs = sorted(self._interp.get_output_details(), key=lambda d: d["name"])
        self._batch = 0

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """``(N, S, S, 3) float32`` → the outputs sorted by tensor name, each ``(N, K)``."""
        if len(batch) != self._batch:
            self._interp.resize_tensor_input(self._input["index"], list(batch.shape))
            self._interp.allocate_tensors()
            self._batch = len(batch)
        self._interp.set_tensor(self._input["index"], batch)
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).reshape(len(batch), -1) for d in self._outputs]


class OnnxModel:
    """The ONNX conversion of one of the models (dynamic batch) under onnxruntime, CPU.

    Args and Raises: as :class:`LiteRTModel`; the input checked is ``(N, size, size, 3)``.
    """

    def __init__(self, path: Path, name: str, size: int, threads: int) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model {name} is missing: expected a file at {path}; {ONNX_FIX}")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"model {name} at {path} cannot be loaded by onnxruntime "
                             f"({' '.join(str(err).split())[:200]}); {ONNX_FIX}") from err
        self._input = self._session.get_inputs()[0]
        if list(self._input.shape[1:]) != [size, size, 3]:
            raise ModelError(f"model {name} at {path} is not the {name} model: expected an input "
                             f"(N, {size}, {size}, 3), got {tuple(self._input.shape)}; {ONNX_FIX}")
        self._outputs = sorted(o.name for o in self._session.get_outputs())

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """``(N, S, S, 3) float32`` → the outputs sorted by tensor name (as LiteRT's), each ``(N, K)``."""
        return [o.reshape(len(batch), -1) for o in self._session.run(self._outputs, {self._input.name: batch})]


Model = LiteRTModel | OnnxModel
BACKENDS: dict[str, type[LiteRTModel] | type[OnnxModel]] = {"litert": LiteRTModel, "onnx": OnnxModel}


def run_batched(model: Model, batch: np.ndarray, rows: int) -> list[np.ndarray]:
    """``model`` on ``(N, S, S, 3) float32``, ``rows`` rows per call: its outputs, each ``(N, K)``."""
    parts = [model.run(batch[k:k + rows]) for k in range(0, len(batch), max(1, rows))]
    return [np.concatenate(p) for p in zip(*parts)]


def as_input(crops: list[np.ndarray]) -> np.ndarray:
    """``(N, S, S, 3) float32`` RGB in 0..1 from ``N`` BGR uint8 crops (one conversion for the batch, not one
    per crop)."""
    return np.stack(crops)[..., ::-1].astype(np.float32) * np.float32(1 / 255)


# -- the stage -----------------------------------------------------------------------
