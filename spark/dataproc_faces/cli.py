"""The `dataproc-faces` command; its `run` is also the Spark main file's entry on Dataproc."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dataproc_faces.detectors.base import (
    DEFAULT_SCORES,
    DETECTORS,
    HIDING_DETECTOR,
    PRIVACY_SCORES,
    DetectOptions,
)
from dataproc_faces.imaging.codec import DEFAULT_MAX_PIXELS
from dataproc_faces.imaging.options import (
    add_anonymise_arguments,
    anonymise_options,
    check_render,
    color,
)
from dataproc_faces.imaging.render import (
    MODES,
    RenderOptions,
    detector_for,
    privacy_detect,
)
from dataproc_faces.results.review import REASONS as REVIEW_REASONS
from dataproc_faces.sparkenv import EnvironmentProblem

if TYPE_CHECKING:
    from concurrent.futures import Future

USAGE_ERROR = 2
MODE_HELP = (
    "outline (default: draw a box around each face), or hide each face: blur, pixelate, solid "
    "(a colour), both (blur, then outline)"
)


class UsageError(Exception):
    """Bad arguments or environment: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not the usage block plus the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _scale_factor(text: str) -> float:
    value = float(text)
    if not 1.0 < value <= 2.0:
        raise argparse.ArgumentTypeError(f"must be in (1, 2], got {text}")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    d = DetectOptions()
    g = parser.add_argument_group("detection")
    g.add_argument(
        "--detector",
        choices=sorted(DETECTORS),
        default=None,
        help=f"default: {d.detector} to outline; {HIDING_DETECTOR} (every look, merged) for "
        "blur, pixelate, solid and both",
    )
    g.add_argument(
        "--scale-factor", type=_scale_factor, default=d.scale_factor, help="Haar pyramid step"
    )
    g.add_argument(
        "--min-neighbors", type=_positive_int, default=d.min_neighbors, help="Haar votes per face"
    )
    g.add_argument(
        "--min-size", type=_positive_int, default=d.min_size, help="smallest face side, px"
    )
    g.add_argument("--max-size", type=_positive_int, default=None, help="largest face side, px")
    g.add_argument(
        "--detect-max-side",
        type=_positive_int,
        default=d.detect_max_side,
        help="longest side of the copy detection runs on (boxes map back to full resolution)",
    )
    g.add_argument(
        "--score-threshold",
        type=_unit_float,
        default=d.score_threshold,
        help="minimum score for detectors that score faces (default: the detector's own, "
        + ", ".join(f"{name} {score}" for name, score in DEFAULT_SCORES.items())
        + "; for blur, pixelate, solid and both the lower privacy threshold, "
        + ", ".join(f"{name} {score}" for name, score in PRIVACY_SCORES.items())
        + ", since a missed face stays recognisable)",
    )


def detect_options_from_args(args: argparse.Namespace) -> DetectOptions:
    """The options given; unnamed, the mode's detector (the ensemble when hiding) at, for a mode
    that hides faces, its privacy threshold (render.detector_for, privacy_detect)."""
    if args.max_size is not None and args.max_size < args.min_size:
        raise UsageError("--max-size must not be smaller than --min-size")
    mode = getattr(args, "mode", "outline")
    given = DetectOptions(
        detector=detector_for(mode, args.detector),
        scale_factor=args.scale_factor,
        min_neighbors=args.min_neighbors,
        min_size=args.min_size,
        max_size=args.max_size,
        detect_max_side=args.detect_max_side,
        score_threshold=args.score_threshold,
    )
    return privacy_detect(given, mode)


def _add_run(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="find and outline faces in every image under --input",
        description="Find faces in every image under INPUT; write outlined images, a manifest "
        "and a summary under OUTPUT.",
    )
    p.add_argument("--input", help="folder or gs://bucket/prefix of images")
    p.add_argument(
        "--input-list",
        metavar="URI",
        help="a text file of image paths/URIs, one per line (# comments), used instead of "
        "listing --input; outputs mirror each entry's path below --input, or below the "
        "deepest folder common to all entries when --input is not given",
    )
    p.add_argument("--output", required=True, help="folder or gs://bucket/prefix for results")
    p.add_argument(
        "--master",
        default=None,
        help="Spark master (default local[*]; under spark-submit, the one it was given)",
    )
    p.add_argument("--partitions", type=_positive_int, default=None, help="Spark tasks")
    p.add_argument(
        "--force",
        action="store_true",
        help="process every input again, even those OUTPUT holds results for (same options, "
        "unchanged input); also lets a run write faces less hidden than OUTPUT holds (outline "
        "after blur, a weaker setting)",
    )
    p.add_argument(
        "--corrections",
        metavar="FILE",
        help="a JSON file (path or gs:// URI) of a person's boxes per photo, redoing only the "
        'photos it names: {"version": 1, "photos": {"<path below --input>": {"add": [{"x": X, '
        '"y": Y, "w": W, "h": H, "note": "..."}], "remove": [{"x": ..., ...}], "by": "who", '
        '"at": "2026-12-06T18:00:00Z", "reviewed": true}}}; added boxes are always hidden, a '
        "removed box drops the detector's find it overlaps (IoU >= 0.5). They are kept under "
        "OUTPUT/_corrections/ and applied by every later run (README, Corrections)",
    )
    add_detector_arguments(p)
    r = p.add_argument_group("output images")
    r.add_argument("--mode", choices=MODES, default="outline", help=MODE_HELP)
    r.add_argument("--color", type=color, default=(0, 255, 0), help="#rrggbb or a name")
    add_anonymise_arguments(r)
    r.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images with more pixels than this, before decoding",
    )
    p.set_defaults(func=cmd_run)


def build_parser() -> Parser:
    parser = Parser(prog="dataproc-faces", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_run(sub)
    for module in _optional_commands():
        module.register(sub)
    return parser


def _optional_commands() -> list:
    """Commands living in their own modules; each exposes register(subparsers)."""
    import importlib

    found = []
    for name in ("evaluate", "remote", "serve", "follow"):
        try:
            found.append(importlib.import_module(f"dataproc_faces.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"dataproc_faces.{name}":
                raise
    return found


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a run: one line, exit 130; the next run resumes."""


INTERRUPTED = 130


def _check_output(output: str, given: str) -> None:
    """The output must be a folder (or prefix) or absent, never a file."""
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import is_remote

    if is_remote(output):
        if store_for(output).version(output) is not None:
            raise UsageError(f"--output {given} is an object, not a prefix: choose a folder")
    elif Path(output).exists() and not Path(output).is_dir():
        raise UsageError(f"--output {given} is a file: choose a new or empty folder")


def _check_input(source: str, given: str) -> None:
    """The input must be a folder of originals (a single photo goes in an --input-list)."""
    from dataproc_faces.results.layout import Results
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import is_remote

    store = store_for(source)
    if not store.exists(source):
        is_file = store.version(source) is not None if is_remote(source) else Path(source).exists()
        if is_file:
            raise UsageError(
                f"--input {given} is a file: give the folder that holds it, or name single "
                "photos in a text file passed as --input-list"
            )
        raise UsageError(f"--input {given} does not exist")
    if store.version(Results(source).marker) is not None:
        raise UsageError(
            f"--input {given} is a results folder of this job: give the folder of the originals"
        )


def check_apart(source: str, output: str, given_in: str, given_out: str) -> None:
    """Inputs and outputs never overlap, either way: a run must not write over an original."""
    from dataproc_faces.storage.base import is_within

    if is_within(output, source):
        raise UsageError(f"--output {given_out} lies inside the input folder {source}")
    if is_within(source, output):
        raise UsageError(
            f"--input {given_in} lies inside the output folder {output}: the run would write "
            "over the originals; choose an output folder outside the input"
        )


def _hold(spec: Any, force: bool = False) -> tuple[Any, Any]:
    """Claim the output (ownership.py) and take its lock: (results, lock). Notes go to stderr.
    A run that would write faces less hidden than the folder holds is refused unless `force`."""
    from dataproc_faces.results import ownership

    now = ownership.hiding(spec.render.mode, spec.render.hidden(), spec.detect.to_dict())
    try:
        note = ownership.claim(spec.results, spec.input, now, force)
        lock, took_over = ownership.acquire(spec.results, spec.input)
    except (ownership.NotOurs, ownership.Held, ownership.Weaker) as exc:
        raise UsageError(str(exc)) from None
    for line in (note, took_over):
        if line:
            print(f"dataproc-faces: {line}", file=sys.stderr)
    return spec.results, lock


class _Stopper:
    """Turns Ctrl-C and SIGTERM into KeyboardInterrupt, once Spark's jobs are cancelled."""

    def __init__(self) -> None:
        self.spark: Any = None
        self.requested = False
        self._before: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._before[sig] = signal.signal(sig, self._handle)
        return self

    def arm(self, spark: Any) -> None:
        """After Spark starts: PySpark installs its own SIGINT handler; ours goes back on top."""
        self.spark = spark
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        # No Spark call here: the interrupted thread may be inside one on the same connection.
        self.requested = True
        logging.disable(logging.CRITICAL)  # py4j logs the broken call it was in; we are leaving
        raise KeyboardInterrupt

    def wind_down(self) -> None:
        """After an interrupt: Spark stops quietly (killed tasks are expected, not errors)."""
        if self.spark is not None:
            with contextlib.suppress(Exception):
                self.spark.sparkContext.setLogLevel("OFF")
                self.spark.sparkContext.cancelAllJobs()

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._before.items():
            signal.signal(sig, handler)


def _render_options(args: argparse.Namespace) -> RenderOptions:
    try:
        render = RenderOptions(
            mode=args.mode, color=args.color, max_pixels=args.max_pixels, **anonymise_options(args)
        )
    except ValueError as exc:  # options that do not go together
        raise UsageError(str(exc)) from None
    problem = check_render(args, render)  # a flag for another mode, or a setting too weak
    if problem:
        raise UsageError(problem)
    return render


# What the images under images/ are, by mode: the run's last lines say it.
MADE = {
    "outline": "outlined",
    "blur": "blurred",
    "pixelate": "pixelated",
    "solid": "filled",
    "both": "blurred and outlined",
}


def cmd_run(args: argparse.Namespace) -> int:
    from dataproc_faces import sparkenv
    from dataproc_faces.pipeline import JobSpec
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import normalise

    if not args.input and not args.input_list:
        raise UsageError("give --input, --input-list, or both")
    spec = JobSpec(
        input=normalise(args.input) if args.input else "",
        output=normalise(args.output),
        detect=detect_options_from_args(args),
        render=_render_options(args),
        partitions=args.partitions,
        input_list=normalise(args.input_list) if args.input_list else None,
        corrections=normalise(args.corrections) if args.corrections else None,
    )
    try:
        for uri in (spec.input, spec.output, spec.input_list, spec.corrections):
            if uri:
                store_for(uri)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _check_output(spec.output, args.output)
    if spec.input:
        check_apart(spec.input, spec.output, args.input, args.output)
        if not spec.input_list:
            _check_input(spec.input, args.input)
            check_corrections(spec, args.corrections)

    seen: dict[str, Any] = {}

    def tracked(total: int, read_done: Any) -> Any:
        from dataproc_faces import progress

        seen.update(total=total, done=read_done)
        return _then_compacting(progress.watch(total, read_done))

    held = _hold(spec, args.force) if spec.input else None
    starting = sparkenv.start(args.master)  # the JVM starts while the detector is checked
    with _Stopper() as stopper:
        try:
            return _run(args, spec, held, stopper, tracked, starting)
        except Exception:
            if not stopper.requested:  # a failure that an interrupt caused is the interrupt's
                raise
        except KeyboardInterrupt:
            pass
    done = min(seen["done"](), seen["total"]) if seen else 0
    where = f"after {done} of {seen['total']} images" if seen else "before any image was done"
    raise Interrupted(f"interrupted {where}; run the same command again to resume")


@contextlib.contextmanager
def _then_compacting(watching: Any) -> Any:
    """The tasks' progress, then one line saying the run goes on to compact its results."""
    from dataproc_faces.progress import format_phase

    with watching as reporter:
        yield reporter
    print(format_phase("compacting"), file=sys.stderr, flush=True)


def _run(
    args: argparse.Namespace,
    spec: Any,
    held: Any,
    stopper: _Stopper,
    tracked: Any,
    starting: Future[Any],
) -> int:
    from dataproc_faces import sparkenv
    from dataproc_faces.detectors.base import DetectorError, make_detector
    from dataproc_faces.pipeline import driver_bound, run
    from dataproc_faces.progress import format_phase
    from dataproc_faces.results.corrections import CorrectionsError
    from dataproc_faces.results.gallery import describe, write_gallery
    from dataproc_faces.results.ownership import release
    from dataproc_faces.storage.skips import SKIP_REASONS

    spark = None
    try:
        try:
            make_detector(spec.detect)  # fail fast: missing weights stop the run before any task
        except DetectorError as exc:
            raise UsageError(str(exc)) from None
        spark = starting.result()
        stopper.arm(spark)
        if spec.input_list:
            spec = _checked_list(spark.sparkContext, spec, args)
            check_corrections(spec, args.corrections)
            held = held or _hold(spec, args.force)
        try:
            result = run(spark, spec, progress=tracked, force=args.force)
        except CorrectionsError as exc:  # the results' own kept corrections, damaged
            raise UsageError(f"corrections: {exc}") from None
        print(format_phase("gallery"), file=sys.stderr, flush=True)
        gallery = write_gallery(
            spark, spec.results, result.pids, result.summary, rows=result.rows,
            bound=driver_bound(),
        )  # fmt: skip
    finally:
        if spark is None:  # stopped before the session was handed over: it may still come up
            with contextlib.suppress(BaseException):
                spark = starting.result()
        if spark is not None:
            if stopper.requested:
                stopper.wind_down()
            try:
                sparkenv.stop(spark)
            except Exception:
                if not stopper.requested:
                    raise
        if held is not None:
            release(*held)
    summary = result.summary
    print(f"dataproc-faces: {summary.line()}")
    print(
        f"dataproc-faces: this run processed {result.processed} inputs and skipped "
        f"{result.skipped} done before with the same options and unchanged since"
        + ("" if args.force else " (--force redoes them)")
    )
    if summary.ignored:
        n = sum(summary.ignored.values())
        why = "; ".join(f"{c} {SKIP_REASONS[r]}" for r, c in summary.ignored.items())
        print(f"dataproc-faces: {n} name{'s' if n != 1 else ''} under the input not read: {why}")
    for line in privacy_lines(summary, spec.results):
        print(f"dataproc-faces: {line}")
    print(
        f"dataproc-faces: {MADE[spec.render.mode]} images in {spec.results.images}, manifest in "
        f"{spec.results.manifest}, summary in {spec.results.summary}"
    )
    print(f"dataproc-faces: gallery: {describe(gallery)}")  # the last line: what to open
    return 0


def check_corrections(spec: Any, given: str | None) -> None:
    """A corrections file is read and checked before any work: one line naming the photo and
    the field, or a photo that is not under the input. The corrections the results keep are
    checked too: every run applies them."""
    from concurrent.futures import ThreadPoolExecutor

    from dataproc_faces.results.corrections import CorrectionsError, load, parse
    from dataproc_faces.storage.skips import SKIP_REASONS, skipped_part

    try:
        load(spec.results)
    except CorrectionsError as exc:
        raise UsageError(f"corrections: {exc}") from None
    if not spec.corrections:
        return
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import join

    try:
        entries = parse(store_for(spec.corrections).read(spec.corrections))
    except (OSError, ValueError) as exc:
        if isinstance(exc, CorrectionsError):
            raise UsageError(f"--corrections {given}: {exc}") from None
        raise UsageError(f"--corrections {given}: cannot read it ({exc})") from None
    except Exception as exc:  # a gs:// object that is missing or not readable
        raise UsageError(f"--corrections {given}: cannot read it ({type(exc).__name__})") from None
    for key in entries:  # a name the listing leaves out is never redone: say so
        left_out = skipped_part(key)
        if left_out:
            raise UsageError(
                f"--corrections {given}: photo {key!r} is not read as an input "
                f"({SKIP_REASONS[left_out[1]]})"
            )
    store = store_for(spec.input)
    keys = sorted(entries)
    with ThreadPoolExecutor(max_workers=16) as pool:  # one lookup per photo a person named
        versions = pool.map(lambda k: store.version(join(spec.input, k)), keys)
        for key, version in zip(keys, versions, strict=True):
            if version is None:
                raise UsageError(
                    f"--corrections {given}: photo {key!r} is not under the input {spec.input}"
                )


def privacy_lines(summary: Any, results: Any) -> list[str]:
    """The privacy report's last lines: faces hidden, how many on weak evidence, the photos to
    look at first; and the corrections a person made, where they are kept."""
    lines = []
    p = summary.privacy or {}
    if summary.render.get("fill"):  # a run that hides faces
        why = ", ".join(f"{p[f'review_{r}']} {r}" for r in REVIEW_REASONS if p.get(f"review_{r}"))
        hidden, look = p.get("faces_hidden", 0), p.get("photos_to_review", 0)
        lines.append(
            f"privacy: {hidden} face{'s' if hidden != 1 else ''} hidden, "
            f"{p.get('faces_weak', 0)} of them on weak evidence, "
            f"{p.get('faces_by_person', 0)} placed by a person; {look} "
            + ("photo needs" if look == 1 else "photos need")
            + " a look"
            + (f' ({why}): the gallery\'s Status "needs a look" lists them' if why else "")
        )
    if summary.corrected:
        n = summary.corrected
        lines.append(
            f"corrections: {n} photo{'s' if n != 1 else ''} corrected by a person, kept in "
            f"{results.corrections} and applied by every later run"
        )
    return lines


def _checked_list(sc: Any, spec: Any, args: argparse.Namespace) -> Any:
    """An input list's root (given, or the deepest common folder), checked on the driver for a
    list within its bound, else by Spark, which reads it: the driver never holds more."""
    from dataclasses import replace

    from dataproc_faces.pipeline import (
        common_root,
        driver_bound,
        list_root,
        outside,
        outside_root,
        small_list,
    )

    try:
        listed = small_list(spec.input_list, driver_bound())  # a short list: the driver reads it
        if listed is None:
            root = spec.input or list_root(sc, spec.input_list)
        else:
            root = spec.input or common_root(listed)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--input-list {args.input_list}: {exc}") from None
    except Exception as exc:  # the list could not be read on an executor
        raise UsageError(f"--input-list {args.input_list}: cannot read it ({exc})") from None
    if listed is None:
        bad = outside_root(sc, spec.input_list, root)
    else:
        bad = next((s for s in listed if outside(s, root)), None)
    if bad is not None:
        raise UsageError(f"--input-list {args.input_list}: {bad} is not inside {root}")
    check_apart(root, spec.output, root, args.output)
    return replace(spec, input=root)


def _credentials_missing(exc: BaseException) -> bool:
    try:
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:
        return False
    return isinstance(exc, DefaultCredentialsError)


NO_CREDENTIALS = (
    "no Google Cloud credentials found: run `gcloud auth application-default login`, or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "run")  # spark-submit main.py --input ... means run
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (UsageError, EnvironmentProblem) as exc:
        print(f"dataproc-faces: error: {exc}", file=sys.stderr)
        code = USAGE_ERROR
    except Interrupted as exc:
        print(f"dataproc-faces: {exc}", file=sys.stderr)
        code = INTERRUPTED
    except KeyboardInterrupt:
        code = INTERRUPTED
    except Exception as exc:
        if not _credentials_missing(exc):
            raise
        print(f"dataproc-faces: error: {NO_CREDENTIALS}", file=sys.stderr)
        code = USAGE_ERROR
    sys.exit(code)
