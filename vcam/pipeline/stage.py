"""The contract every pipeline stage keeps, and two small adapters.

A stage is any object with::

    name: str                                   "pose", "emotion", ...: timings and errors use it
    feature: str | None                         the feature that switches it (vcam.features), None: always runs
    __call__(frame, faces) -> faces             one frame; no I/O; raises anything (the analyzer reports it)
    forget(track_ids: set[int]) -> None         drop per-track state of every track NOT in track_ids (the live ones)
    close() -> None                             free models and threads; may be called more than once

Stages are built once and used by the analysis thread only, so they hold no locks (the identity
stage's own worker thread is its business).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from vcam.types import Faces, Frame

log = logging.getLogger(__name__)


@runtime_checkable
class Stage(Protocol):
    """One step of the analysis (see the module docstring)."""

    name: str
    feature: str | None

    def __call__(self, frame: Frame, faces: Faces) -> Faces: ...

    def forget(self, track_ids: set[int]) -> None: ...

    def close(self) -> None: ...


class Step:
    """A stage made of a function, for a stage's second step (the tracker's start and confirm).

    Args:
        name: the step's name.
        run: ``(frame, faces) -> faces``.
        feature: the feature that switches it, or None.
    """

    def __init__(self, name: str, run: Callable[[Frame, Faces], Faces], feature: str | None = None) -> None:
        self.name, self.feature, self._run = name, feature, run

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        return self._run(frame, faces)

    def forget(self, track_ids: set[int]) -> None:
        """Nothing to forget: the owner keeps the state."""

    def close(self) -> None:
        """Nothing to free: the owner does."""


class Lazy:
    """A stage built the first time it runs, and built afresh after :meth:`close`.

    For stages with a model that only some presenters switch on (identity, emotion): nothing is
    loaded until the feature is on, and a stage switched off after failing is rebuilt when it is
    switched on again. A failure to build (a missing model) is raised from the call, so the
    analyzer reports it as that stage's error.

    With ``choice``, the stage is also rebuilt when what ``choice()`` returns changes (the emotion
    model chosen in the tray): the old stage is closed and the new one built at the next call, on
    the thread that runs the stages, so no other thread ever touches a stage; its per-track state
    starts afresh.

    Args:
        name, feature: as every stage.
        make: builds the real stage.
        choice: read at every call (any thread may change what it returns); None: built once.
    """

    def __init__(self, name: str, feature: str | None, make: Callable[[], Stage],
                 choice: Callable[[], object] | None = None) -> None:
        self.name, self.feature, self._make, self._choice = name, feature, make, choice
        self.stage: Stage | None = None
        self._built_for: object = None

    def warm(self) -> None:
        """Build the stage now (e.g. so that its model loads beside the others); a failure waits for the first call."""
        try:
            self.built()
        except Exception as err:  # noqa: BLE001 - raised again, as this stage's error, by the first call
            log.debug("%s could not start yet: %s", self.name, err)

    def built(self) -> Stage:
        """The real stage, built if needed (or rebuilt: the choice changed since it was built)."""
        wanted = self._choice() if self._choice is not None else None
        if self.stage is not None and wanted != self._built_for:
            log.info("%s: switching to %s", self.name, wanted)
            self.close()
        if self.stage is None:
            self.stage = self._make()
            self._built_for = wanted
        return self.stage

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        return self.built()(frame, faces)

    def forget(self, track_ids: set[int]) -> None:
        """Pass on to the real stage, if built."""
        if self.stage is not None:
            self.stage.forget(track_ids)

    def close(self) -> None:
        """Close the real stage; the next call builds a new one."""
        stage, self.stage = self.stage, None
        if stage is not None:
            stage.close()
