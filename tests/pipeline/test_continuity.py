"""Continuity in a re-flowing meeting: people keep their track ids when the app moves their tiles.

The demo meeting with churn (one person joins or leaves every 8 s, the gallery re-flows: most tiles
show someone else afterwards) is analysed by the default stages at 5 analyses a second, with the
participant names off, so only the tiles' looks can keep people on their tracks. The demo's truth says
which participant each tile shows.
"""

from __future__ import annotations

from vcam.pipeline import Analyzer
from vcam.sources import make_source


def sightings(analysis, truth) -> dict[int, int]:
    """``{participant: track id}`` of the tracked faces alone in camera-on tiles of ``truth``."""
    layout = truth.layout()
    faces = analysis.faces.select(analysis.faces.track_id >= 0)
    tile = layout.tile_of(faces.bbox[:, :2] + faces.bbox[:, 2:] / 2).tolist()
    alone = [t for t in tile if t >= 0 and tile.count(t) == 1 and not truth.tiles[t].camera_off]
    return {truth.tiles[t].participant: int(tid) for t, tid in zip(tile, faces.track_id) if t in alone}


def test_people_keep_their_tracks_through_two_re_flows_without_their_names():
    source = make_source("demo:zoom:n=12:churn:@1280x720", realtime=False)
    frames = []
    with source, Analyzer(["gaze"]) as analyzer:
        for _ in range(90):  # 18 s: re-flows at 8 s and 16 s
            for _ in range(5):
                source.read()
            frame = source.read()
            frames.append((frame.t, sightings(analyzer.process(frame), source.truth(frame.index))))
    everyone = {p for _, seen in frames for p in seen}
    ids = {p: {seen[p] for _, seen in frames if p in seen} for p in everyone}
    stayed = [p for p in everyone if any(t < 7 and p in s for t, s in frames) and any(t > 17 and p in s for t, s in frames)]
    assert len(stayed) >= 10, "most of the meeting stays through both re-flows"
    assert all(len(ids[p]) == 1 for p in everyone), {p: v for p, v in ids.items() if len(v) > 1}
    assert len({next(iter(v)) for v in ids.values()}) == len(everyone), "and no two people share a track"
