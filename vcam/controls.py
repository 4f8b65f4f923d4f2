"""The switches of a running vcam: what is live now, what the presenter chose, and what is saved.

- **live**: what runs now. The analysis features are in :attr:`Controls.switches`, which the
  analyzer reads every frame; the others (overlay, mirror, aggregate-only, EU mode) in the run's
  :class:`~vcam.config.Config`.
- **chosen**: the run's Config, changed by every :meth:`Controls.toggle`. A feature whose stage
  broke is switched off live only (:meth:`Controls.switch_off`): the choice stays, so the next
  start (or switching it on again) tries again.
- **saved**: the config file. :meth:`Controls.save` writes a change there (the tray saves every
  click; ``vcam run``'s flags are for that run only); :meth:`Controls.saved` reads it back.

The rule between switches lives here too: EU mode on switches emotion off, and emotion cannot be
switched on while EU mode is on.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vcam.config import Config
from vcam.config_file import load_settings, update_file
from vcam.errors import VcamError
from vcam.features import ANALYSIS, BY_NAME, EU_MODE_REFUSAL, Switches

log = logging.getLogger(__name__)


class Controls:
    """Every switch of one run (see the module docstring). Methods may be called from any thread.

    Args:
        config: the run's settings; toggles keep its switch fields up to date.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.switches = Switches({name: getattr(config, name) for name in ANALYSIS})

    @staticmethod
    def names() -> list[str]:
        """Every switch, in menu order."""
        return list(BY_NAME)

    def is_on(self, name: str) -> bool:
        """Whether ``name`` is on now (live)."""
        self._check(name)
        return name in self.switches if name in ANALYSIS else bool(getattr(self.config, name))

    def toggle(self, name: str, on: bool | None = None) -> dict[str, bool]:
        """Switch ``name`` on, off, or over (None); returns every switch that changed with it, by name.

        Raises VcamError for an unknown name, and for emotion while EU mode is on. EU mode on also
        switches emotion off.
        """
        self._check(name)
        state = (not self.is_on(name)) if on is None else bool(on)
        if name == "emotion" and state and self.config.eu_mode:
            raise VcamError(EU_MODE_REFUSAL)
        changes = {name: state}
        if name == "eu_mode" and state:
            changes["emotion"] = False
        for key, value in changes.items():
            setattr(self.config, key, value)
            if key in ANALYSIS:
                self.switches.set(key, value)
        log.info("%s %s", name.replace("_", " "), "on" if state else "off")
        return changes

    def switch_off(self, feature: str) -> None:
        """Switch the analysis ``feature`` off for now (its stage broke); the choice and the file keep it."""
        self.switches.set(feature, False)

    @staticmethod
    def save(changes: dict[str, object], path: Path | None = None) -> None:
        """Write ``changes`` to the config file at ``path`` (None: the default one).

        Raises ConfigError (a broken file, a bad value); nothing is written then.
        """
        update_file(changes, path)

    @staticmethod
    def saved(name: str, path: Path | None = None) -> object:
        """The value of setting ``name`` in the config file at ``path``, or None when the file does not set it.

        Raises ConfigError when the file is broken.
        """
        return load_settings(path).get(name)

    def _check(self, name: str) -> None:
        if name not in BY_NAME:
            raise VcamError(f"unknown feature {name!r}: expected one of {', '.join(BY_NAME)}")
