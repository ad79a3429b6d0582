"""pipeline.py's pieces that need no Spark: paths, input lists, listing helpers, the task plan,
one partition and one chunk of images through real OpenCV into a local results folder."""

from __future__ import annotations

import itertools
import json
import os
import types
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataproc_faces import pipeline
from dataproc_faces.detectors.base import DetectOptions, Face, make_detector
from dataproc_faces.imaging.anonymise import mask_for
from dataproc_faces.imaging.codec import decode
from dataproc_faces.imaging.render import FILL_OF_MODE, RenderOptions
from dataproc_faces.pipeline import (
    CRASH_ONCE_ENV,
    MAX_CHUNK,
    JobSpec,
    Task,
    _chunk_bounds,
    _counted,
    _crash_once,
    _list_entries,
    _read_shards,
    _versions,
    _walk,
    _write_shard,
    common_root,
    list_tasks,
    process_chunk,
    process_partition,
    read_input_list,
    relative_to,
    small_list,
    tasks_from_list,
)
from dataproc_faces.results import layout
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import part_id
from dataproc_faces.results.manifest import error_row
from dataproc_faces.results.totals import add as _add
from dataproc_faces.results.totals import count_rows as _totals
from dataproc_faces.storage.base import Store
from dataproc_faces.storage.local import LocalStore
from tests.conftest import ASTRONAUT_FACE, SAMPLES, iou
from tests.images import astronaut, encode, exif_rotated_jpeg, gif
from tests.unit.stand_ins import Clock, FixedDetector

WIDTH, HEIGHT = 640, 400  # wider than tall: a width/height mix-up shows
FACE = Face(200, 100, 120, 90, 0.9)
RED = (0, 0, 255)
FIXED = DetectOptions(detector="haar", min_size=21)  # the key the fixed detector is filed under


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(0.25)
    monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> FixedDetector:
    detector = FixedDetector([FACE])
    monkeypatch.setitem(pipeline._DETECTORS, FIXED, detector)
    return detector


class RecordingStore:
    """A LocalStore that remembers every write's content type."""

    def __init__(
        self, root: str, writes: list[tuple[str, str | None]], protect: Iterable[str] = ()
    ) -> None:
        self.inner, self.writes = LocalStore(root, protect), writes

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        self.writes.append((uri, content_type))
        self.inner.write(uri, data, content_type)

    def write_lines(self, uri: str, lines: list[str]) -> None:
        Store.write_lines(self, uri, lines)  # type: ignore[arg-type]  # through `write` above


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    monkeypatch.setattr(  # every output goes through the layout's store
        layout, "store_for", lambda uri, protect=(): RecordingStore(uri, found, protect)
    )
    return found


def noise(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 200, (height, width, 3), dtype=np.uint8)
    image[..., 2] = 100  # no pixel is pure red: outline pixels are recognisable
    return image


def folders(tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    return src, dst


def spec_for(src: Path, dst: Path, mode: str = "outline", **kw) -> JobSpec:
    return JobSpec(str(src), str(dst), FIXED, RenderOptions(mode=mode, color=RED), **kw)


# -- paths and input lists


def test_relative_to_cuts_the_root_and_refuses_what_lies_outside() -> None:
    assert relative_to("gs://b/a/c/x.jpg", "gs://b/a") == "c/x.jpg"
    assert relative_to("gs://b/a/x.jpg", "gs://b/a/") == "x.jpg"
    assert relative_to("/x/y.jpg", "/") == "x/y.jpg"
    with pytest.raises(ValueError) as err:
        relative_to("gs://b/ab/x.jpg", "gs://b/a")
    assert str(err.value) == "gs://b/ab/x.jpg is not inside gs://b/a"
    with pytest.raises(ValueError) as err:
        relative_to("gs://b/a", "gs://b/a")
    assert str(err.value) == "gs://b/a is not inside gs://b/a"


def test_tasks_from_list_keeps_the_order_and_each_relative_path() -> None:
    tasks = tasks_from_list(["gs://b/r/z.jpg", "gs://b/r/a/y.jpg"], "gs://b/r")
    assert tasks == [Task("gs://b/r/z.jpg", "z.jpg"), Task("gs://b/r/a/y.jpg", "a/y.jpg")]
    with pytest.raises(ValueError, match=r"^gs://b/s/x\.jpg is not inside gs://b/r$"):
        tasks_from_list(["gs://b/r/z.jpg", "gs://b/s/x.jpg"], "gs://b/r")


@pytest.mark.parametrize(
    ("sources", "root"),
    [
        (["gs://b/a/x.jpg"], "gs://b/a"),
        (["gs://b/a/c/x.jpg", "gs://b/a/y.jpg"], "gs://b/a"),
        (["gs://b/a/x.jpg", "gs://b/a/c/y.jpg"], "gs://b/a"),
        (["gs://b/a/c/x.jpg", "gs://b/a/d/y.jpg", "gs://b/a/c/e/z.jpg"], "gs://b/a"),
        (["gs://b/ab/x.jpg", "gs://b/a/y.jpg"], "gs://b"),  # a prefix of a name is no folder
        (["gs://b/x.jpg", "gs://b/c/y.jpg"], "gs://b"),
        (["gs://b/x://y/1.jpg", "gs://b/z/2.jpg"], "gs://b"),  # "://" inside an object name
        (["/data/a/x.jpg", "/data/b/c/y.jpg"], "/data"),
        (["/a/x.jpg", "/b/y.jpg"], "/"),
        (["/x.jpg", "/y/z.jpg"], "/"),
    ],
)
def test_common_root_is_the_deepest_folder_holding_every_source(sources, root, deadline) -> None:
    assert common_root(sources) == root


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ([], "the input list is empty"),
        (["gs://b/a/x.jpg", "/data/y.jpg"], "the input list mixes local paths and URIs"),
        (["/data/y.jpg", "gs://b/a/x.jpg"], "the input list mixes local paths and URIs"),
        (
            ["gs://b/a/x.jpg", "gs://c/a/y.jpg"],
            "the input list spans buckets (gs://b and gs://c/a)",
        ),
        (["gs://b/x.jpg", "gs://c/y.jpg"], "the input list spans buckets (gs://b and gs://c)"),
        # relative names (entries are resolved before; the function alone must still end)
        (["a/x.jpg", "b/y.jpg"], "the input list has no folder in common (a and b)"),
        (["a/c/x.jpg", "b/y.jpg"], "the input list has no folder in common (a and b)"),
    ],
)
def test_common_root_refuses_lists_without_one(sources, message, deadline) -> None:
    with pytest.raises(ValueError) as err:
        common_root(sources)
    assert str(err.value) == message


def test_list_entries_skip_blanks_and_comments_and_normalise(tmp_path: Path, monkeypatch) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# a comment\n\n  gs://b/a/x.jpg  \ngs://b/a/\u00e9t\u00e9#1.jpg\n"
        "   # indented comment\ngs://b/dir/\nrel/../photo.png\n\t\n"
    )
    monkeypatch.chdir(tmp_path)  # relative entries resolve from the working folder
    assert list(_list_entries(str(listing))) == [
        "gs://b/a/x.jpg",
        "gs://b/a/\u00e9t\u00e9#1.jpg",  # `#` inside a name is no comment; UTF-8 decoded
        "gs://b/dir",
        str(tmp_path / "photo.png"),
    ]


def test_read_input_list_drops_duplicates_keeping_the_first_order(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("gs://b/z.jpg\ngs://b/a.jpg\ngs://b/z.jpg/\ngs://b/m.jpg\n")
    assert read_input_list(str(listing)) == ["gs://b/z.jpg", "gs://b/a.jpg", "gs://b/m.jpg"]


def test_a_short_list_is_read_by_the_driver_up_to_its_bound_and_no_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# feed\ngs://b/z.jpg\r\ngs://b/a.jpg\ngs://b/z.jpg/\n\ngs://b/m.jpg\n")
    assert small_list(str(listing), 3) == ["gs://b/z.jpg", "gs://b/a.jpg", "gs://b/m.jpg"]
    assert small_list(str(listing), 2) is None  # three distinct entries: Spark reads it
    assert small_list(str(listing), 0) is None  # every list to Spark
    # streamed: a list past the bound is read no further than the bound
    big = tmp_path / "big.txt"
    big.write_text("".join(f"gs://b/{i}.jpg\n" for i in range(200_000)))
    seen: list[str] = []
    real = pipeline.normalise
    monkeypatch.setattr(pipeline, "normalise", lambda e: seen.append(e) or real(e))
    assert small_list(str(big), 10) is None and len(seen) == 11


def test_list_tasks_lists_the_folder_or_reads_the_list(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "b.jpg").write_bytes(b"1")
    (src / "sub" / "a.png").write_bytes(b"2")
    (src / ".hidden.png").write_bytes(b"3")
    assert list_tasks(JobSpec(str(src), "/out")) == [
        Task(str(src / "b.jpg"), "b.jpg"),
        Task(str(src / "sub/a.png"), "sub/a.png"),
    ]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{src}/sub/a.png\n{src}/b.jpg\n{src}/sub/a.png\n")
    assert list_tasks(JobSpec(str(src), "/out", input_list=str(listing))) == [
        Task(str(src / "sub/a.png"), "sub/a.png"),
        Task(str(src / "b.jpg"), "b.jpg"),
    ]


# -- listing helpers that run on executors


def version(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def test_walk_yields_every_file_below_each_folder_with_its_version(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for rel in ("a/x.jpg", "a/deep/y.jpg", "b/z.jpg", "c/w.jpg", "a/.tmp/no.jpg", "top.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    got = list(_walk(str(root), ["a", "b"]))
    assert got == [
        ("", ("a/.tmp", "skipped:hidden")),  # left out, and said so
        *((str(root / rel), (rel, version(root / rel))) for rel in ("a/x.jpg", "a/deep/y.jpg")),
        (str(root / "b/z.jpg"), ("b/z.jpg", version(root / "b/z.jpg"))),
    ]
    assert list(_walk(str(root), [])) == []


def test_write_shard_and_read_shards_round_trip_names_and_versions(
    tmp_path: Path, writes: list
) -> None:
    out = str(tmp_path / "out")
    lines = ["a.jpg\t10:1", "tab\tin name.jpg\t20:2", "c.jpg\t"]
    first = _write_shard(LocalStore(out), Results(out), "0042", 7, lines)
    assert first == f"{out}/_work/0042/list-00007.txt"
    assert Path(first).read_bytes() == b"a.jpg\t10:1\ntab\tin name.jpg\t20:2\nc.jpg\t\n"
    second = _write_shard(RecordingStore(out, writes), Results(out), "0042", 12345, ["d.jpg\t1:2"])
    assert second == f"{out}/_work/0042/list-12345.txt"
    assert writes == [(second, "text/plain")]
    assert list(_read_shards("gs://b/in", [first, second])) == [
        ("gs://b/in/a.jpg", ("a.jpg", "10:1")),
        ("gs://b/in/tab\tin name.jpg", ("tab\tin name.jpg", "20:2")),
        ("gs://b/in/c.jpg", ("c.jpg", "")),
        ("gs://b/in/d.jpg", ("d.jpg", "1:2")),
    ]


def test_read_shards_decodes_utf8(tmp_path: Path) -> None:
    shard = tmp_path / "list.txt"
    shard.write_bytes("\u00e9t\u00e9.jpg\t5:6\n".encode())
    assert list(_read_shards("/in", [str(shard)])) == [
        ("/in/\u00e9t\u00e9.jpg", ("\u00e9t\u00e9.jpg", "5:6"))
    ]


def test_versions_give_each_listed_source_its_path_and_version(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.jpg").write_bytes(b"12345")
    missing = str(root / "gone.jpg")
    got = list(_versions(str(root), [str(root / "a" / "x.jpg"), missing]))
    assert got == [
        (str(root / "a" / "x.jpg"), ("a/x.jpg", version(root / "a" / "x.jpg"))),
        (missing, ("gone.jpg", "")),  # a missing input: no version, and an error row later
    ]
    assert list(_versions(str(root), [])) == []
    with pytest.raises(ValueError, match="is not inside"):
        list(_versions(str(root / "a"), [missing]))


# -- the task plan and the sums


@pytest.mark.parametrize(
    ("total", "cores", "partitions", "bounds"),
    [
        (10, 1, None, [0, 5, 8, 9, 10]),
        (10, 2, None, [0, 3, 5, 7, 8, 9, 10]),
        (10, 1, 0, [0, 5, 8, 9, 10]),  # 0: not given
        (10, 1, 3, [0, 3, 7, 10]),
        (10, 4, 1, [0, 10]),
        (2, 1, 5, [0, 1, 2]),
        (1, 3, None, [0, 1]),
        (0, 2, None, [0]),
    ],
)
def test_chunk_bounds(total, cores, partitions, bounds) -> None:
    assert _chunk_bounds(total, cores, partitions) == bounds


def test_chunk_bounds_cap_each_task_at_max_chunk() -> None:
    bounds = _chunk_bounds(5 * MAX_CHUNK + 1, 1, None)
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    assert sizes[:5] == [2000, 2000, 2000, 2000, 1001] and MAX_CHUNK == 2000
    assert bounds[-1] == 5 * MAX_CHUNK + 1


def test_counted_adds_one_per_row_as_it_passes() -> None:
    done = types.SimpleNamespace(value=0)
    done.add = lambda n: setattr(done, "value", done.value + n)
    rows = _counted(iter([{"a": 1}, {"a": 2}, {"a": 3}]), done)
    assert next(rows) == {"a": 1} and done.value == 1
    assert list(rows) == [{"a": 2}, {"a": 3}] and done.value == 3


def row(status: str, faces: int, runtime: str | None) -> dict:
    return {"status": status, "faces": [{}] * faces, "runtime": runtime}


def test_totals_and_add() -> None:
    rows = [row("ok", 2, "a 1"), row("error", 0, None), row("ok", 0, "b 2"), row("ok", 1, "a 1")]
    none = {"faces_hidden": 0, "faces_weak": 0, "faces_by_person": 0, "photos_to_review": 0}
    assert list(_totals(rows)) == [(4, 3, 3, frozenset({"a 1", "b 2"}), none)]
    assert list(_totals([])) == [(0, 0, 0, frozenset(), none)]
    assert list(_totals([{"status": "error", "faces": []}])) == [(1, 0, 0, frozenset(), none)]
    assert list(_totals([row("ok", 1, "")])) == [(1, 1, 1, frozenset(), none)]
    a = (3, 2, 5, frozenset({"x"}), {"faces_hidden": 2, "review_small": 1})
    b = (4, 1, 7, frozenset({"y", "x"}), {"faces_hidden": 1, "faces_weak": 1})
    privacy = {"faces_hidden": 3, "faces_weak": 1, "review_small": 1}
    assert _add(a, b) == (7, 3, 12, frozenset({"x", "y"}), privacy)


def test_totals_count_privacy_over_every_row_of_a_large_partition() -> None:
    hidden = {"fill": "blur"}
    rows = [
        {
            "status": "ok",
            "faces": [{"by": "detector", "weak": i % 2 == 0}, {"by": "person"}],
            "hidden": hidden,
            "review": ["weak"] if i % 2 == 0 else [],
        }
        for i in range(2_500)  # more than the thousand rows counted at a time
    ]
    (totals,) = _totals(rows)
    assert totals[4] == {
        "faces_hidden": 5_000,
        "faces_weak": 1_250,
        "faces_by_person": 2_500,
        "photos_to_review": 1_250,
        "review_weak": 1_250,
    }


# -- one partition through real OpenCV


def ok_expected(spec: JobSpec, source: str, rel: str, width: int, height: int, fmt: str, **kw):
    """The row names the input below the input folder and its files below the results folder:
    no local folder in a row (`source` is the absolute path the task had)."""
    assert source == f"{spec.input}/{rel}"
    return {
        "path": rel,
        "status": "ok",
        "error": None,
        "width": width,
        "height": height,
        "format": fmt,
        "faces": kw.get(
            "faces", [{"x": 200, "y": 100, "w": 120, "h": 90, "score": 0.9, "by": "detector"}]
        ),
        "output": f"images/{rel}{kw.get('suffix', '')}",
        "thumbnail": f"thumbs/{rel}.jpg",
        "millis": kw.get("millis", 250.0),
        "runtime": kw.get("runtime", "fixed 1.0"),
        "hidden": kw.get("hidden"),
        "metadata": kw.get("metadata", "stripped"),
        "review": kw.get("review", []),
        "written": kw.get("written"),
    }


def test_process_partition_rows_outputs_and_thumbnails(
    tmp_path: Path, fixed: FixedDetector, clock: Clock, writes: list
) -> None:
    src, dst = folders(tmp_path)
    (src / "n").mkdir()
    (src / "n" / "wide.png").write_bytes(encode(noise(), ".png"))
    (src / "rot.jpg").write_bytes(exif_rotated_jpeg(noise()))
    (src / "anim.gif").write_bytes(gif(noise(64, 48)))
    spec = spec_for(src, dst)
    tasks = [Task(str(src / r), r) for r in ("n/wide.png", "rot.jpg", "anim.gif")]
    rows = list(process_partition(spec, tasks))
    assert rows == [
        ok_expected(spec, str(src / "n/wide.png"), "n/wide.png", WIDTH, HEIGHT, "png"),
        ok_expected(
            spec,
            str(src / "rot.jpg"),
            "rot.jpg",
            WIDTH,
            HEIGHT,
            "jpeg",
            written="blocks",
        ),
        ok_expected(spec, str(src / "anim.gif"), "anim.gif", 64, 48, "gif", suffix=".png"),
    ]
    # the EXIF-rotated photo reached the detector upright, as the 640x400 one did
    assert fixed.shapes == [(HEIGHT, WIDTH, 3), (HEIGHT, WIDTH, 3), (48, 64, 3)]
    assert clock.calls == 6  # a start and an end per image: 250 ms each
    assert writes == [
        (f"{dst}/images/n/wide.png", None),
        (f"{dst}/thumbs/n/wide.png.jpg", "image/jpeg"),
        (f"{dst}/images/rot.jpg", None),
        (f"{dst}/thumbs/rot.jpg.jpg", "image/jpeg"),
        (f"{dst}/images/anim.gif.png", None),
        (f"{dst}/thumbs/anim.gif.jpg", "image/jpeg"),
    ]
    header, pixels = decode((dst / "images/n/wide.png").read_bytes())
    assert header.format == "png" and pixels.shape == (HEIGHT, WIDTH, 3)
    assert tuple(pixels[FACE.y, FACE.x + 50]) == RED
    header, pixels = decode((dst / "images/rot.jpg").read_bytes())
    assert header.format == "jpeg" and pixels.shape == (HEIGHT, WIDTH, 3)  # read upright
    header, thumb = decode((dst / "thumbs/n/wide.png.jpg").read_bytes())
    assert header.format == "jpeg" and thumb.shape == (200, 320, 3)
    assert decode((dst / "images/anim.gif.png").read_bytes())[0].format == "png"
    assert [p.name for p in dst.rglob(".*")] == []  # atomic writes leave no temporary files


@pytest.mark.parametrize("mode", ["outline", "blur", "pixelate", "solid", "both"])
def test_every_render_mode_reaches_the_written_image(
    tmp_path: Path, fixed: FixedDetector, mode: str
) -> None:
    src, dst = folders(tmp_path)
    before = noise()
    (src / "a.png").write_bytes(encode(before, ".png"))
    spec = spec_for(src, dst, mode)
    (row,) = process_partition(spec, [Task(str(src / "a.png"), "a.png")])
    assert row["status"] == "ok", row
    assert row["hidden"] == spec.render.hidden()
    assert (row["hidden"] or {}).get("fill") == FILL_OF_MODE.get(mode)
    _, after = decode((dst / "images/a.png").read_bytes())
    outlined = tuple(after[FACE.y, FACE.x + 50]) == RED
    inner = (slice(FACE.y + 5, FACE.y + FACE.h - 5), slice(FACE.x + 5, FACE.x + FACE.w - 5))
    hidden = after[inner].astype(float).std() < before[inner].astype(float).std() / 5
    assert (outlined, hidden) == {"outline": (True, False), "both": (True, True)}.get(
        mode, (False, True)
    )
    touched = np.zeros(before.shape[:2], bool)
    if mode in ("outline", "both"):
        touched[FACE.y - 1 : FACE.y + FACE.h + 1, FACE.x - 1 : FACE.x + FACE.w + 1] = True
    if mode != "outline":
        m = mask_for(FACE, (WIDTH, HEIGHT), "ellipse", spec.render.mask_scale)
        touched[m.y0 : m.y1, m.x0 : m.x1] |= m.inside
    assert np.array_equal(before[~touched], after[~touched])  # nothing outside changed


def test_one_failure_becomes_its_error_row_and_the_rest_go_on(
    tmp_path: Path, fixed: FixedDetector, clock: Clock
) -> None:
    src, dst = folders(tmp_path)
    (src / "bad.jpg").write_bytes(b"not an image")
    (src / "ok.png").write_bytes(encode(noise(64, 48), ".png"))
    spec = spec_for(src, dst)
    tasks = [
        Task(str(src / "gone.jpg"), "gone.jpg"),
        Task(str(src / "bad.jpg"), "bad.jpg"),
        Task(str(src / "ok.png"), "../escape.png"),  # refused before it is read
        Task(str(src / "ok.png"), "ok.png"),
    ]
    rows = list(process_partition(spec, tasks))
    missing = "FileNotFoundError: [Errno 2] No such file or directory: 'gone.jpg'"  # no folder
    assert rows[0] == error_row("gone.jpg", missing, 250.0)
    assert rows[1]["error"] == "not an image (unrecognised content)"
    assert rows[1] == error_row("bad.jpg", rows[1]["error"], 250.0)
    assert rows[2] == error_row("ok.png", "'..' segment in name '../escape.png'", 250.0)
    assert rows[3] == ok_expected(spec, str(src / "ok.png"), "ok.png", 64, 48, "png")
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.*")) == [
        "images/ok.png",
        "thumbs/ok.png.jpg",
    ]


def test_a_failing_write_is_an_error_row_and_leaves_no_partial_file(
    tmp_path: Path, fixed: FixedDetector, clock: Clock
) -> None:
    src, dst = folders(tmp_path)
    (src / "a.png").write_bytes(encode(noise(64, 48), ".png"))
    (dst / "images" / "a.png").mkdir(parents=True)  # a folder where the output goes
    (row,) = process_partition(spec_for(src, dst), [Task(str(src / "a.png"), "a.png")])
    prefix = "IsADirectoryError: [Errno 21] Is a directory: 'images/.a.png."
    assert row["error"].startswith(prefix) and row["error"].endswith("' -> 'images/a.png'")
    assert str(tmp_path) not in row["error"]  # the OS error's paths, below the results folder
    assert row == error_row("a.png", row["error"], 250.0)
    assert [p.name for p in dst.rglob("*") if p.is_file()] == []  # the temporary file is gone


def test_millis_are_the_time_one_image_took(tmp_path: Path, fixed, monkeypatch) -> None:
    fake = Clock(0.0123456)
    monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    src, dst = folders(tmp_path)
    (src / "a.png").write_bytes(encode(noise(64, 48), ".png"))
    tasks = [Task(str(src / "a.png"), "a.png"), Task(str(src / "b.png"), "b.png")]
    ok, error = process_partition(spec_for(src, dst), tasks)
    assert (ok["millis"], error["millis"]) == (12.3, 12.3)


def test_the_outputs_go_below_the_output_folder_not_the_input(
    tmp_path: Path, fixed: FixedDetector
) -> None:
    src, dst = folders(tmp_path)
    (src / "a.png").write_bytes(encode(noise(64, 48), ".png"))
    (row,) = process_partition(spec_for(src, dst), [Task(str(src / "a.png"), "a.png")])
    assert row["status"] == "ok" and (dst / "images/a.png").is_file()
    assert sorted(p.name for p in src.rglob("*")) == ["a.png"]


def test_one_opencv_thread_per_task_and_one_detector_per_worker(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(pipeline, "_DETECTORS", {})  # none made yet in this worker
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(4)
        src, dst = folders(tmp_path)
        (src / "a.png").write_bytes((SAMPLES / "astronaut.png").read_bytes())
        options = DetectOptions(detector="haar")
        spec = JobSpec(str(src), str(dst), options)
        (row,) = process_partition(spec, [Task(str(src / "a.png"), "a.png")])
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)
    detector = pipeline._detector(options)
    assert pipeline._detector(options) is detector
    assert pipeline._detector(DetectOptions(detector="haar", min_size=30)) is not detector
    assert row["runtime"] == detector.runtime == make_detector(options).runtime
    assert row["runtime"] == f"opencv {cv2.__version__} cascade"
    (face,) = row["faces"]
    assert iou((face["x"], face["y"], face["w"], face["h"]), ASTRONAUT_FACE) > 0.9, face


def test_a_real_detector_on_a_non_square_exif_rotated_photo(tmp_path: Path) -> None:
    canvas = np.full((512, 900, 3), 128, np.uint8)
    canvas[:, 300:812] = astronaut()
    src, dst = folders(tmp_path)
    (src / "r.jpg").write_bytes(exif_rotated_jpeg(canvas))
    spec = JobSpec(str(src), str(dst), DetectOptions(detector="haar"), RenderOptions(mode="both"))
    (row,) = process_partition(spec, [Task(str(src / "r.jpg"), "r.jpg")])
    assert (row["status"], row["width"], row["height"], row["format"]) == ("ok", 900, 512, "jpeg")
    (face,) = row["faces"]
    x, y, _, _ = ASTRONAUT_FACE
    assert abs(face["x"] - (x + 300)) <= 6 and abs(face["y"] - y) <= 6, face
    _, pixels = decode((dst / "images/r.jpg").read_bytes())
    assert pixels.shape == (512, 900, 3)


# -- one chunk: a Spark task's whole work


class Done:
    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> None:
        self.value += n


def test_process_chunk_writes_its_part_and_state_and_returns_a_summary(
    tmp_path: Path, fixed: FixedDetector, clock: Clock
) -> None:
    src, dst = folders(tmp_path)
    (src / "trip").mkdir()
    (src / "zoo").mkdir()
    for name in ("trip/a.png", "trip/c.png", "zoo/d.png"):
        (src / name).write_bytes(encode(noise(64, 48), ".png"))
    (src / "trip/b.png").write_bytes(b"broken")
    spec, done = spec_for(src, dst), Done()
    items = [  # (index, (source, (relative, version))), not in order
        (7, (str(src / "trip/c.png"), ("trip/c.png", "3:3"))),
        (5, (str(src / "trip/a.png"), ("trip/a.png", "1:1"))),
        (8, (str(src / "zoo/d.png"), ("zoo/d.png", "4:4"))),
        (6, (str(src / "trip/b.png"), ("trip/b.png", "2:2"))),
    ]
    (summary,) = process_chunk(spec, "0099", "opts", iter(items), done)
    assert summary == {"inputs": 4, "ok": 3, "faces": 3, "runtime": ["fixed 1.0"], "review": 1}
    assert done.value == 4
    names = ("trip/a.png", "trip/b.png", "trip/c.png", "zoo/d.png")
    pid = part_id("0099", [str(src / n) for n in names])
    # one part per input folder, named by it; its state in that folder's own `_state` folder
    assert sorted(p.name for p in (dst / "manifest").iterdir()) == [
        f"part-trip~{pid}.json",
        f"part-zoo~{pid}.json",
    ]
    part = dst / "manifest" / f"part-trip~{pid}.json"
    rows = [json.loads(line) for line in part.read_text().splitlines()]
    assert [r["path"] for r in rows] == ["trip/a.png", "trip/b.png", "trip/c.png"]  # below input
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    states = (dst / "_state" / "trip" / f"part-{pid}.json").read_text().splitlines()
    assert [json.loads(s) for s in states] == [
        {"path": "trip/a.png", "version": "1:1", "options": "opts"},
        {"path": "trip/b.png", "version": "2:2", "options": "opts"},
        {"path": "trip/c.png", "version": "3:3", "options": "opts"},
    ]
    zoo = (dst / "_state" / "zoo" / f"part-{pid}.json").read_text().splitlines()
    assert [json.loads(s)["path"] for s in zoo] == ["zoo/d.png"]


def test_an_empty_chunk_writes_nothing(tmp_path: Path, fixed: FixedDetector) -> None:
    src, dst = folders(tmp_path)
    assert list(process_chunk(spec_for(src, dst), "0099", "o", iter([]), Done())) == []
    assert not dst.exists()


def test_a_chunk_of_errors_only_reports_no_runtime(tmp_path: Path, fixed) -> None:
    src, dst = folders(tmp_path)
    items = [(0, (str(src / "gone.png"), ("gone.png", "")))]
    (summary,) = process_chunk(spec_for(src, dst), "01", "o", items, Done())
    assert summary == {"inputs": 1, "ok": 0, "faces": 0, "runtime": [], "review": 1}


def test_a_chunk_sums_faces_and_runtimes_of_every_row(tmp_path: Path, monkeypatch) -> None:
    detector = FixedDetector([FACE, Face(10, 10, 30, 30)])
    monkeypatch.setitem(pipeline._DETECTORS, FIXED, detector)
    src, dst = folders(tmp_path)
    for name in ("a.png", "b.png"):
        (src / name).write_bytes(encode(noise(64, 48), ".png"))
    items = [(i, (str(src / n), (n, "v"))) for i, n in enumerate(["a.png", "b.png"])]
    (summary,) = process_chunk(spec_for(src, dst), "01", "o", items, Done())
    assert summary == {"inputs": 2, "ok": 2, "faces": 4, "runtime": ["fixed 1.0"], "review": 0}


# -- fault injection


class Exited(Exception):
    pass


def test_crash_once_exits_the_first_time_only(tmp_path: Path, monkeypatch) -> None:
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Exited

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.delenv(CRASH_ONCE_ENV, raising=False)
    _crash_once()  # not asked for: nothing happens
    monkeypatch.setenv(CRASH_ONCE_ENV, "")
    _crash_once()
    assert codes == []
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    with pytest.raises(Exited):
        _crash_once()
    assert codes == [17] and marker.exists()
    _crash_once()  # the marker is there: a retried task goes on
    assert codes == [17]
    assert CRASH_ONCE_ENV == "DATAPROC_FACES_CRASH_ONCE"


# -- fewer writes per photo: --no-thumbnails and --faceless link


class WideOnly(FixedDetector):
    """Finds FACE in WIDTH-wide images only: one run holds a photo with a face and one without."""

    def detect(self, image: np.ndarray) -> list[Face]:
        return super().detect(image) if image.shape[1] == WIDTH else []


def test_no_thumbnails_and_faceless_link_write_only_the_photos_with_faces(
    tmp_path: Path, writes: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = folders(tmp_path)
    (src / "face.png").write_bytes(encode(noise(), ".png"))
    (src / "empty.png").write_bytes(encode(noise(320, 200), ".png"))
    monkeypatch.setitem(pipeline._DETECTORS, FIXED, WideOnly([FACE]))
    render = RenderOptions(color=RED, thumbnails=False, faceless="link")
    spec = JobSpec(str(src), str(dst), FIXED, render)
    face, faceless = process_partition(
        spec, [Task(str(src / n), n) for n in ("face.png", "empty.png")]
    )
    # one write for the photo with a face, none for the faceless one, no thumbnail at all
    assert writes == [(f"{dst}/images/face.png", None)]
    assert (face["output"], face["thumbnail"], face["metadata"], len(face["faces"])) == (
        "images/face.png",
        None,
        "stripped",
        1,
    )
    assert (faceless["output"], faceless["thumbnail"], faceless["metadata"]) == (
        "../in/empty.png",  # the original, from the results folder
        None,
        "the original's (not copied)",
    )
    assert (faceless["width"], faceless["height"], faceless["faces"]) == (320, 200, [])
    assert sorted(p.name for p in dst.rglob("*") if p.is_file()) == ["face.png"]


def test_faceless_link_still_writes_the_thumbnail_unless_told_not_to(
    tmp_path: Path, writes: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = folders(tmp_path)
    (src / "empty.png").write_bytes(encode(noise(), ".png"))
    monkeypatch.setitem(pipeline._DETECTORS, FIXED, FixedDetector([]))
    spec = JobSpec(str(src), str(dst), FIXED, RenderOptions(faceless="link"))
    (row,) = process_partition(spec, [Task(str(src / "empty.png"), "empty.png")])
    assert writes == [(f"{dst}/thumbs/empty.png.jpg", "image/jpeg")]
    assert row["output"] == "../in/empty.png"
    assert row["thumbnail"] == "thumbs/empty.png.jpg"


@pytest.mark.parametrize("mode", ["blur", "pixelate", "solid", "both"])
def test_faceless_link_is_refused_where_faces_are_hidden(mode: str) -> None:
    with pytest.raises(ValueError, match=r"^--faceless link needs --mode outline: "):
        RenderOptions(mode=mode, faceless="link")
    with pytest.raises(ValueError, match=r"^faceless must be one of copy, link, got keep$"):
        RenderOptions(faceless="keep")


def test_write_options_enter_the_resume_key_and_the_summary_only_when_set() -> None:
    plain = RenderOptions()
    assert "thumbnails" not in plain.key() and "faceless" not in plain.summary()
    lean = RenderOptions(thumbnails=False, faceless="link")
    assert lean.key() == {**plain.key(), "thumbnails": False, "faceless": "link"}
    assert lean.summary() == {**plain.summary(), "thumbnails": False, "faceless": "link"}
