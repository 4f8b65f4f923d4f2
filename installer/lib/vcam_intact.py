"""Exit 0 when the vcam installed in this environment is intact, else print what is wrong and exit 1.

Run by the installers with the environment's own Python (``installer/lib/common.sh``,
``installer/windows/install.ps1``): every file of vcam's wheel is compared with the sha256
pip recorded for it in the wheel's RECORD. A file that is missing or changed (a corrupt
model, say) makes the installer install the wheel again, which is what vcam's error
messages mean by "run the installer again". Only the environment's own site-packages is
searched, never a folder lent to it with --packages-from. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import sys
import sysconfig


def damaged_files(dist: importlib.metadata.Distribution) -> list[str]:
    """The files of ``dist`` whose content is not what its RECORD says, as ``"PATH (missing)"`` etc."""
    found = []
    for file in dist.files or ():
        if file.hash is None:  # RECORD itself, and bytecode pip compiled after installing
            continue
        try:
            data = file.locate().read_bytes()
        except OSError:
            found.append(f"{file} (missing)")
            continue
        digest = base64.urlsafe_b64encode(hashlib.new(file.hash.mode, data).digest()).rstrip(b"=").decode()
        if digest != file.hash.value:
            found.append(f"{file} (changed)")
    return found


def main() -> int:
    """0 when vcam is installed here with every file as installed, else 1 with the reason on stderr."""
    site_packages = sysconfig.get_paths()["purelib"]
    dists = list(importlib.metadata.distributions(name="vcam", path=[site_packages]))
    if not dists:
        print(f"vcam is not installed in {site_packages}", file=sys.stderr)
        return 1
    damaged = damaged_files(dists[0])
    if damaged:
        print(f"{len(damaged)} file(s) of vcam differ from its wheel: {', '.join(damaged[:3])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
