"""The ``none`` output: frames go nowhere, but are counted.

For analysis-only runs (``vcam run --output none``), benchmarks, and tests.
"""

from __future__ import annotations

import numpy as np

from vcam.outputs.base import Output


class NullOutput(Output):
    """Discards every frame; :attr:`frames_sent` still counts them.

    Args:
        width, height, fps, mirror: see :class:`~vcam.outputs.base.Output`
            (frames are still fitted, so timings match a real output).
    """

    def __init__(self, name: str = "none", *, width: int = 1280, height: int = 720, fps: float = 30.0, mirror: bool = False) -> None:
        super().__init__(name, width=width, height=height, fps=fps, mirror=mirror)

    def _open(self) -> None:
        """Nothing to acquire."""

    def _write(self, frame: np.ndarray) -> None:
        """Drop ``frame``."""
