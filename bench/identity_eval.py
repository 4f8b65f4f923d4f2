"""Identity matching on the license-clean photos in tests/data: precision, recall, F1 per aggregation.

Builds the three folders `vcam eval identity` takes from the committed photos, runs
it, and prints the table. It prints figures; it is not a test.

    .venv/bin/python bench/identity_eval.py [--json out.json]

Enrolled: Barack Obama (obama.jpg) and Joe Biden (biden.jpg), each with vcam's
default augmentation. Probes: the other Obama photos (obama2, obama3 and two
partial faces); Biden has only one photo, so no probe. Impostors: every face in
grace_hopper.jpg, astronaut.jpg and group1-6.jpg (people who are not enrolled).
The set is small and easy; the figures say how the defaults behave, not how
they would on thousands of people.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
LAYOUT = {
    "gallery/Barack Obama": ["obama.jpg"],
    "gallery/Joe Biden": ["biden.jpg"],
    "probes/Barack Obama": ["obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg"],
    "impostors": ["grace_hopper.jpg", "astronaut.jpg"] + [f"group{i}.jpg" for i in range(1, 7)],
}


def build(root: Path) -> None:
    """Copy the photos into ``root/{gallery,probes,impostors}``."""
    for folder, files in LAYOUT.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy(DATA / name, root / folder / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the full report here")
    args = parser.parse_args()
    from vcam.evaluate import evaluate_identity
    from vcam.nativelog import filter_native_logs

    filter_native_logs()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        report = evaluate_identity(root / "gallery", root / "probes", root / "impostors")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print_summary(report)


def print_summary(report: dict) -> None:
    """Per aggregation: P/R/F1 at vcam's default threshold, and the thresholds where F1 is best."""
    from vcam.pipeline.matching import DEFAULT_THRESHOLD

    print(f"enrolled {report['people']}; {report['counts']['probes']} probes, {report['counts']['impostors']} "
          f"impostor faces; metric {report['metric']}")
    print(f"{'aggregation':12s} {'P@' + str(DEFAULT_THRESHOLD):>8s} {'R@' + str(DEFAULT_THRESHOLD):>8s} "
          f"{'F1@' + str(DEFAULT_THRESHOLD):>8s}   best-F1 thresholds")
    for name, result in report["aggregations"].items():
        rows = result["table"]
        at = min(rows, key=lambda r: abs(r["threshold"] - DEFAULT_THRESHOLD))
        best = max(r["f1"] for r in rows)
        span = [r["threshold"] for r in rows if r["f1"] == best]
        print(f"{name:12s} {at['precision']:8.2f} {at['recall']:8.2f} {at['f1']:8.2f}   "
              f"F1 {best:.2f} for {min(span):.2f}..{max(span):.2f}")
    print(f"chosen: {report['chosen']}")


if __name__ == "__main__":
    main()
