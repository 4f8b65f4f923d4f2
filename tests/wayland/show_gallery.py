"""A Wayland window that plays vcam's demo meeting gallery: the test picture the portal tests share.

Run as ``python show_gallery.py SPEC FPS FRAMES`` with ``WAYLAND_DISPLAY`` set. It renders the demo's
first ``FRAMES`` frames, then opens one GTK window (the compositor makes it fill the output) and shows
them in a loop, ``FPS`` a second, so the compositor has damage to send, as a live meeting does. The
frames are rendered before GTK starts: the demo's text drawing (Pillow) and GTK's were seen to clash
in one process.
"""

from __future__ import annotations

import sys

import gi

from vcam.sources import make_source

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")


def frames(spec: str, count: int) -> list[tuple[bytes, int, int]]:
    """The first ``count`` frames of ``spec`` as ``(RGB bytes, width, height)``."""
    out = []
    with make_source(spec, realtime=False) as source:
        for _ in range(count):
            rgb = source.read().image[:, :, ::-1]
            out.append((rgb.tobytes(), rgb.shape[1], rgb.shape[0]))
    return out


def main(spec: str, fps: float, count: int) -> None:
    """Show ``spec``'s first ``count`` frames in a window, ``fps`` a second, until killed."""
    shots = frames(spec, count)
    from gi.repository import GdkPixbuf, GLib, Gtk

    image = Gtk.Image()
    window = Gtk.Window(title="vcam test gallery")
    window.add(image)
    window.connect("destroy", Gtk.main_quit)
    index = [0]

    def show_next() -> bool:
        data, width, height = shots[index[0] % len(shots)]
        index[0] += 1
        image.set_from_pixbuf(GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB,
                                                              False, 8, width, height, width * 3))
        return True

    show_next()
    window.show_all()
    GLib.timeout_add(int(1000 / fps), show_next)
    Gtk.main()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
