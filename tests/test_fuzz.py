"""Fuzzing the loaders of what users hand vcam: whatever arrives, the only error is one of vcam's own.

Hypothesis draws config files, session folders, gallery files and analyze inputs (video files, sample specs,
photos), both raw bytes and near-misses built from what vcam writes, and each loader must return or raise a
``VcamError``: never another exception (which the CLI reports as "internal error"), never a hang. Each test
has a fixed ``max_examples`` and no deadline (a loaded CI machine is slow, not wrong), and no example
database, so runs are repeatable and nothing is written to the checkout; the whole file takes about a minute.
"""

from __future__ import annotations

import json
import math
import sqlite3
import string
import tempfile
from pathlib import Path

import numpy as np
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vcam.analyze import Sampler
from vcam.config import SETTINGS
from vcam.config_file import load_config
from vcam.enroll import read_image
from vcam.errors import VcamError
from vcam.gallery import Gallery
from vcam.session import load_session
from vcam.session.recorder import ROOM_COLUMNS, TIMELINE_COLUMNS
from vcam.session.report import render
from vcam.sources.video import VideoSource

from conftest import DATA


def fuzz(examples: int):
    """Hypothesis settings for one loader: ``examples`` cases, no deadline, no database."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def only_vcam_errors(load, *args) -> None:
    """Call ``load(*args)``; a VcamError is an answer, any other exception fails the test."""
    try:
        load(*args)
    except VcamError:
        pass


# -- values ------------------------------------------------------------------------------------------

NUMBERS = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 2**63, -2**63 - 1, 10**30, 10**400, 1e308, math.nan, math.inf]))
WORDS = st.one_of(st.text(max_size=30), st.sampled_from(["", "$", "$x$", "\\frac{", "nan", "inf", "null", "auto",
                                                         "demo:3x3@1920x1080", "file:/dev/null", "webcam:99",
                                                         "a" * 5000, "x/" * 3000, "file:" + "b" * 5000 + ".mp4"]))
SCALARS = st.one_of(NUMBERS, WORDS, st.booleans())
JSON_VALUES = st.recursive(st.one_of(st.none(), SCALARS), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)


def toml_values():
    """Values TOML can hold (no None), nested a little."""
    leaf = st.one_of(st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(), WORDS, st.booleans())
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                        max_leaves=6)


def toml_file():
    """Config files as TOML: the real keys (and some others) with values of any type."""
    keys = st.one_of(st.sampled_from(list(SETTINGS)), st.text(max_size=12))
    return st.dictionaries(keys, toml_values(), max_size=6).map(tomli_w.dumps)


def near_toml():
    """Text that is almost TOML: real lines cut, doubled, nested deeply or mixed with noise."""
    line = st.one_of(st.sampled_from(['source = "demo"', "width = 1280", "fps = 30.0", "port = 0", "[table]",
                                      "identity = true", "eu_mode = true", "emotion = true", 'a = "\\u0000"',
                                      "x = [[[[1]]]]", "y = {z = {w = 1}}", "width = 1e400", "fps = nan",
                                      "width = " + "1" * 5000, 'source = "' + "a" * 5000 + '"',
                                      'gallery = "' + "g/" * 3000 + '"']),
                     st.text(max_size=20))
    deep = st.integers(min_value=1, max_value=5000).map(lambda n: "source = " + "[" * n + "]" * n)
    return st.one_of(st.lists(line, max_size=8).map("\n".join), deep)


# -- config ------------------------------------------------------------------------------------------


@fuzz(1500)
@given(text=st.one_of(toml_file(), near_toml(), st.text(max_size=200)))
def test_any_config_file_loads_or_is_a_config_error(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass") if _encodable(text) else path.write_bytes(
            text.encode("utf-8", "replace"))
        only_vcam_errors(load_config, path)


@fuzz(300)
@given(data=st.binary(max_size=300))
def test_any_config_bytes_load_or_are_a_config_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_bytes(data)
        only_vcam_errors(load_config, path)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# -- session folders ---------------------------------------------------------------------------------

CELLS = st.one_of(st.sampled_from(["", "0", "1", "-1", "0.5", "nan", "NaN", "inf", "-inf", "1e308", "1e-320", "null",
                                   "9" * 30, "$", "$x", "a,b", '"', "\\", "happy", "neutral", "Ada"]),
                  st.text(alphabet=string.printable, max_size=8))


def session_files():
    """``(session.json text, timeline.csv text, room.csv text or None)``: near-misses of what the recorder writes."""
    meta = st.one_of(JSON_VALUES, st.fixed_dictionaries(
        {}, optional={"every": JSON_VALUES, "features": JSON_VALUES, "started": JSON_VALUES, "ended": JSON_VALUES})
    ).map(json.dumps)
    header = st.one_of(st.just(list(TIMELINE_COLUMNS)), st.permutations(list(TIMELINE_COLUMNS)),
                       st.lists(st.sampled_from(list(TIMELINE_COLUMNS)), max_size=8))
    return st.tuples(st.one_of(meta, st.text(max_size=20)), header.flatmap(_csv_rows), st.one_of(
        st.none(), st.just(list(ROOM_COLUMNS)).flatmap(_csv_rows)))


def _csv_rows(header: list[str]):
    row = st.lists(CELLS, min_size=len(header), max_size=len(header)).map(",".join)
    return st.lists(st.one_of(row, st.text(max_size=20)), max_size=12).map(
        lambda rows: "\n".join([",".join(header), *rows]) + "\n")


def _write_session(folder: Path, files: tuple[str, str, str | None]) -> Path:
    meta, timeline, room = files
    folder.mkdir()
    (folder / "session.json").write_text(meta, errors="replace")
    (folder / "timeline.csv").write_text(timeline, errors="replace")
    if room is not None:
        (folder / "room.csv").write_text(room, errors="replace")
    return folder


@fuzz(1500)
@given(files=session_files())
def test_any_session_folder_loads_or_is_a_session_error(files):
    with tempfile.TemporaryDirectory() as tmp:
        only_vcam_errors(load_session, _write_session(Path(tmp) / "s", files))


@fuzz(40)
@given(files=session_files())
def test_any_session_that_loads_renders_its_report(files):
    """Fewer cases: each report draws four figures (about 0.3 s)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            session = load_session(_write_session(Path(tmp) / "s", files))
        except VcamError:
            return
        only_vcam_errors(render, session)


# -- gallery files ------------------------------------------------------------------------------------

SQL_VALUES = st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(), st.text(max_size=12),
                       st.binary(max_size=600), st.just(np.ones(128, "<f4").tobytes()))


@fuzz(600)
@given(people=st.lists(st.tuples(SQL_VALUES, SQL_VALUES), max_size=4),
       vectors=st.lists(st.tuples(st.integers(0, 5), SQL_VALUES, SQL_VALUES), max_size=6))
def test_any_gallery_rows_read_or_are_a_gallery_error(people, vectors):
    """A gallery whose rows were edited outside vcam: names and descriptors of any type and length."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery.sqlite3"
        with Gallery(path):
            pass
        with sqlite3.connect(path) as db:
            db.executemany("INSERT OR IGNORE INTO people (id, name, created) VALUES (?, ?, ?)",
                           [(i + 1, name, created) for i, (name, created) in enumerate(people)])
            db.executemany("INSERT OR IGNORE INTO descriptors (person, vector, source, created) VALUES (?, ?, ?, 'x')",
                           vectors)
        db.close()
        only_vcam_errors(_read_gallery, path, Path(tmp) / "out.json")


def _read_gallery(path: Path, out: Path) -> None:
    with Gallery(path) as g:
        g.people()
        g.names()
        g.export(out)


@fuzz(400)
@given(data=st.one_of(st.binary(max_size=400), st.binary(max_size=200).map(lambda b: b"SQLite format 3\0" + b)))
def test_any_bytes_as_a_gallery_file_are_a_gallery_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery.sqlite3"
        path.write_bytes(data)
        only_vcam_errors(_read_gallery, path, Path(tmp) / "out.json")


# -- analyze and enroll inputs ---------------------------------------------------------------------------

PHOTO = (DATA / "obama.jpg").read_bytes()[:4096]
"""The start of a real JPEG: its header, and enough data to mutate."""
PNG_HEADER = bytes.fromhex("89504e470d0a1a0a0000000d49484452")


def mutated(seed: bytes):
    """``seed`` with a few bytes changed, cut short, or with its size fields blown up."""
    def apply(edits: list[tuple[int, int]], cut: int) -> bytes:
        data = bytearray(seed[:cut])
        for at, value in edits:
            if data:
                data[at % len(data)] = value
        return bytes(data)
    return st.builds(apply, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
                     st.integers(0, len(seed)))


def media_bytes():
    """Files handed to ``vcam analyze`` or ``vcam enroll``: noise, mutated photos, PNG headers of any size."""
    png = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=40)).map(
        lambda t: PNG_HEADER + t[0].to_bytes(4, "big") + t[1].to_bytes(4, "big") + b"\x08\x02\0\0\0" + t[2])
    return st.one_of(st.binary(max_size=300), mutated(PHOTO), png)


@fuzz(500)
@given(data=media_bytes())
def test_any_file_given_as_a_photo_reads_or_is_a_gallery_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        path.write_bytes(data)
        only_vcam_errors(read_image, path)


@fuzz(300)
@given(data=media_bytes())
def test_any_file_given_as_a_video_opens_or_is_a_source_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        path.write_bytes(data)
        only_vcam_errors(_open_video, path)


def _open_video(path: Path) -> None:
    with VideoSource(path, realtime=False) as source:
        for _ in zip(range(3), source):
            pass


@fuzz(2000)
@given(spec=st.one_of(st.text(max_size=20), st.from_regex(r"every:[0-9٠-٩¹²]{0,25}", fullmatch=True)))
def test_any_sample_spec_parses_or_is_a_config_error(spec):
    only_vcam_errors(Sampler, spec)
