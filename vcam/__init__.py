"""vcam: read the room while you present.

Finds every face in a meeting's gallery view, webcam or recording, estimates
head pose and gaze, and sends out an annotated virtual camera. How it is built: docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
