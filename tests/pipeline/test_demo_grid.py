"""The demo gallery through the real pipeline: one face per tile, ids that never change."""

from __future__ import annotations

import numpy as np

from vcam.pipeline import Analyzer
from vcam.sources.demo import DemoSource


def test_the_demo_grid_yields_one_face_per_tile_with_stable_ids():
    with DemoSource(realtime=False) as src, Analyzer() as analyzer:
        tiles = src.tile_rects()
        per_frame = [analyzer.process(src.read()).faces for _ in range(60)]
    for faces in per_frame:
        centres = faces.bbox[:, :2] + faces.bbox[:, 2:] / 2
        in_tile = [sum(x <= cx < x + w and y <= cy < y + h for cx, cy in centres) for x, y, w, h in tiles]
        assert in_tile == [1] * 9
    ids = [sorted(f.track_id.tolist()) for f in per_frame]
    assert all(i == ids[0] for i in ids) and len(set(ids[0])) == 9


def test_a_one_face_demo_is_one_track_for_its_whole_length():
    with DemoSource(rows=1, cols=1, width=1280, height=720, realtime=False) as src, Analyzer() as analyzer:
        ids = {tuple(analyzer.process(src.read()).faces.track_id.tolist()) for _ in range(90)}
    assert ids == {(1,)}


def test_head_pose_follows_the_demo_faces_gentle_turns():
    with DemoSource(rows=1, cols=1, width=1280, height=720, realtime=False) as src, Analyzer() as analyzer:
        poses = np.stack([analyzer.process(src.read()).faces.pose[0] for _ in range(90)])
    assert np.isfinite(poses).all()
    assert np.all(np.abs(poses) < 45), "small demo motions never read as extreme poses"
    assert np.ptp(poses[:, 2]) > 3, "the demo tilts faces, so roll moves"
