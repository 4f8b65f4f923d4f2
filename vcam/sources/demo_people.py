"""Who is in the demo meeting: the portraits, their display names, and who is present and speaking when.

Everything here is a pure function of its arguments (a seed, a time), so the demo's frames and its
ground truth agree and repeat. Times are seconds of media time (frame ``i`` is ``i / fps``).

* Participant ``p`` (0, 1, 2, …) shows portrait ``p % P`` of the ``P`` shipped ones, mirrored left-right
  on every second pass so that a repeated face does not look identical to its first showing.
* Their name is the portrait's display name on the first pass and an invented one after
  (:func:`participant_name`), except in the classic look, which reuses the portrait's name.
* With churn, one person joins or leaves every :data:`CHURN_S` seconds; joiners go to the end of the
  gallery and a leaver's followers move up (Zoom's re-flow).
* The active speaker changes every :data:`SPEAK_S` seconds.
"""

from __future__ import annotations

import importlib.resources
import math
import random
import re
from importlib.resources.abc import Traversable
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import SourceError

CHURN_S = 8.0
"""Seconds between two churn events (one person joins or leaves)."""
CHURN_SPAN = 2
"""With churn the meeting holds between ``people - CHURN_SPAN`` and ``people + CHURN_SPAN`` (1..49) people."""
SPEAK_S = 4.0
"""Seconds one person speaks before the next one does."""

DISPLAY_NAMES = {
    "05_alex.jpg": "Zoë Müller",
    "06_sam.jpg": "Ana-María Núñez",
    "07_jordan.jpg": "Françoise Lefèvre",
    "08_casey.jpg": "Signe Ødegård",
    "09_riley.jpg": "Łucja Wiśniewska",
    "10_taylor.jpg": "Josefina Álvarez",
    "11_jamie.jpg": "Trần Thị Mai",
    "12_chloe_dubois.jpg": "Chloé Dubois-Lemaître",
    "13_ines_conceicao.jpg": "Inês Conceição",
    "14_malgorzata_brzeczyszczykiewicz.jpg": "Małgorzata Brzęczyszczykiewicz",
    "15_dagny_thorsdottir.jpg": "Dagný Þórsdóttir",
    "16_ayse_yilmaz.jpg": "Ayşe Yılmaz",
    "17_monica_gutierrez.jpg": "Mónica Gutiérrez de la Fuente y Castañeda",
    "18_renee_akesson.jpg": "Renée Åkesson",
    "19_sinead_ni_bhriain.jpg": "Sinéad Ní Bhriain",
    "20_maximiliane_von_hohenzollern.jpg": "Maximiliane von Hohenzollern-Sigmaringen",
}
"""Display names (UTF-8, invented: the photos do not name these people) of the shipped portraits whose
file name cannot spell them; other files are named after their file (``01_grace_hopper.jpg``)."""
_FIRST = ("José", "Søren", "François", "Łukasz", "Björn", "Élodie", "Noémie", "Žofie", "Håkon", "Anaïs", "Oğuz",
          "Ignacio", "Mikuláš")
_LAST = ("Álvarez", "Ødegård", "Lefèvre", "Wiśniewski", "Kovač", "Nørgaard", "Dvořák", "Şahin", "Ólafsson",
         "Peña", "Grünewald-Schäfer", "Čapek")


def load_portraits(folder: Path | Traversable | None = None) -> list[tuple[str, np.ndarray]]:
    """``(display name, (H, W, 3) uint8 BGR image)`` for each ``*.jpg`` in ``folder``, sorted by file name.

    ``folder`` defaults to the portraits shipped in ``vcam.assets``. Names come from :data:`DISPLAY_NAMES`,
    else from the file name: ``01_grace_hopper.jpg`` -> ``"Grace Hopper"``.

    Raises:
        SourceError: the folder is missing, holds no portraits, or one does not decode.
    """
    return [(name, _decode(path)) for name, path in portrait_files(folder)]


def portrait_files(folder: Path | Traversable | None = None) -> list[tuple[str, Path | Traversable]]:
    """``(display name, file)`` of each portrait in ``folder`` (see :func:`load_portraits`), none decoded."""
    folder = _default_portraits() if folder is None else folder
    if not folder.is_dir():
        raise SourceError(f"demo portraits not found: expected a folder of JPEG portraits at {folder}; "
                          f"reinstall vcam (pip install --force-reinstall vcam) to restore vcam/assets/portraits")
    files = sorted((p for p in folder.iterdir() if p.name.lower().endswith((".jpg", ".jpeg"))), key=lambda p: p.name)
    if not files:
        raise SourceError(f"demo portraits not found: no .jpg files in {folder}; "
                          f"reinstall vcam (pip install --force-reinstall vcam) to restore them")
    return [(DISPLAY_NAMES.get(p.name) or display_name(p.name), p) for p in files]


def _default_portraits() -> Traversable:
    try:
        return importlib.resources.files("vcam.assets") / "portraits"
    except ModuleNotFoundError as err:
        raise SourceError("demo portraits not found: the package data vcam.assets is missing; "
                          "reinstall vcam (pip install --force-reinstall vcam)") from err


def _decode(path: Path | Traversable) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"demo portrait {path} is not a readable JPEG; reinstall vcam to restore it")
    return image


def display_name(filename: str) -> str:
    """``"01_grace_hopper.jpg"`` -> ``"Grace Hopper"``."""
    stem = re.sub(r"^\d+[_-]*", "", filename.rsplit(".", 1)[0])
    return " ".join(word.capitalize() for word in re.split(r"[_\-\s]+", stem) if word) or filename


def participant_name(p: int, portrait_names: list[str]) -> str:
    """The display name of participant ``p``: its portrait's on the first pass, an invented one after."""
    if p < len(portrait_names):
        return portrait_names[p]
    k = p - len(portrait_names)
    name = f"{_FIRST[k % len(_FIRST)]} {_LAST[(k + k // len(_FIRST)) % len(_LAST)]}"
    unique = len(_FIRST) * (len(_LAST) // math.gcd(len(_FIRST) + 1, len(_LAST)))  # pairs before one repeats
    return name if k < unique else f"{name} {k // unique + 1}"


def portrait_of(p: int, portraits: int) -> tuple[int, bool]:
    """``(portrait index, mirrored)`` participant ``p`` shows, out of ``portraits`` portraits."""
    return p % portraits, (p // portraits) % 2 == 1


def initials(name: str) -> str:
    """``"Ana-María Núñez"`` -> ``"AN"``: the first letters of the first and last words, upper case."""
    words = [w for w in re.split(r"[\s]+", name) if w]
    return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper() if words else "?"


def camera_off_set(people: int, off: int, seed: int) -> frozenset[int]:
    """The ``off`` participants of the first ``people`` whose camera is off, chosen by ``seed``."""
    return frozenset(random.Random(f"off-{seed}").sample(range(people), off))


class Roster:
    """Who is in the meeting at a time, in gallery order, with and without churn.

    Args:
        people: participants at the start (``0 .. people - 1``), >= 1.
        churn: whether people join and leave every :data:`CHURN_S` seconds.
        seed: picks who leaves and whether an event is a join or a leave.
    """

    def __init__(self, people: int, churn: bool, seed: int, most: int = 49) -> None:
        self.people, self.churn, self.seed = people, churn, seed
        self.low, self.high = max(1, people - CHURN_SPAN), min(most, people + CHURN_SPAN)
        self._states: list[tuple[int, ...]] = [tuple(range(people))]  # after 0, 1, 2, … events
        self._joined = [people]  # next new participant after each event

    def event(self, t: float) -> int:
        """How many churn events happened by ``t`` seconds (0 without churn)."""
        return int(t // CHURN_S) if self.churn and t >= 0 else 0

    def at(self, t: float) -> tuple[int, ...]:
        """The participants present at ``t`` seconds, in gallery order."""
        k = self.event(t)
        while len(self._states) <= k:
            self._step()
        return self._states[k]

    def _step(self) -> None:
        present, joiner = list(self._states[-1]), self._joined[-1]
        rng = random.Random(f"churn-{self.seed}-{len(self._states)}")
        leave = len(present) > self.low and (len(present) >= self.high or rng.random() < 0.5)
        if leave:
            present.pop(rng.randrange(len(present)))
        else:
            present.append(joiner)
            joiner += 1
        self._states.append(tuple(present))
        self._joined.append(joiner)


def speaker_at(t: float, present: tuple[int, ...], seed: int) -> int:
    """The participant speaking at ``t`` seconds, one of ``present``: a new pick every :data:`SPEAK_S` s."""
    turn = int(max(t, 0.0) // SPEAK_S)
    return present[random.Random(f"speak-{seed}-{turn}").randrange(len(present))]
