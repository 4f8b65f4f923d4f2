"""Where the annotated video goes: the one place output specs are parsed, and the registry that makes outputs.

Specs (``vcam run --output SPEC``):

====================  ================================================
``vcam[:BACKEND]``    the virtual camera meeting apps see (pyvirtualcam;
                      BACKEND picks one, e.g. ``obs`` or ``unitycapture``)
``window``            a preview window on this screen
``file:PATH.mp4``     an H.264 recording
``none``              nowhere (frames are counted, then dropped)
====================  ================================================

A spec is parsed first, then built::

    spec = parse_output("vcam")                  # an OutputSpec: the text is checked, nothing is opened
    with make_output(spec, mirror=True) as out:  # the Output it names, opened by the with block
        out.send(image)

:data:`OUTPUTS` maps each kind of spec to the factory that makes its Output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vcam.errors import OutputSpecError
from vcam.outputs.base import Output, fit
from vcam.outputs.file import FileOutput
from vcam.outputs.null import NullOutput
from vcam.outputs.virtualcam import VirtualCamOutput
from vcam.outputs.window import WindowOutput

__all__ = ["OUTPUTS", "OUTPUT_SPECS", "Output", "OutputFactory", "OutputSpec", "fit", "make_output", "parse_output"]

OUTPUT_SPECS = "vcam[:BACKEND], window, file:PATH.mp4, none"


@dataclass(frozen=True)
class OutputSpec:
    """A parsed output spec: the kind of output and its arguments. Nothing is opened.

    Attributes:
        kind: ``vcam``, ``window``, ``file`` or ``none``: the key of its factory in :data:`OUTPUTS`.
        text: the spec as given, without surrounding spaces; the output's name.
        backend: the pyvirtualcam backend ``vcam:BACKEND`` names; None for ``vcam``: each one this OS has.
        path: the ``.mp4`` file, ``~`` expanded (``file``).
    """

    kind: str
    text: str
    backend: str | None = None
    path: Path | None = None


# -- parse ---------------------------------------------------------------------------------------------------

def parse_output(spec: str) -> OutputSpec:
    """The :class:`OutputSpec` ``spec`` names (see the module docstring for the forms). Pure: it opens nothing.

    Raises:
        OutputSpecError: ``spec`` is not one of the forms; the message names it and lists the valid ones.
    """
    text = spec.strip()
    kind, colon, arg = text.partition(":")
    parse = _PARSERS.get(kind)
    if parse is None or (colon and parse is _bare):
        raise OutputSpecError(f"unknown output {text!r}: expected one of {OUTPUT_SPECS}")
    return parse(text, arg if colon else None)


def _bare(text: str, arg: str | None) -> OutputSpec:
    """``window`` or ``none``: a kind that takes no argument."""
    return OutputSpec(text, text)


def _vcam(text: str, arg: str | None) -> OutputSpec:
    if arg is None:
        return OutputSpec("vcam", text)
    if not arg.strip():
        raise OutputSpecError(f"bad output {text!r}: expected vcam or vcam:BACKEND, e.g. vcam:obs; valid outputs: {OUTPUT_SPECS}")
    return OutputSpec("vcam", text, backend=arg.strip())


def _file(text: str, arg: str | None) -> OutputSpec:
    if not (arg or "").strip():
        raise OutputSpecError(f"bad output {text!r}: expected file:PATH.mp4, e.g. file:out.mp4; valid outputs: {OUTPUT_SPECS}")
    path = Path(arg.strip()).expanduser()
    if path.suffix.lower() != ".mp4":
        raise OutputSpecError(f"bad output {text!r}: the file must end in .mp4 (H.264), e.g. file:out.mp4; valid outputs: {OUTPUT_SPECS}")
    return OutputSpec("file", text, path=path)


_PARSERS = {"vcam": _vcam, "window": _bare, "file": _file, "none": _bare}
"""Spec kind (the part before ``:``) → its parser."""


# -- build ---------------------------------------------------------------------------------------------------

class OutputFactory(Protocol):
    """Makes the Output of one kind from its parsed spec, not yet opened."""

    def __call__(self, spec: OutputSpec, *, width: int, height: int, fps: float, mirror: bool) -> Output:
        """See :func:`make_output` for the arguments."""


def make_output(spec: str | OutputSpec, *, width: int = 1280, height: int = 720, fps: float = 30.0,
                mirror: bool = False) -> Output:
    """Make the output a spec names, not yet opened: use it in a ``with`` block.

    Args:
        spec: a spec (see the module docstring), or one :func:`parse_output` already parsed.
        width, height: size of the delivered frames in pixels, within :data:`vcam.limits.WIDTH` and
            :data:`vcam.limits.HEIGHT`; images of any size are letterboxed to it. Keep 1280×720 for the
            virtual camera.
        fps: the rate the caller will send at, frames per second, within :data:`vcam.limits.STREAM_FPS`.
        mirror: flip frames left-right, as meeting apps mirror a self-view.

    Raises:
        OutputSpecError: the spec does not parse, or no factory is registered for its kind.
        ConfigError: width, height or fps is out of range.
    """
    parsed = parse_output(spec) if isinstance(spec, str) else spec
    if parsed.kind not in OUTPUTS:
        raise OutputSpecError(f"unknown output kind {parsed.kind!r} in {parsed.text!r}: "
                              f"known kinds are {', '.join(OUTPUTS)}")
    return OUTPUTS[parsed.kind](parsed, width=width, height=height, fps=fps, mirror=mirror)


def _make_vcam(spec: OutputSpec, **size: Any) -> Output:
    return VirtualCamOutput(spec.text, backend=spec.backend, **size)


def _make_window(spec: OutputSpec, **size: Any) -> Output:
    return WindowOutput(spec.text, **size)


def _make_file(spec: OutputSpec, **size: Any) -> Output:
    return FileOutput(spec.path, name=spec.text, **size)


def _make_none(spec: OutputSpec, **size: Any) -> Output:
    return NullOutput(spec.text, **size)


OUTPUTS: dict[str, OutputFactory] = {
    "vcam": _make_vcam,
    "window": _make_window,
    "file": _make_file,
    "none": _make_none,
}
"""Output kind → the factory that makes it (as pyvirtualcam keeps its backends by name); ``size`` is the
keyword arguments of :class:`OutputFactory`.

A new kind of output needs a module with its Output, a factory here, and a parser in ``_PARSERS``.
"""
