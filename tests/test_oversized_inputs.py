"""Images and video frames over vcam.limits.MAX_PIXELS are refused from their header, before any decoding.

A PNG of 20000×20000 black pixels is a 0.4 MB file that decodes into 1.2 GB (3.6 GB at its peak); vcam must
say it is too large, in one line with exit status 2, without decoding it.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from vcam.cli import main
from vcam.enroll import enroll_images, read_image
from vcam.errors import GalleryError, SourceError
from vcam.limits import MAX_PIXELS
from vcam.sources.video import VideoSource

from conftest import DATA


PEAK_RSS_KIB = "int(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"
"""Python for a child's peak RSS in KiB: VmHWM belongs to the child's own memory (ru_maxrss may carry the parent's
peak across fork and exec)."""


def black_png(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit grey PNG of ``width`` × ``height`` black pixels, compressed row by row (a small file)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), b"\0" * (width + 1)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """20000×20000 (400 megapixels) in a file of about 0.4 MB: issue 12's image bomb."""
    return black_png(tmp_path_factory.mktemp("bomb") / "bomb.png", 20_000, 20_000)


def test_a_photo_over_the_limit_is_refused_naming_its_size_before_it_is_decoded(tmp_path, monkeypatch):
    photo = black_png(tmp_path / "big.png", 8000, 8000)  # 64 MP
    decoded = []
    monkeypatch.setattr("vcam.enroll.cv2.imdecode", lambda *a: decoded.append(a))
    with pytest.raises(GalleryError, match=r"big.png is 8000×8000 pixels \(64.0 megapixels\); .* at most 50 megapixels"):
        read_image(photo)
    assert decoded == [], "the decoder was never called"


def test_a_photo_at_the_limit_is_read(tmp_path):
    side = int(MAX_PIXELS ** 0.5)
    image = read_image(black_png(tmp_path / "edge.png", side, side))
    assert image.shape == (side, side, 3)


def test_a_photo_too_large_even_for_pillow_is_the_same_clear_error(tmp_path, bomb):
    with pytest.raises(GalleryError, match=r"bomb.png is 400.0 megapixels; vcam reads images of at most 50 megapixels"):
        enroll_images([bomb], descriptor=lambda chips: chips, detect_landmarks=lambda image: None)


def test_vcam_enroll_refuses_an_image_bomb_in_one_line_without_decoding_it(tmp_path, bomb):
    """In a child process, so its peak RSS is this command's alone: decoding would take over 1.2 GB."""
    code = ("import sys; from vcam.cli import main; status = main(sys.argv[1:]); "
            f"print('RSS', {PEAK_RSS_KIB}); sys.exit(status)")
    out = subprocess.run([sys.executable, "-c", code, "enroll", "Bob", str(bomb), "--gallery", str(tmp_path / "g.db")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "megapixels" in errors[0] and "internal error" not in errors[0], out.stderr
    peak_kib = int(out.stdout.split("RSS")[-1])
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib // 1024} MB: the image was never decoded"


def test_a_40000_pixel_square_png_is_a_clear_error_not_an_internal_one(tmp_path, caplog):
    """Its header only (the pixel data is cut short): what is refused is what the header claims."""
    png = black_png(tmp_path / "whole.png", 40_000, 2)
    data = png.read_bytes()
    header = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 0, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    png = tmp_path / "huge.png"
    png.write_bytes(data[:8] + ihdr + data[8 + len(ihdr):])
    assert main(["enroll", "Bob", str(png), "--gallery", str(tmp_path / "g.db")]) == 2
    assert "megapixels" in caplog.text and "internal error" not in caplog.text


def test_a_video_whose_frames_are_over_the_limit_is_refused_before_a_frame_is_decoded(tmp_path, monkeypatch):
    clip = tmp_path / "big.avi"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = 8000, 8000, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((8000, 8000, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    opened = []
    monkeypatch.setattr("vcam.sources.video.cv2.VideoCapture", lambda *a: opened.append(a))
    with pytest.raises(SourceError, match="big.avi has frames over 50 megapixels"):
        VideoSource(clip, realtime=False).open()
    assert opened == [], "OpenCV, which decodes the first frame as it opens, was never asked"


def test_an_image_bomb_given_as_a_video_source_is_refused(bomb):
    with pytest.raises(SourceError, match="over 50 megapixels"):
        VideoSource(bomb, realtime=False).open()


def test_vcam_analyze_refuses_an_image_bomb_in_one_line(tmp_path, bomb, caplog):
    assert main(["analyze", str(bomb), "--json", str(tmp_path / "out.json"), "--no-progress"]) == 2
    assert "over 50 megapixels" in caplog.text and not (tmp_path / "out.json").exists()


def test_an_ordinary_photo_still_reads_at_its_size():
    assert read_image(DATA / "obama.jpg").shape[:2] == (1137, 910)
