"""The overlay: drawing only, ``draw(image, analysis, style) -> image``.

No I/O and no models here; see :func:`overlay.compose.draw` for the contract and
:class:`overlay.style.Style` for what can be tuned.
"""

from overlay.compose import draw
from overlay.style import Style

__all__ = ["Style", "draw"]
