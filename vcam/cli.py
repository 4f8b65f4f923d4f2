"""The ``vcam`` command: a thin shell that turns arguments into calls on the daemon.

::

    vcam run [--source SRC] [--output OUT] [--frames N] [--seconds S] [--mirror] ...
    vcam analyze VIDEO --json OUT.json
    vcam batch INPUT... --out DIR [--workers N] [--address HOST:PORT]
    vcam config show | path | set KEY VALUE | unset KEY...

``vcam run`` starts from the settings in the config file (``vcam config``); flags given on the command
line override them for that run. Every error a user can cause is one line on stderr and exit status 2; an
unexpected error is one line too, with the traceback in the log file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

# Quiet MediaPipe/TFLite's C++ logging before it is imported anywhere.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vcam  # noqa: E402
from vcam.cli_config import add_commands as add_config_commands  # noqa: E402
from vcam.cli_people import add_commands  # noqa: E402
from vcam.cli_tray import add_commands as add_tray_commands  # noqa: E402
from vcam.cli_tray import default_command  # noqa: E402
from vcam.config import DEFAULTS, Config, validate  # noqa: E402
from vcam.config_file import load_config  # noqa: E402
from vcam.errors import VcamError  # noqa: E402
from vcam.features import ANALYSIS, FEATURES  # noqa: E402
from vcam.files import write_text_atomic  # noqa: E402

log = logging.getLogger("vcam")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="vcam", description="Read the room while you present.")
    parser.add_argument("--version", action="version", version=f"vcam {vcam.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub.add_parser("run", help="analyse a live source and send annotated video out"))
    _add_analyze(sub.add_parser("analyze", help="analyse a recording as fast as possible and write JSON"))
    _add_batch(sub.add_parser("batch", help="analyse many recordings on Ray (this machine's cores, or a cluster)"))
    add_commands(sub)
    add_config_commands(sub)
    add_tray_commands(sub)
    return parser


def _switch(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """``--flag`` / ``--no-flag``; None when neither is given, so the config file's value stands."""
    p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help)


_ANALYZE_SWITCHES = (*ANALYSIS, "eu_mode")
"""The switches ``vcam analyze`` takes: the analysis features, and EU mode."""


def _feature_flags(p: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """``--NAME/--no-NAME`` for each feature of ``names`` (default: all), from :data:`vcam.features.FEATURES`."""
    for feature in FEATURES:
        if names is None or feature.name in names:
            _switch(p, feature.flag, f"{feature.help} ({'on' if feature.default else 'off'} by default)")
    p.add_argument("--gallery", metavar="PATH", help="the gallery file for --identity (default: your user data folder)")
    p.add_argument("--emotion-model", metavar="NAME", help="the model for --emotion: emotion-fer (the default) or "
                   "emotion-face-api")


_RUN_FLAGS = ("source", "output", "fps", "loop", "frames", "seconds", "gallery", "emotion_model", "record", "feed",
              "port", *(f.name for f in FEATURES))
"""``vcam run`` flags that name a ``Config`` field; each is None unless given (``--size`` gives width and height)."""


def _add_run(p: argparse.ArgumentParser) -> None:
    p.description = ("Settings not given as flags come from the config file (vcam config show), else the defaults "
                      "below.")
    p.add_argument("--source", help="auto, demo, webcam[:N], screen[:MONITOR], screen:X,Y,W,H, window:TITLE or a "
                   "video file (default: auto = the first webcam, else the demo)")
    p.add_argument("--output", help="auto, vcam, window, file:PATH.mp4 or none (default: auto = "
                   "virtual camera, else a window, else vcam-out.mp4)")
    p.add_argument("--frames", type=int, help="stop after N frames")
    p.add_argument("--seconds", type=float, help="stop after S seconds")
    p.add_argument("--size", help="outgoing video size WxH (default 1280x720)")
    p.add_argument("--fps", type=float, help="frame rate for demo and screen sources (default 30)")
    _switch(p, "--loop", "restart a video file at its end")
    _feature_flags(p)
    p.add_argument("--port", type=int, help="port of the live feed and dashboard on 127.0.0.1 "
                   "(default 8765, or any free port when it is taken; 0 = any free port)")
    _switch(p, "--feed", "serve the feed and dashboard (on by default)")
    p.add_argument("--record", nargs="?", const="auto", metavar="DIR", help="write the session timeline (CSV and "
                   "JSON, once per second) to DIR, or to a new folder in your user data folder")


def _add_analyze(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="the video file to analyse")
    p.add_argument("--json", required=True, metavar="OUT.json", help="where to write the results")
    p.add_argument("--timeline", metavar="DIR", help="also write the session timeline (CSV and JSON) to DIR")
    p.add_argument("--report", metavar="OUT.html", help="also write the session report (needs --timeline)")
    p.add_argument("--calibrate-gaze-at", type=float, action="append", default=[], metavar="SECONDS",
                   help="a moment of the recording (seconds) when everyone was looking at their screen, e.g. "
                   "asked to by the presenter: each person's screen region is centred on their gaze of the two "
                   "seconds before it (within 10 degrees); may be given more than once")
    _analysis_flags(p, sample="all")


def _analysis_flags(p: argparse.ArgumentParser, sample: str) -> None:
    """What ``analyze`` and ``batch`` share: --no-progress, --sample (default ``sample``), the feature switches."""
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--sample", default=sample, help=f"all, every:N (every Nth frame), RATEhz (e.g. 10hz: ten frames "
                   f"per second of video) or scene (only frames that changed, and at least every 2 s); default {sample}")
    _feature_flags(p, _ANALYZE_SWITCHES)
    p.set_defaults(**{f.name: f.default for f in FEATURES if f.name in _ANALYZE_SWITCHES})  # no config file here


def _add_batch(p: argparse.ArgumentParser) -> None:
    p.description = ("Analyse every recording given (video files, or folders searched for them) on Ray: what "
                     "`vcam analyze` writes goes to DIR/NAME/, one entry per recording to DIR/index.json. Run "
                     "again to resume: recordings done with the same content and settings are skipped.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a video file, or a folder to search for them")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder for the results and index.json")
    p.add_argument("--workers", type=int, help="worker processes, one core each (default: this machine's cores, "
                   "or the cluster's CPUs)")
    p.add_argument("--address", metavar="HOST:PORT", help="join this running Ray cluster (`ray start --head`) "
                   "instead of starting Ray here (default: $RAY_ADDRESS)")
    p.add_argument("--segment", type=float, default=300.0, metavar="SECONDS", help="cut a recording longer than 1.5 "
                   "× SECONDS into segments analysed in parallel and joined (2 s overlap); 0: never (default 300; "
                   "not with --timeline or --sample scene)")
    _switch(p, "--timeline", "also write each recording's session timeline to DIR/NAME/timeline/")
    _switch(p, "--report", "also write each recording's session report to DIR/NAME/report.html (needs --timeline)")
    _analysis_flags(p, sample="10hz")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise VcamError(f"bad --size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    return w, h


def config_from_args(args: argparse.Namespace) -> Config:
    """The run's ``Config``: defaults < the config file < the flags given (flags not given are None).

    Raises ConfigError for a broken config file (naming the file, the line and the fix) or a bad flag.
    """
    width, height = _size(args.size) if args.size is not None else (None, None)
    if args.emotion_model is not None:
        validate("emotion_model", args.emotion_model)
    return load_config(width=width, height=height, **{name: getattr(args, name) for name in _RUN_FLAGS})


def cmd_run(args: argparse.Namespace) -> int:
    """``vcam run``: start the daemon and wait until it stops."""
    from vcam.daemon import Daemon

    from vcam.instance import claim

    daemon = Daemon(config_from_args(args))
    with claim(lambda message: _on_message(daemon, message)):  # before the camera is taken: one vcam at a time
        daemon.start()
        signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
        try:
            while not daemon.wait(0.5):
                pass
        finally:
            daemon.stop()
            _report(daemon)
    if daemon.error is not None:
        raise daemon.error
    return 0


def _on_message(daemon, message: str) -> None:
    """What ``vcam run`` does when another launch talks to it: ``show`` names the dashboard, ``quit`` stops,
    ``calibrate-gaze`` and ``forget-gaze`` (``vcam gaze``) calibrate gaze or forget it and log how it went."""
    if message == "quit":
        log.info("asked to quit by another vcam command")
        daemon.stop()
    elif message in ("calibrate-gaze", "forget-gaze"):
        try:
            daemon.calibrate_gaze(reset=message == "forget-gaze")
        except VcamError as err:
            log.warning("gaze calibration: %s", err)
    elif message == "show":
        url = daemon.dashboard_url
        log.info("another vcam was started: this one keeps running%s", f"; dashboard: {url}" if url else "")


def _report(daemon) -> None:
    s = daemon.stats.summary()
    log.info("sent %d frames in %.1f s (%.1f fps) to %s; analysed %d (%.1f Hz), latency p95 %.0f ms",
             s["sent"], s["seconds"], s["output_fps"], daemon.output.name if daemon.output else "-",
             s["analysed"], s["analysis_hz"], s["output_latency_ms_p95"])


def cmd_analyze(args: argparse.Namespace) -> int:
    """``vcam analyze``: analyse a file and write the JSON."""
    from vcam.analyze import analyze, write_json
    from vcam.features import Switches

    model = validate("emotion_model", args.emotion_model or DEFAULTS["emotion_model"])
    features = Switches(_features(args))
    if args.report and not args.timeline:
        raise VcamError("--report needs --timeline DIR: the report is drawn from the timeline")
    document = analyze(args.video, progress=args.progress, features=features, gallery=args.gallery,
                       timeline=args.timeline, sample=args.sample, emotion_model=model,
                       calibrate_gaze_at=args.calibrate_gaze_at)
    write_json(document, args.json)
    if args.report:
        from vcam.session import write_report

        write_report(args.timeline, args.report)
    log.info("wrote %s: %d of %d frames analysed, %d tracks", args.json, document["source"]["analysed"],
             document["source"]["frames"], len(document["tracks"]))
    return 0


def _features(args: argparse.Namespace) -> tuple[str, ...]:
    """The analysis features the flags switch on, checked as ``vcam run`` checks them (emotion in EU mode...)."""
    Config(**{name: getattr(args, name) for name in _ANALYZE_SWITCHES})
    return tuple(name for name in ANALYSIS if getattr(args, name))


def cmd_batch(args: argparse.Namespace) -> int:
    """``vcam batch``: analyse many recordings on Ray; exit 1 with a one-line summary when any failed."""
    from vcam.batch import run_batch

    summary = run_batch(args.inputs, args.out, features=_features(args), sample=args.sample, gallery=args.gallery,
                        timeline=bool(args.timeline), report=bool(args.report), workers=args.workers,
                        address=args.address, progress=args.progress, segment=args.segment)
    if summary.failed:
        log.error("batch: %s; see %s", summary.line(), Path(args.out) / "index.json")
        return 1
    log.info("batch: %s; see %s", summary.line(), Path(args.out) / "index.json")
    return 0


def _setup_logging(verbose: bool) -> Path:
    from platformdirs import user_log_dir

    if not verbose:
        from vcam.nativelog import filter_native_logs

        filter_native_logs()
    logging.getLogger("websockets").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "vcam: %(message)s")
    return Path(user_log_dir("vcam")) / "crash.log"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vcam`` console script; returns the exit status.

    Bare ``vcam`` is ``vcam tray`` on a desktop (what a launcher or autostart runs), else ``--help``.
    """
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv or default_command())
    crash_log = _setup_logging(args.verbose)
    try:
        handler = {"run": cmd_run, "analyze": cmd_analyze, "batch": cmd_batch}.get(args.command) or args.handler
        return handler(args)
    except VcamError as err:
        log.error("error: %s", err)
        return 2
    except KeyboardInterrupt:
        log.info("stopped")
        return 130
    except Exception as err:  # noqa: BLE001 - a user never sees a bare traceback
        where = _write_crash_log(crash_log, traceback.format_exc())
        log.error("internal error: %s (details in %s; please report it)", err, where)
        return 1


def _write_crash_log(path: Path, details: str) -> Path | str:
    """Leave ``details`` in ``path`` (mode 0600, replaced whole); where they are, or why they could not be kept."""
    try:
        write_text_atomic(path, details, advice="remove it so vcam can keep crash details there")
    except (VcamError, OSError) as err:
        log.debug("crash details: %s", details)
        return f"no file: {err}; run again with --verbose to see them"
    return path


if __name__ == "__main__":
    sys.exit(main())
