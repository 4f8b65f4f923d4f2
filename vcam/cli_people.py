"""The ``vcam enroll``, ``vcam gallery``, ``vcam models`` and ``vcam eval`` commands: thin shells.

Each turns its arguments into calls on :mod:`vcam.gallery`, :mod:`vcam.enroll`,
:mod:`vcam.models` or :mod:`vcam.evaluate`; :mod:`vcam.cli` owns the parser's top level and the
error handling.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from vcam.errors import VcamError

log = logging.getLogger("vcam")

QUIT_TIMEOUT = 5.0
"""Seconds ``vcam quit`` waits for the running vcam to answer. A vcam that is starting can be busy for a few
seconds (loading models holds the interpreter); longer waits that out, shorter reports "busy" sooner."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add enroll, gallery, models and eval to the top-level subparsers."""
    _add_enroll(sub.add_parser("enroll", help="add a person to the gallery from photos or a live source"))
    _add_gallery(sub.add_parser("gallery", help="list, remove or export enrolled people"))
    _add_models(sub.add_parser("models", help="list, verify or install models"))
    _add_eval(sub.add_parser("eval", help="measure identity matching, name reading, the emotion models or gaze"))
    _add_report(sub.add_parser("report", help="draw a recorded session's report as one HTML file"))
    sub.add_parser("dashboard", help="open the running vcam's live dashboard in your browser").set_defaults(
        handler=cmd_dashboard)
    sub.add_parser("quit", help="stop the running vcam (tray or run), flushing its session").set_defaults(
        handler=cmd_quit)
    gaze = sub.add_parser("gaze", help="calibrate the running vcam's gaze: everyone is looking at their screen now "
                          "(for a desktop shortcut), or forget it")
    gaze.add_argument("action", choices=("calibrate", "forget"))
    gaze.set_defaults(handler=cmd_gaze)
    sub.add_parser("doctor", help="check this machine for what vcam needs and print how to fix what is missing"
                   ).set_defaults(handler=cmd_doctor)


def _gallery_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", metavar="PATH", help="the gallery file (default: in your user data folder)")


def _add_enroll(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the person's name, as it will be shown")
    p.add_argument("images", nargs="*", help="photos that each show this one person")
    p.add_argument("--from", dest="source", metavar="SRC", help="enroll the one face seen in a live source instead")
    p.add_argument("--frames", type=int, default=10, help="frames to collect with --from (default 10)")
    p.add_argument("--augment", type=int, metavar="N", help="extra variants per photo or frame: flips, light, "
                   "rotation, blur, scale (default 5 for photos, 0 for --from: live frames vary already)")
    p.add_argument("--no-augment", dest="augment", action="store_const", const=0, help="same as --augment 0")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--replace", action="store_true", help="start this person over")
    mode.add_argument("--add", action="store_true", help="add these photos to an enrolled person")
    _gallery_flag(p)
    p.set_defaults(handler=cmd_enroll)


def _add_gallery(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    _gallery_flag(sub.add_parser("list", help="who is enrolled"))
    remove = sub.add_parser("remove", help="forget a person")
    remove.add_argument("name")
    _gallery_flag(remove)
    export = sub.add_parser("export", help="write the gallery as JSON (names, sources, descriptors)")
    export.add_argument("path", help="where to write, e.g. gallery.json")
    _gallery_flag(export)
    p.set_defaults(handler=cmd_gallery)


def _add_models(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every model, where it is and whether it checks out")
    sub.add_parser("verify", help="check every model's sha256; exit 1 if one fails")
    install = sub.add_parser("install", help="download an optional model (needs internet)")
    install.add_argument("name")
    p.set_defaults(handler=cmd_models)


def _add_eval(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", required=True)
    ident = sub.add_parser("identity", help="precision, recall and F1 of identity matching")
    ident.add_argument("--gallery", required=True, metavar="DIR", help="one sub-folder of photos per person to enroll")
    ident.add_argument("--probes", required=True, metavar="DIR", help="sub-folders named by person: other photos of them")
    ident.add_argument("--impostors", required=True, metavar="DIR", help="photos of people who are not enrolled")
    ident.add_argument("--json", required=True, metavar="OUT.json", help="where to write the report")
    names = sub.add_parser("names", help="OCR of rendered tile name labels: exact, CER, wrong names, ms per engine")
    names.add_argument("--engines", default="rapidocr,tesseract,tesseract-line",
                       help="comma-separated: rapidocr (vcam's reader), tesseract, tesseract-line (if installed)")
    names.add_argument("--runs", type=int, default=3, help="reads of each label; its median time is reported")
    names.add_argument("--json", metavar="OUT.json", help="also write the whole report, with every mistake")
    emotion = sub.add_parser("emotion", help="accuracy, macro recall, confusion and ms per face of each emotion model")
    emotion.add_argument("--labels", required=True, metavar="DIR",
                         help="one sub-folder of photos per class, named angry, disgust, fear, happy, sad, surprise, "
                              "neutral (e.g. tests/data/expressions)")
    emotion.add_argument("--models", help="comma-separated emotion models (default: every one in vcam models list)")
    emotion.add_argument("--runs", type=int, default=3,
                         help="classifications of each face; its median time is reported")
    emotion.add_argument("--json", metavar="OUT.json", help="also write the whole report, with every face's answers")
    gaze = sub.add_parser("gaze", help="accuracy and confusion of looking at the screen on labelled photos and clips")
    gaze.add_argument("--labels", required=True, metavar="FILE",
                      help="JSON or CSV of labelled faces: looking, away, eyes-closed (see vcam.evaluate_gaze)")
    gaze.add_argument("--json", metavar="OUT.json", help="also write the whole report, with every frame's judgement")
    p.set_defaults(handler=cmd_eval)


def _eval_names(args: argparse.Namespace) -> int:
    from vcam.analyze import write_json
    from vcam.evaluate_names import ENGINES, evaluate_names, format_report

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or args.runs < 1:
        raise VcamError(f"--engines must name some of {', '.join(ENGINES)} and --runs be >= 1; "
                        f"got {args.engines!r} and {args.runs}")
    report = evaluate_names(engines, runs=args.runs)
    sys.stdout.write(format_report(report) + "\n")
    if args.json:
        write_json(report, args.json)
    return 0


def _eval_emotion(args: argparse.Namespace) -> int:
    from vcam.analyze import write_json
    from vcam.evaluate_emotion import evaluate_emotion, format_report
    from vcam.manifest import emotion_models

    known = emotion_models()
    models = [m.strip() for m in (args.models or ",".join(known)).split(",") if m.strip()]
    if not models or any(m not in known for m in models) or args.runs < 1:
        raise VcamError(f"--models must name some of {', '.join(known)} and --runs be >= 1; "
                        f"got {args.models!r} and {args.runs}")
    report = evaluate_emotion(args.labels, models, runs=args.runs)
    sys.stdout.write(format_report(report) + "\n")
    if args.json:
        write_json(report, args.json)
    return 0


def _eval_gaze(args: argparse.Namespace) -> int:
    from vcam.analyze import write_json
    from vcam.evaluate_gaze import evaluate_gaze, format_report

    report = evaluate_gaze(args.labels)
    sys.stdout.write(format_report(report) + "\n")
    if args.json:
        write_json(report, args.json)
    return 0


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", help="the session folder (vcam run --record, or vcam analyze --timeline)")
    p.add_argument("--out", required=True, metavar="OUT.html", help="where to write the report")
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """``vcam report SESSION --out report.html``."""
    from vcam.session import write_report

    write_report(args.session, args.out)
    return 0


def _tell_running(message: str, absent: str) -> None:
    """Deliver ``message`` to the running vcam; VcamError ``absent`` when none runs, or saying it is busy."""
    from vcam.instance import busy_message, deliver

    delivery = deliver(message, timeout=QUIT_TIMEOUT)
    if delivery.state == "absent":
        raise VcamError(absent)
    if delivery.state == "busy":
        raise VcamError(busy_message(delivery.pid, message, QUIT_TIMEOUT))


def cmd_quit(args: argparse.Namespace) -> int:
    """``vcam quit``: ask the running vcam to stop, as its tray's Quit does."""
    _tell_running("quit", "no vcam is running, so there is nothing to quit")
    log.info("asked the running vcam to quit")
    return 0


def cmd_gaze(args: argparse.Namespace) -> int:
    """``vcam gaze calibrate|forget``: the tray's Gaze calibration items, from a command (or a desktop shortcut)."""
    _tell_running("calibrate-gaze" if args.action == "calibrate" else "forget-gaze",
                  "no vcam is running, so there is no gaze to calibrate: start 'vcam tray' or 'vcam run'")
    log.info("asked the running vcam to %s; its tray (or its log) says for how many people",
             "calibrate gaze" if args.action == "calibrate" else "forget its gaze calibration")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``vcam dashboard``: open the running daemon's dashboard (the URL carries its private token)."""
    import webbrowser

    from vcam.feed import read_dashboard_url

    url = read_dashboard_url()
    if url is None:
        raise VcamError("no vcam is running: start one with 'vcam run', then run 'vcam dashboard' again")
    if not webbrowser.open(url):
        sys.stdout.write(url + "\n")
        log.info("no browser found: open the URL above yourself")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """``vcam doctor``: the table of checks and their fixes; exit 1 if a needed check fails."""
    from vcam import doctor

    checks = doctor.run_checks()
    sys.stdout.write(doctor.format_report(checks) + "\n")
    return doctor.exit_code(checks)


def cmd_enroll(args: argparse.Namespace) -> int:
    """``vcam enroll NAME IMAGE...`` or ``vcam enroll NAME --from SRC --frames N``."""
    from vcam.enroll import Augment, enroll_from_frames, enroll_images
    from vcam.gallery import Gallery

    if bool(args.images) == bool(args.source):
        raise VcamError("enroll needs photos (vcam enroll NAME a.jpg b.jpg) or a live source (--from webcam), not both")
    count = args.augment if args.augment is not None else (0 if args.source else 5)
    augment = Augment(count=count) if count > 0 else None
    if args.source:
        from vcam.sources import make_source

        with make_source(args.source) as src:
            descriptors, sources = enroll_from_frames(src, args.frames, augment=augment)
    else:
        descriptors, sources = enroll_images(args.images, augment=augment)
    with Gallery(args.gallery) as gallery:
        if args.add:
            gallery.add_images(args.name, descriptors, sources)
        else:
            gallery.add(args.name, descriptors, sources, replace=args.replace)
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    """``vcam gallery list|remove|export``."""
    from vcam.gallery import Gallery

    with Gallery(args.gallery) as gallery:
        if args.action == "list":
            rows = gallery.names()
            sys.stdout.write("".join(f"{name}\t{count} descriptors\tenrolled {created}\n" for name, count, created in rows)
                             or "nobody is enrolled; add people with 'vcam enroll NAME PHOTO...'\n")
        elif args.action == "remove":
            gallery.remove(args.name)
            log.info("removed %s", args.name)
        else:
            gallery.export(args.path)
            log.info("exported the gallery to %s", args.path)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``vcam models list|verify|install``."""
    from vcam import models

    if args.action == "install":
        path = models.install(args.name)
        log.info("installed %s at %s", args.name, path)
        return 0
    statuses = models.verify_all()
    sys.stdout.write(models.format_table(statuses) + "\n")
    if args.action == "list":
        sys.stdout.write("\n" + models.format_details() + "\n")
    return 1 if args.action == "verify" and not all(s.ok for s in statuses) else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """``vcam eval identity``: write the JSON report and log the best figures; ``names``, ``emotion``, ``gaze``: print them."""
    from vcam.analyze import write_json

    if args.what == "names":
        return _eval_names(args)
    if args.what == "emotion":
        return _eval_emotion(args)
    if args.what == "gaze":
        return _eval_gaze(args)
    from vcam.evaluate import evaluate_identity

    report = evaluate_identity(args.gallery, args.probes, args.impostors)
    write_json(report, args.json)
    log.info("wrote %s; best: %s", args.json, json.dumps(report.get("chosen"), default=str))
    return 0
