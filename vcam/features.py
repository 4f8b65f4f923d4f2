"""The features a presenter switches on and off, declared once.

From :data:`FEATURES` come the config file's switch settings (``vcam config set gaze off``), the
``--gaze/--no-gaze`` flags of ``vcam run`` (and of ``vcam analyze`` for the analysis features), the
tray's check items, the daemon's toggles and the feed's ``hello``. A stage names the feature that
switches it (:attr:`vcam.pipeline.Stage.feature`).

Kinds:

- ``analysis``: switches a pipeline stage; what it computes is published only while it is on.
- ``privacy``: limits what is published (``aggregate_only``, ``eu_mode``); the feed's ``hello``
  reports these with the analysis features.
- ``video``: changes the outgoing video only (``overlay``, ``mirror``).

Identity and emotion are off by default: they are personal data, switched on on purpose.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    """One switch.

    Attributes:
        name: the config key, the flag (``--name``, ``_`` as ``-``), the feed's ``hello`` key.
        label: the tray's item.
        default: on or off when nothing says otherwise.
        help: one line for ``vcam config set --help``, ``vcam run --help`` and the tray.
        kind: ``analysis``, ``privacy`` or ``video`` (see the module docstring).
    """

    name: str
    label: str
    default: bool
    help: str
    kind: str

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--eu-mode``."""
        return "--" + self.name.replace("_", "-")


FEATURES: tuple[Feature, ...] = (
    Feature("gaze", "Gaze", True, "estimate gaze: looking at the screen or away", "analysis"),
    Feature("names", "Participant names", True, "read each participant's name from their meeting tile's label "
            "(on-screen text, on this machine)", "analysis"),
    Feature("identity", "Identity (face match)", False, "name enrolled people (personal data)", "analysis"),
    Feature("emotion", "Emotion", False, "estimate each face's emotion (an estimate; never in EU mode)",
            "analysis"),
    Feature("overlay", "Overlay", True, "draw the annotations (the 'analysis on' badge stays)", "video"),
    Feature("mirror", "Mirror video", False, "flip the outgoing video left-right", "video"),
    Feature("aggregate_only", "Aggregate only", False, "the feed shows the room only, never a person (and nothing "
            "for fewer than 3 people)", "privacy"),
    Feature("eu_mode", "EU mode (no emotion)", False, "never infer emotion (EU AI Act: workplaces and education)",
            "privacy"),
)
"""Every switch, in the order menus and ``vcam config show`` list them."""

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
ANALYSIS = tuple(f.name for f in FEATURES if f.kind == "analysis")
"""The analysis features, in order: ``("gaze", "names", "identity", "emotion")``."""
ANNOUNCED = tuple(f.name for f in FEATURES if f.kind in ("analysis", "privacy"))
"""The features the feed's ``hello`` reports."""

EU_MODE_REFUSAL = ("emotion inference is off in EU mode (the EU AI Act bans emotion recognition in workplaces and "
                   "education); turn EU mode off to use it")


def feature(name: str) -> Feature:
    """The feature called ``name``; KeyError naming the known ones when there is none."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}: expected one of {', '.join(BY_NAME)}") from None


class Switches:
    """The live on/off state of the analysis features, shared by the controls and the analyzer.

    Reads and writes may come from any thread; :meth:`on` gives the analyzer one consistent set
    per frame.

    Args:
        on: the names that start on (a mapping name → bool, or names); others start off.
    """

    def __init__(self, on: Mapping[str, bool] | Iterable[str] = ("gaze",)) -> None:
        names = [k for k, v in on.items() if v] if isinstance(on, Mapping) else list(on)
        unknown = [n for n in names if n not in ANALYSIS]
        if unknown:
            raise KeyError(f"unknown analysis feature {unknown[0]!r}: expected one of {', '.join(ANALYSIS)}")
        self._on = frozenset(names)
        self._lock = threading.Lock()

    def on(self) -> tuple[str, ...]:
        """The features on now, in :data:`ANALYSIS` order."""
        current = self._on
        return tuple(name for name in ANALYSIS if name in current)

    def __contains__(self, name: object) -> bool:
        return name in self._on

    def set(self, name: str, value: bool) -> None:
        """Switch the analysis feature ``name`` on or off."""
        if name not in ANALYSIS:
            raise KeyError(f"unknown analysis feature {name!r}: expected one of {', '.join(ANALYSIS)}")
        with self._lock:
            self._on = self._on | {name} if value else self._on - {name}

    def __repr__(self) -> str:
        return f"Switches({list(self.on())})"
