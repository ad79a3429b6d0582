"""Metadata: stripped by default; kept on request (EXIF, ICC, XMP) but never a GPS location."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.codec import decode
from dataproc_faces.imaging.metadata import KEPT, NONE, STRIPPED, read, strip_gps
from dataproc_faces.imaging.render import RenderOptions, outline
from tests.images import heic
from tests.unit.stand_ins import FixedDetector

GPS, MAKE, MODEL, DATE, ORIENTATION = 0x8825, 0x010F, 0x0110, 0x0132, 0x0112
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:Rating="4" '
    b'exif:GPSLatitude="51,30.0N" exif:GPSLongitude="0,7.5W">'
    b"<exif:GPSAltitude>35/1</exif:GPSAltitude><dc:creator>Ann</dc:creator>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)
FACE = Face(20, 10, 30, 30)


def srgb() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[DATE] = "Canon", "EOS 5D", "2026:11:30 10:00:00"
    exif[ORIENTATION] = 1
    gps = exif.get_ifd(GPS)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    gps[3], gps[4] = "W", (0.0, 7.0, 30.0)
    return exif


def photo(fmt: str, **extra) -> bytes:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    out = io.BytesIO()
    kw = {"exif": camera_exif().tobytes(), "icc_profile": srgb(), **extra}
    if fmt == "JPEG" or fmt == "WEBP":
        kw["xmp"] = XMP
    Image.fromarray(pixels).save(out, fmt, **kw)
    return out.getvalue()


def run(data: bytes, keep: bool, mode: str = "blur"):
    render = RenderOptions(mode=mode, keep_metadata=keep)
    return outline(data, FixedDetector([FACE]), render)


def info(data: bytes) -> tuple[Image.Exif, dict]:
    with Image.open(io.BytesIO(data)) as im:
        return im.getexif(), dict(im.info)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_by_default_every_output_is_written_without_metadata(fmt: str):
    result = run(photo(fmt), keep=False)
    exif, found = info(result.data)
    assert len(exif) == 0
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp"} & found.keys()
    assert result.metadata == STRIPPED


def test_kept_jpeg_metadata_has_camera_icc_and_xmp_but_no_location():
    source = photo("JPEG")
    kept, stripped = run(source, keep=True), run(source, keep=False)
    assert kept.metadata == KEPT
    exif, found = info(kept.data)
    assert (exif[MAKE], exif[MODEL], exif[DATE]) == ("Canon", "EOS 5D", "2026:11:30 10:00:00")
    assert GPS not in exif and len(exif.get_ifd(GPS)) == 0
    assert found["icc_profile"] == srgb()
    assert b'xmp:Rating="4"' in found["xmp"] and b"<dc:creator>Ann</dc:creator>" in found["xmp"]
    assert b"GPS" not in found["xmp"]
    assert b"51,30.0N" not in kept.data and b"GPS" not in kept.data
    # the same compressed pixels as the stripped output: only segments were added
    assert np.array_equal(decode(kept.data)[1], decode(stripped.data)[1])
    assert len(kept.data) > len(stripped.data)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_other_formats_keep_exif_and_icc_without_gps(fmt: str):
    source = photo(fmt)
    kept = run(source, keep=True)
    assert kept.metadata == KEPT
    exif, found = info(kept.data)
    assert exif[MAKE] == "Canon" and GPS not in exif
    assert found.get("icc_profile") == srgb()
    if fmt != "WEBP":  # lossless: exactly the stripped output's pixels
        assert np.array_equal(decode(kept.data)[1], decode(run(source, keep=False).data)[1])


def test_an_exif_rotated_jpeg_keeps_its_exif_with_orientation_reset():
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, :10] = 255
    exif = camera_exif()
    exif[ORIENTATION] = 6
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", exif=exif.tobytes(), quality=95)
    kept = run(out.getvalue(), keep=True, mode="outline")
    exif, _ = info(kept.data)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "Canon"  # pixels are already upright
    assert (kept.width, kept.height) == (40, 60)
    with Image.open(io.BytesIO(kept.data)) as im:
        assert im.size == (40, 60)  # a viewer applying EXIF does not rotate it again


def test_an_input_without_metadata_is_said_so_and_written_as_when_stripped():
    rng = np.random.default_rng(2)
    plain = cv2.imencode(".jpg", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))[1].tobytes()
    kept = run(plain, keep=True)
    assert kept.metadata == NONE and kept.data == run(plain, keep=False).data


def test_a_heic_photos_exif_survives_into_its_jpeg_output_without_gps():
    rng = np.random.default_rng(3)
    source = heic(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), camera_exif().tobytes())
    kept, stripped = run(source, keep=True), run(source, keep=False)
    assert kept.new_suffix == ".jpg" and kept.metadata == KEPT
    exif, _ = info(kept.data)
    assert exif[MAKE] == "Canon" and GPS not in exif
    assert len(info(stripped.data)[0]) == 0


def test_xmp_gps_properties_go_in_both_spellings():
    cleaned = strip_gps(XMP)
    assert b"GPS" not in cleaned and b'xmp:Rating="4"' in cleaned and b"Ann" in cleaned
    assert read(photo("JPEG")).xmp == cleaned
