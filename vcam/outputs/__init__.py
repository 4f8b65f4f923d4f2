"""Where the annotated video goes, and the one place output specs are parsed.

Specs (``vcam run --output SPEC``):

====================  ================================================
``vcam[:BACKEND]``    the virtual camera meeting apps see (pyvirtualcam;
                      BACKEND picks one, e.g. ``obs`` or ``unitycapture``)
``window``            a preview window on this screen
``file:PATH.mp4``     an H.264 recording
``none``              nowhere (frames are counted, then dropped)
====================  ================================================

::

    with open_output("vcam", mirror=True) as out:
        out.send(image)
"""

from __future__ import annotations

from pathlib import Path

from vcam.errors import OutputSpecError
from vcam.outputs.base import Output, fit
from vcam.outputs.file import FileOutput
from vcam.outputs.null import NullOutput
from vcam.outputs.virtualcam import VirtualCamOutput
from vcam.outputs.window import WindowOutput

__all__ = ["OUTPUTS", "OUTPUT_SPECS", "Output", "fit", "open_output"]

OUTPUTS: dict[str, type[Output]] = {
    "vcam": VirtualCamOutput,
    "window": WindowOutput,
    "file": FileOutput,
    "none": NullOutput,
}
"""Output kind (the part of a spec before ``:``) → class."""

OUTPUT_SPECS = "vcam[:BACKEND], window, file:PATH.mp4, none"


def open_output(spec: str, *, width: int = 1280, height: int = 720, fps: float = 30.0, mirror: bool = False) -> Output:
    """Make the output a spec names (not yet opened; use it in a ``with`` block).

    Args:
        spec: see the module docstring.
        width, height: size of the delivered frames in pixels; images of any
            size are letterboxed to it. Keep 1280×720 for the virtual camera.
        fps: the rate the caller will send at, frames per second.
        mirror: flip frames left-right, as meeting apps mirror a self-view.

    Raises:
        OutputSpecError: the spec is not one of the forms above.
        ConfigError: width, height or fps is out of range.
    """
    spec = spec.strip()
    kind, colon, arg = spec.partition(":")
    size = {"width": width, "height": height, "fps": fps, "mirror": mirror}
    if kind not in OUTPUTS or (colon and kind in ("window", "none")):
        raise OutputSpecError(f"unknown output {spec!r}: expected one of {OUTPUT_SPECS}")
    if kind == "file":
        return FileOutput(_mp4_path(spec, arg), name=spec, **size)
    if kind == "vcam" and colon:
        return _vcam_backend(spec, arg, size)
    return OUTPUTS[kind](spec, **size)


def _mp4_path(spec: str, arg: str) -> Path:
    if not arg.strip():
        raise OutputSpecError(f"bad output {spec!r}: expected file:PATH.mp4, e.g. file:out.mp4; valid outputs: {OUTPUT_SPECS}")
    path = Path(arg.strip()).expanduser()
    if path.suffix.lower() != ".mp4":
        raise OutputSpecError(f"bad output {spec!r}: the file must end in .mp4 (H.264), e.g. file:out.mp4; valid outputs: {OUTPUT_SPECS}")
    return path


def _vcam_backend(spec: str, arg: str, size: dict) -> Output:
    if not arg.strip():
        raise OutputSpecError(f"bad output {spec!r}: expected vcam or vcam:BACKEND, e.g. vcam:obs; valid outputs: {OUTPUT_SPECS}")
    return VirtualCamOutput(spec, backend=arg.strip(), **size)
