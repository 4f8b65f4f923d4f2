"""The one exception tree a vcam user can see.

::

    VcamError                 anything vcam reports to a user; the CLI prints str(err), never a traceback
    ├── ConfigError           a flag or config value out of range, or an unknown key
    ├── SourceError           a source that cannot be opened or read
    │   ├── SourceSpecError   a source spec that does not parse ("webcam:x", "foo")
    │   └── SourceLost        a source that stopped delivering frames while open
    ├── OutputError           an output that cannot be opened
    │   └── OutputSpecError   an output spec that does not parse
    ├── ModelError            a model file that is missing or fails its checks
    ├── GalleryError          the gallery of enrolled people cannot be read or changed, or a photo to enroll is unusable
    ├── SessionError          a session timeline cannot be written or read
    ├── UnsafePathError       a path vcam would write holds a link, device, FIFO or folder, or a file it did not make
    └── AlreadyRunningError   another vcam runs for this user (it was told to show itself)

Every message says what was expected, what arrived, and how to fix it.
"""

from __future__ import annotations


class VcamError(Exception):
    """Base of every error vcam reports to a user."""


class ConfigError(VcamError, ValueError):
    """A configuration value or flag is unknown or out of range."""


class SourceError(VcamError):
    """A frame source cannot be opened or read."""


class SourceSpecError(SourceError, ValueError):
    """A source spec string does not parse."""


class SourceLost(SourceError):
    """An open source stopped delivering frames."""


class OutputError(VcamError):
    """An output (virtual camera, window, file) cannot be opened or written."""


class OutputSpecError(OutputError, ValueError):
    """An output spec string does not parse."""


class ModelError(VcamError):
    """A model file is missing, corrupt, or cannot be loaded."""


class GalleryError(VcamError):
    """The gallery cannot be read or written, or an enrollment photo is unusable."""


class SessionError(VcamError):
    """A session folder cannot be written or read."""


class UnsafePathError(VcamError):
    """vcam refused to write through a link, over a non-regular file, or into a file it did not create."""


class AlreadyRunningError(VcamError):
    """Another vcam instance runs for this user; it was asked to show itself (see vcam.instance)."""
