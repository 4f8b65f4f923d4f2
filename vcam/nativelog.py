"""Keep MediaPipe's native (C++) log lines off the user's terminal.

MediaPipe 0.10.21 logs through absl straight to file descriptor 2, ignoring
``GLOG_minloglevel``; every new FaceMesh prints lines such as
``W0000 … inference_feedback_manager.cc:114] Feedback manager requires …``.
A user should see vcam's messages only. :func:`filter_native_logs` points fd 2
at a pipe, drops absl-formatted lines, and forwards everything else to the
real stderr; Python's ``sys.stderr`` is re-pointed at the real stderr first, so
vcam's own messages never pass through the filter. With ``-v`` the filter is
not installed. Only the entry point calls it.
"""

from __future__ import annotations

import faulthandler
import io
import os
import re
import sys
import threading

#: Native log lines: absl/glog (severity letter + digits), TFLite's "INFO: ", the
#: absl pre-init notice, OpenCV's "[ WARN:0@1.5] " / "[ERROR:0@1.5] ", and FFmpeg's
#: "[mov,mp4 @ 0x1af8] " (the error vcam reports says the same, with a fix).
NATIVE_LINE = re.compile(rb"^([IWE]\d{4} |INFO: |WARNING: All log messages before absl::InitializeLog"
                         rb"|\[ ?(WARN|ERROR|INFO):\d|\[[\w,]+ @ 0x[0-9a-f]+\] )")


def filter_native_logs() -> None:
    """Route fd 2 through a filter thread that drops native log lines (idempotent)."""
    if getattr(filter_native_logs, "installed", False):
        return
    real = os.dup(2)
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(real), "wb", buffering=0), write_through=True)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    threading.Thread(target=_pump, args=(read_end, real), name="vcam-nativelog", daemon=True).start()
    if faulthandler.is_enabled():  # its dump comes as the process dies, when the pump can no longer forward it
        faulthandler.enable(file=sys.stderr)
    filter_native_logs.installed = True


def _pump(read_end: int, real: int) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if not NATIVE_LINE.match(line):
                os.write(real, line)
