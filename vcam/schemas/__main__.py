"""``python -m vcam.schemas [--check]``: bring the committed JSON Schemas up to date with vcam.records."""

import sys

from vcam.schemas import stale, write


def main(argv: list[str]) -> int:
    """Rewrite the stale schema files, or with ``--check`` list them and return 1."""
    if "--check" in argv:
        files = stale()
        for path in files:
            print(f"{path} is out of date: run python -m vcam.schemas", file=sys.stderr)
        return 1 if files else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
