"""``python -m vcam``: the same as the ``vcam`` command."""

import sys

from vcam.cli import main

sys.exit(main())
