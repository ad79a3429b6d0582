"""Split a video into segments (at keyframes or by time) and join encoded segments without a
second encode: the segments' packets are copied, the source's audio packets beside them."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dataproc_faces.video.probe import MUXERS, Source, VideoError, VideoInfo, opened

# The container tags `--keep-metadata` keeps: what describes the recording (when, with what
# camera, at which capture rate), as for photos (imaging/metadata.py). Every other tag is dropped,
# unknown ones too: titles, comments, artist, copyright, description, location, encoder notes.
KEPT_TAGS = frozenset(
    {
        "creation_time",
        "date",
        "make",
        "model",
        "com.apple.quicktime.make",
        "com.apple.quicktime.model",
        "com.apple.quicktime.creationdate",
        "com.android.capture.fps",
    }
)


@dataclass(frozen=True)
class Segment:
    """Frames [first, last) of a video (indexes into VideoInfo.pts). A task decodes from the
    keyframe `seek` and looks at `lead` frames before `first` and `tail` after `last`, only
    for the memory of boxes (the overlap), writing none of them."""

    number: int
    first: int
    last: int
    seek: int  # frame index of the keyframe decoding starts at (<= first - lead)
    lead: int
    tail: int


def plan(info: VideoInfo, seconds: float, overlap: int, at_keyframes: bool = True) -> list[Segment]:
    """Segments of about `seconds` each: starting at keyframes (no frame decoded twice but the
    overlap) or at exact times (even sizes; each task decodes from the keyframe before)."""
    step = max(1, round(seconds * float(info.fps)))
    if at_keyframes:
        starts = [0]
        for k in info.keyframes:
            if k - starts[-1] >= step:
                starts.append(k)
    else:
        starts = list(range(0, info.frames, step))
    bounds = [*starts, info.frames]
    segments = []
    for n, (first, last) in enumerate(itertools.pairwise(bounds)):
        lead = min(overlap, first)
        tail = min(overlap, info.frames - last)
        seek = max((k for k in info.keyframes if k <= first - lead), default=0)
        segments.append(Segment(n, first, last, seek, lead, tail))
    return segments


def _packets(path: Source, kind: str) -> Iterator[Any]:
    with opened(path) as c:
        streams = c.streams.video if kind == "video" else c.streams.audio
        if not streams:
            return
        for packet in c.demux(streams[0]):
            if packet.dts is not None and packet.size:
                yield packet


def _seconds(packet: Any) -> float:
    return float(packet.dts * packet.time_base)


def join(
    parts: Sequence[Source],
    source: Source,
    target: str,
    container: str,
    metadata: dict[str, str] | None = None,
    rotation: int = 0,
) -> str:
    """`parts` (video-only segment files, in order) and the source's first audio stream copied
    into `target` packet by packet, interleaved by time. Returns what happened to the audio:
    "copied", "none" or "dropped: <reason>". `metadata`: container tags to write (already
    the describing ones `kept_metadata` keeps)."""
    import av

    if not parts:
        raise VideoError("no segment to join")
    audio = "none"
    with opened(parts[0]) as first, opened(source) as src:
        template_v = first.streams.video[0]
        template_a = src.streams.audio[0] if src.streams.audio else None
        with av.open(target, "w", format=MUXERS[container]) as out:
            for key, value in (metadata or {}).items():
                out.metadata[key] = value
            out_v = out.add_stream_from_template(template_v)
            if rotation:  # the display rotation is how the video is seen, not metadata to strip
                out_v.set_display_rotation(rotation)
            out_a = None
            if template_a is not None:
                try:
                    out_a = out.add_stream_from_template(template_a)
                except Exception as exc:  # a codec the container cannot carry
                    audio = f"dropped: {exc}"
            video = (p for part in parts for p in _packets(part, "video"))
            sounds = _packets(source, "audio") if out_a is not None else iter(())
            tagged = heapq.merge(
                ((_seconds(p), 0, p) for p in video),
                ((_seconds(p), 1, p) for p in sounds),
                key=lambda t: (t[0], t[1]),
            )
            for _, kind, packet in tagged:
                packet.stream = out_v if kind == 0 else out_a
                out.mux(packet)
            if out_a is not None:
                audio = "copied"
    return audio


def kept_metadata(source: Source) -> dict[str, str]:
    """The source's describing container tags (KEPT_TAGS); none that names a person, a place
    or a note."""
    with opened(source) as c:
        tags = dict(c.metadata)
    return {k: v for k, v in tags.items() if k.lower() in KEPT_TAGS}
