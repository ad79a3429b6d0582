"""Metadata: stripped by default; on request, what describes the picture is kept (EXIF, ICC,
XMP) and nothing that identifies a person, a place or a device: one test per field."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.codec import decode
from dataproc_faces.imaging.metadata import KEPT, NONE, STRIPPED, describing_xmp, read
from dataproc_faces.imaging.render import RenderOptions, outline
from tests.images import heic
from tests.unit.stand_ins import FixedDetector

GPS, MAKE, MODEL, DATE, ORIENTATION = 0x8825, 0x010F, 0x0110, 0x0132, 0x0112
NAMESPACES = (
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    'xmlns:exifEX="http://cipa.jp/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/" '
    'xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
    'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
    'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
    'xmlns:stRef="http://ns.adobe.com/xap/1.0/sType/ResourceRef#" '
    'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"'
)


def xmp_packet(attributes: str = "", elements: str = "") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {NAMESPACES}>'
        f'<rdf:Description rdf:about="" xmp:CreateDate="2026-11-30T10:00:00" {attributes}>'
        f"{elements}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


XMP = xmp_packet(
    'exif:GPSLatitude="51,30.0N" exif:GPSLongitude="0,7.5W"',
    "<exif:GPSAltitude>35/1</exif:GPSAltitude>"
    "<dc:creator><rdf:Seq><rdf:li>Ann</rdf:li></rdf:Seq></dc:creator>",
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
    assert b'xmp:CreateDate="2026-11-30T10:00:00"' in found["xmp"]
    assert b"GPS" not in found["xmp"] and b"Ann" not in found["xmp"]
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


def test_xmp_of_an_input_is_what_its_output_carries():
    cleaned = describing_xmp(XMP)
    assert b"GPS" not in cleaned and b"Ann" not in cleaned
    assert b'xmp:CreateDate="2026-11-30T10:00:00"' in cleaned
    assert read(photo("JPEG")).xmp == cleaned


# One secret per field: a tag is dropped when its value appears nowhere in the output's bytes.
ARTIST, COPYRIGHT, DESCRIPTION, SOFTWARE, HOST = 0x013B, 0x8298, 0x010E, 0x0131, 0x013C
XP = {"XPTitle": 0x9C9B, "XPComment": 0x9C9C, "XPAuthor": 0x9C9D, "XPKeywords": 0x9C9E}
XP["XPSubject"] = 0x9C9F
EXIF_IFD = 0x8769
DROPPED_IFD0 = {
    "Artist": (ARTIST, "Ann Example"),
    "Copyright": (COPYRIGHT, "(c) Ann Example"),
    "ImageDescription": (DESCRIPTION, "source meeting, do not publish"),
    "Software": (SOFTWARE, "Ann's laptop editor 1.0"),
    "HostComputer": (HOST, "ann-laptop.example"),
    "CameraSerialNumber (DNG)": (0xC62F, "SERIAL-DNG-0042"),
    "an unknown tag": (0xC7FF, "UNKNOWN-TAG-VALUE"),
    **{name: (tag, f"{name}-secret".encode("utf-16-le")) for name, tag in XP.items()},
}
DROPPED_EXIF_IFD = {
    "UserComment": (0x9286, b"ASCII\x00\x00\x00met the source at noon"),
    "MakerNote": (0x927C, b"VENDOR-BLOB serial=MAKERNOTE-SN-7"),
    "ImageUniqueID": (0xA420, "0123456789abcdef0123456789abcdef"),
    "CameraOwnerName": (0xA430, "Ann Owner"),
    "BodySerialNumber": (0xA431, "BODY-SN-123456"),
    "LensSerialNumber": (0xA435, "LENS-SN-654321"),
    "an unknown Exif tag": (0xBEEF, "UNKNOWN-EXIF-VALUE"),
}
KEPT_IFD0 = {"Make": (MAKE, "Canon"), "Model": (MODEL, "EOS 5D"), "DateTime": (DATE, "2026:11:30")}
KEPT_EXIF_IFD = {
    "ExposureTime": (0x829A, 0.004),
    "FNumber": (0x829D, 2.8),
    "ISOSpeedRatings": (0x8827, 400),
    "DateTimeOriginal": (0x9003, "2026:11:30 10:00:00"),
    "FocalLength": (0x920A, 50.0),
    "LensMake": (0xA433, "Canon"),
    "LensModel": (0xA434, "EF50mm f/1.8 STM"),
}


def _secret(value) -> bytes:
    if isinstance(value, bytes):
        return value[8:] if value.startswith(b"ASCII") else value
    return str(value).encode()


def tagged(fmt: str, ifd0: dict, exif_ifd: dict, xmp: bytes = b"") -> bytes:
    """A photo whose EXIF holds `ifd0` and `exif_ifd` ({tag: value}), and `xmp` if given."""
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    for tag, value in ifd0.items():
        exif[tag] = value
    sub = exif.get_ifd(EXIF_IFD)
    for tag, value in exif_ifd.items():
        sub[tag] = value
    rng = np.random.default_rng(5)
    out = io.BytesIO()
    kw: dict = {"exif": exif.tobytes()}
    if xmp and fmt == "PNG":
        meta = PngImagePlugin.PngInfo()
        meta.add_itxt("XML:com.adobe.xmp", xmp.decode())
        kw["pnginfo"] = meta
    elif xmp:
        kw["xmp"] = xmp
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(out, fmt, **kw)
    data = out.getvalue()
    for tag, value in {**ifd0, **exif_ifd}.items():  # the input does carry it
        if isinstance(value, (str, bytes)):
            assert _secret(value) in data, (tag, fmt)
    return data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("field", [*DROPPED_IFD0, *DROPPED_EXIF_IFD, "GPS"])
def test_each_identifying_exif_field_is_dropped(fmt: str, field: str):
    if field == "GPS":
        source = photo(fmt)
        secret = b"51,30.0N"
    else:
        in_ifd0 = field in DROPPED_IFD0
        tag, value = (DROPPED_IFD0 if in_ifd0 else DROPPED_EXIF_IFD)[field]
        source = tagged(fmt, {tag: value} if in_ifd0 else {}, {} if in_ifd0 else {tag: value})
        secret = _secret(value)
    kept = run(source, keep=True)
    exif, _ = info(kept.data)
    assert kept.metadata == KEPT and exif[MAKE] == "Canon"  # the rest was kept
    assert secret not in kept.data
    assert GPS not in exif
    if field != "GPS":
        assert tag not in exif and tag not in exif.get_ifd(EXIF_IFD)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_describing_exif_fields_are_kept(fmt: str):
    ifd0 = dict(KEPT_IFD0.values())
    exif_ifd = dict(KEPT_EXIF_IFD.values())
    kept = run(tagged(fmt, {**ifd0, ORIENTATION: 1}, exif_ifd), keep=True)
    exif, _ = info(kept.data)
    assert {tag: exif[tag] for tag in ifd0} == ifd0
    sub = exif.get_ifd(EXIF_IFD)
    assert {
        tag: float(sub[tag]) if isinstance(v, float) else sub[tag] for tag, v in exif_ifd.items()
    } == exif_ifd
    assert exif[ORIENTATION] == 1


# XMP: (what the packet holds, the secret that must not survive), attribute and element forms.
DROPPED_XMP = {
    "dc:creator": ("", "<dc:creator><rdf:Seq><rdf:li>Ann Example</rdf:li></rdf:Seq></dc:creator>"),
    "dc:rights": (
        "",
        '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">(c) Ann</rdf:li></rdf:Alt></dc:rights>',
    ),
    "dc:description": (
        "",
        "<dc:description><rdf:Alt><rdf:li>do not publish</rdf:li></rdf:Alt></dc:description>",
    ),
    "dc:title": ("", "<dc:title><rdf:Alt><rdf:li>Meeting with X</rdf:li></rdf:Alt></dc:title>"),
    "dc:subject": (
        "",
        "<dc:subject><rdf:Bag><rdf:li>whistleblower</rdf:li></rdf:Bag></dc:subject>",
    ),
    "photoshop:Credit": ('photoshop:Credit="Ann Credit"', ""),
    "photoshop:Source": ("", "<photoshop:Source>Agency Source</photoshop:Source>"),
    "photoshop:City": ('photoshop:City="Springfield"', ""),
    "photoshop:State": ("", "<photoshop:State>Illinois</photoshop:State>"),
    "photoshop:Country": ('photoshop:Country="Freedonia"', ""),
    "photoshop:AuthorsPosition": ('photoshop:AuthorsPosition="Staff photographer"', ""),
    "Iptc4xmpCore:Location": ('Iptc4xmpCore:Location="Back room of cafe"', ""),
    "Iptc4xmpCore:CreatorContactInfo": (
        "",
        '<Iptc4xmpCore:CreatorContactInfo Iptc4xmpCore:CiEmailWork="ann@example.org"/>',
    ),
    "xmpRights:UsageTerms": (
        "",
        "<xmpRights:UsageTerms><rdf:Alt><rdf:li>Ann only</rdf:li></rdf:Alt></xmpRights:UsageTerms>",
    ),
    "xmpRights:WebStatement": ('xmpRights:WebStatement="https://ann.example/rights"', ""),
    "exif:GPSLatitude": ('exif:GPSLatitude="51,30.0N"', ""),
    "exif:GPSAltitude": ("", "<exif:GPSAltitude>35/1</exif:GPSAltitude>"),
    "exifEX:BodySerialNumber": ('exifEX:BodySerialNumber="BODY-SN-XMP"', ""),
    "exifEX:LensSerialNumber": (
        "",
        "<exifEX:LensSerialNumber>LENS-SN-XMP</exifEX:LensSerialNumber>",
    ),
    "aux:SerialNumber": ('aux:SerialNumber="AUX-SN-9"', ""),
    "aux:OwnerName": ("", "<aux:OwnerName>Ann Owner</aux:OwnerName>"),
    "xmpMM:History": (
        "",
        '<xmpMM:History><rdf:Seq><rdf:li stEvt:action="saved" '
        'stEvt:instanceID="xmp.iid:1" stEvt:softwareAgent="/home/ann/secret-project/edit.psd"/>'
        "</rdf:Seq></xmpMM:History>",
    ),
    "xmpMM:DerivedFrom": ("", '<xmpMM:DerivedFrom stRef:filePath="C:/Users/ann/leaks/raw.cr2"/>'),
    "xmpMM:DocumentID": ('xmpMM:DocumentID="xmp.did:DOCUMENT-ID-42"', ""),
    "mwg-rs:Regions (face names)": (
        "",
        '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>'
        '<rdf:li mwg-rs:Name="Person In Photo"/></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>',
    ),
}


def _xmp_secret(attributes: str, elements: str) -> bytes:
    import re

    text = attributes or elements
    found = re.findall(r'="([^"]+)"|>([^<]+)<', text)
    return max((a or b for a, b in found), key=len).encode()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("field", list(DROPPED_XMP))
def test_each_identifying_xmp_property_is_dropped(fmt: str, field: str):
    attributes, elements = DROPPED_XMP[field]
    secret = _xmp_secret(attributes, elements)
    packet = xmp_packet(attributes + ' tiff:Model="EOS 5D"', elements)
    source = tagged(fmt, {}, {}, xmp=packet)
    assert secret in source
    kept = run(source, keep=True)
    assert secret not in kept.data
    _, found = info(kept.data)
    xmp = found.get("xmp") or found.get("XML:com.adobe.xmp", "").encode()
    assert b'tiff:Model="EOS 5D"' in xmp and b"xmp:CreateDate" in xmp  # describing ones stay


def test_xmp_properties_are_recognised_by_namespace_not_prefix():
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:d="http://purl.org/dc/elements/1.1/" '
        b'xmlns:t="http://ns.adobe.com/tiff/1.0/" t:Orientation="6" t:Make="Canon">'
        b"<d:creator><rdf:Seq><rdf:li>Ann Example</rdf:li></rdf:Seq></d:creator>"
        b"<t:Artist>Ann Artist</t:Artist></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    cleaned = describing_xmp(packet)
    assert b"Ann" not in cleaned
    assert b't:Make="Canon"' in cleaned and b't:Orientation="1"' in cleaned  # upright now


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta><rdf:RDF><rdf:Description dc:creator='Ann'/></rdf:RDF></x:xmpmeta>",
        b'<!DOCTYPE x [<!ENTITY a "Ann">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        b"not xml at all: Ann",
    ],
    ids=["unbound prefixes", "a DTD", "not XML"],
)
def test_xmp_that_does_not_parse_is_dropped_whole(packet: bytes):
    assert describing_xmp(packet) == b""
