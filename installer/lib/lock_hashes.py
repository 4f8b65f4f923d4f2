"""Write the sha256 of every file the registry has for each pin into vcam's lock files.

Run by ``installer/lock.sh``, which resolves pyproject.toml (with and without its ``test`` extra)
for each platform vcam installs on, every package pinned to the version the locks already hold, with
``uv pip compile --generate-hashes``, and hands this script the results::

    python3 installer/lib/lock_hashes.py WORK_DIR REPO

WORK_DIR holds ``main-<platform>.txt`` and ``all-<platform>.txt`` (and ``nodeps.txt`` when the repo has
a ``requirements-nodeps.lock``). Each lock keeps its header comments and its pins (name, version,
marker); each pin gets every hash of its version, so one lock installs on Linux, macOS and Windows.
A package only some platforms need (pyobjc for the macOS tray, colorama on Windows) is added with a
``sys_platform`` marker. A pin whose version the resolution changed is an error: the locks are
frozen from a real environment (see their headers), this only adds hashes.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("lock_hashes")

PLATFORMS = {"linux": "x86_64-manylinux_2_28", "darwin": "aarch64-apple-darwin", "win32": "x86_64-pc-windows-msvc"}
"""sys_platform -> the uv target it is resolved for (installer/lock.sh uses the same names)."""
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?\s*$")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


@dataclass
class Pin:
    """One pinned package: its name as the lock spells it, version, marker (or ""), and hashes."""

    name: str
    version: str
    marker: str = ""
    hashes: set[str] = field(default_factory=set)

    def lines(self) -> list[str]:
        """The pin as requirement lines, one hash per continuation line, sorted."""
        head = f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "")
        hashes = sorted(self.hashes)
        return [head + " \\"] + [f"    --hash={h}" + (" \\" if i < len(hashes) - 1 else "")
                                 for i, h in enumerate(hashes)]


def key(name: str) -> str:
    """A distribution name normalised (PEP 503): ``PyGObject``, ``ml_dtypes`` -> ``pygobject``, ``ml-dtypes``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, Pin]:
    """The pins of a requirements file (its hashes, when it has any), by normalised name."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = Pin(match[1], match[2], (match[3] or "").strip())
            pins[key(current.name)] = current
        elif current is not None:
            current.hashes.update(_HASH.findall(line))
    return pins


def header(text: str) -> list[str]:
    """The comment lines a lock starts with."""
    lines = text.splitlines()
    return lines[:next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))]


def merged(resolved: dict[str, dict[str, Pin]]) -> dict[str, Pin]:
    """One pin per package over the platforms' resolutions: hashes joined, a marker where not all need it."""
    out: dict[str, Pin] = {}
    for platform, pins in resolved.items():
        for name, pin in pins.items():
            have = out.setdefault(name, Pin(pin.name, pin.version))
            if have.version != pin.version:
                raise SystemExit(f"{pin.name}: {have.version} on one platform, {pin.version} on {platform}")
            have.hashes |= pin.hashes
    for name, pin in out.items():
        on = [p for p in resolved if name in resolved[p]]
        if len(on) < len(resolved):
            pin.marker = " or ".join(f'sys_platform == "{p}"' for p in on)
    return out


def rewrite(lock: Path, found: dict[str, Pin]) -> None:
    """Write ``lock`` again: its header, then each package of ``found`` with its hashes, by name."""
    old = read_pins(lock.read_text())
    for name, pin in found.items():
        before = old.get(name)
        if before is None:
            log.info("%s: adding %s==%s%s", lock.name, pin.name, pin.version, f" ; {pin.marker}" if pin.marker else "")
            continue
        if before.version != pin.version:
            raise SystemExit(f"{lock.name} pins {before.name}=={before.version}, the resolution {pin.version}: "
                             "freeze the lock again first (its header says how)")
        pin.name, pin.marker = before.name, before.marker or pin.marker
    for name in old.keys() - found.keys():
        log.warning("%s: %s is no longer needed on any platform; dropped", lock.name, old[name].name)
    lines = header(lock.read_text())
    for name in sorted(found):
        lines += found[name].lines()
    lock.write_text("\n".join(lines) + "\n")
    log.info("%s: %d pins, %d hashes", lock.name, len(found), sum(len(p.hashes) for p in found.values()))


def main(work: Path, repo: Path) -> None:
    """Rewrite requirements.lock, requirements-test.lock (and requirements-nodeps.lock) from ``work``."""
    main_pins = merged({p: read_pins((work / f"main-{t}.txt").read_text()) for p, t in PLATFORMS.items()})
    all_pins = merged({p: read_pins((work / f"all-{t}.txt").read_text()) for p, t in PLATFORMS.items()})
    rewrite(repo / "requirements.lock", main_pins)
    rewrite(repo / "requirements-test.lock", {n: p for n, p in all_pins.items() if n not in main_pins})
    if (repo / "requirements-nodeps.lock").exists():
        rewrite(repo / "requirements-nodeps.lock", read_pins((work / "nodeps.txt").read_text()))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="lock_hashes: %(message)s")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
