"""The overlay: drawing only, ``draw(image, analysis, style) -> image``.

No I/O and no models here; see :func:`overlay.compose.draw` for the contract,
:mod:`overlay.gallery` for the meeting-gallery view (marks inside each tile, as
detailed as the tile allows), :mod:`overlay.text` for Unicode names,
:func:`overlay.placard.placard` for the frame sent while there is no source, and
:class:`overlay.style.Style` for what can be tuned.
"""

from overlay.compose import draw
from overlay.placard import placard
from overlay.style import Style

__all__ = ["Style", "draw", "placard"]
