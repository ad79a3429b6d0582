"""An input's metadata carried to its output on request (`--keep-metadata`): what describes the
picture, never what identifies a person, a place or a device. By default outputs carry none
(OpenCV writes none).

EXIF is kept by allow-list (`EXIF_KEEP`): the camera and lens models, exposure, dates and
colour description; everything else is dropped, including tags this module does not know, so a
new field cannot leak. Dropped therefore: GPS, Artist, Copyright, ImageDescription, UserComment,
the XP* tags Windows writes, MakerNote (a vendor's blob, often with serial numbers), ImageUniqueID,
CameraOwnerName, Body/Lens serial numbers (and the older SerialNumber tags), Software and
HostComputer, and the embedded thumbnail (IFD1: the original's faces, unhidden). Orientation is
set to 1: the output's pixels are already upright.

XMP is parsed and kept by allow-list too (`XMP_KEEP`, by namespace URI, so any prefix spelling
works, in attribute and element forms): dates, camera, lens and exposure properties. Dropped
with everything unknown: dc:creator/rights/description/title/subject, photoshop:Credit, Source,
City, State, Country, AuthorsPosition, Iptc4xmpCore:Location and CreatorContactInfo, every
xmpRights and xmpMM property (history, file paths, document ids), exif:GPS*, serial numbers and
owner names (exifEX, aux), face-region names (mwg-rs). XMP that does not parse as plain XML (or
declares a DTD) is dropped whole. The ICC colour profile is kept as it is.
"""

from __future__ import annotations

import io
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
ORIENTATION = 0x0112
STRIPPED, KEPT, NONE = "stripped", "kept (describing fields only)", "none in the input"
ORIGINAL = "the original's (not copied)"  # a faceless photo linked, not written (--faceless link)
_SEGMENT_MAX = 65533  # a JPEG segment's payload, after its two length bytes
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_ICC_ID = b"ICC_PROFILE\x00"
_ICC_CHUNK = _SEGMENT_MAX - len(_ICC_ID) - 2

# EXIF tags kept (IFD0 or the Exif IFD): they describe the picture, not who or which device.
EXIF_KEEP: dict[int, str] = {
    0x010F: "Make",
    0x0110: "Model",
    0x0112: "Orientation",
    0x011A: "XResolution",
    0x011B: "YResolution",
    0x0128: "ResolutionUnit",
    0x0132: "DateTime",
    0x013E: "WhitePoint",
    0x013F: "PrimaryChromaticities",
    0x0211: "YCbCrCoefficients",
    0x0213: "YCbCrPositioning",
    0x829A: "ExposureTime",
    0x829D: "FNumber",
    0x8822: "ExposureProgram",
    0x8824: "SpectralSensitivity",
    0x8827: "ISOSpeedRatings",
    0x8830: "SensitivityType",
    0x8831: "StandardOutputSensitivity",
    0x8832: "RecommendedExposureIndex",
    0x8833: "ISOSpeed",
    0x9000: "ExifVersion",
    0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized",
    0x9010: "OffsetTime",
    0x9011: "OffsetTimeOriginal",
    0x9012: "OffsetTimeDigitized",
    0x9101: "ComponentsConfiguration",
    0x9102: "CompressedBitsPerPixel",
    0x9201: "ShutterSpeedValue",
    0x9202: "ApertureValue",
    0x9203: "BrightnessValue",
    0x9204: "ExposureBiasValue",
    0x9205: "MaxApertureValue",
    0x9206: "SubjectDistance",
    0x9207: "MeteringMode",
    0x9208: "LightSource",
    0x9209: "Flash",
    0x920A: "FocalLength",
    0x9290: "SubsecTime",
    0x9291: "SubsecTimeOriginal",
    0x9292: "SubsecTimeDigitized",
    0xA000: "FlashpixVersion",
    0xA001: "ColorSpace",
    0xA002: "PixelXDimension",
    0xA003: "PixelYDimension",
    0xA20E: "FocalPlaneXResolution",
    0xA20F: "FocalPlaneYResolution",
    0xA210: "FocalPlaneResolutionUnit",
    0xA215: "ExposureIndex",
    0xA217: "SensingMethod",
    0xA300: "FileSource",
    0xA301: "SceneType",
    0xA401: "CustomRendered",
    0xA402: "ExposureMode",
    0xA403: "WhiteBalance",
    0xA404: "DigitalZoomRatio",
    0xA405: "FocalLengthIn35mmFilm",
    0xA406: "SceneCaptureType",
    0xA407: "GainControl",
    0xA408: "Contrast",
    0xA409: "Saturation",
    0xA40A: "Sharpness",
    0xA40C: "SubjectDistanceRange",
    0xA432: "LensSpecification",
    0xA433: "LensMake",
    0xA434: "LensModel",
    0xA460: "CompositeImage",
    0xA500: "Gamma",
}

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NS = {
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_EXIF_XMP = {name for name in EXIF_KEEP.values() if name not in ("Make", "Model")}
# XMP properties kept, by namespace URI: everything else goes (the module doc lists the kinds).
XMP_KEEP: dict[str, frozenset[str]] = {
    _NS["xmp"]: frozenset({"CreateDate", "ModifyDate", "MetadataDate"}),
    _NS["tiff"]: frozenset(
        {
            "Make",
            "Model",
            "Orientation",
            "XResolution",
            "YResolution",
            "ResolutionUnit",
            "ImageWidth",
            "ImageLength",
            "BitsPerSample",
            "PhotometricInterpretation",
            "SamplesPerPixel",
            "YCbCrPositioning",
            "DateTime",
        }
    ),
    _NS["exif"]: frozenset(_EXIF_XMP | {"ISOSpeedRatings", "FlashpixVersion"}),
    _NS["exifEX"]: frozenset(
        {
            "LensMake",
            "LensModel",
            "LensSpecification",
            "PhotographicSensitivity",
            "SensitivityType",
            "RecommendedExposureIndex",
            "ISOSpeed",
            "Gamma",
        }
    ),
    _NS["aux"]: frozenset({"Lens", "LensInfo", "LensID", "FlashCompensation"}),
    _NS["photoshop"]: frozenset({"DateCreated", "ColorMode", "ICCProfile"}),
    _NS["dc"]: frozenset({"format"}),
}
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_PACKET = re.compile(rb"<\?xpacket[^>]*\?>")


@dataclass(frozen=True)
class Metadata:
    exif: bytes = b""  # TIFF-structured EXIF, without the "Exif\0\0" header
    icc: bytes = b""
    xmp: bytes = b""

    def __bool__(self) -> bool:
        return bool(self.exif or self.icc or self.xmp)


def read(data: bytes) -> Metadata:
    """The input's describing EXIF (orientation reset), ICC profile and describing XMP."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            icc = im.info.get("icc_profile") or b""
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
            kept = describing_exif(exif)
    except Exception:  # Pillow raises many types; the pixels decoded, so keep nothing
        return Metadata()
    raw = kept.tobytes() if len(kept) else b""
    if raw.startswith(b"Exif\x00\x00"):
        raw = raw[6:]
    if isinstance(xmp, str):
        xmp = xmp.encode()
    return Metadata(raw, bytes(icc), describing_xmp(bytes(xmp)))


def describing_exif(exif: Image.Exif) -> Image.Exif:
    """A new EXIF holding only EXIF_KEEP's tags from IFD0 and the Exif IFD, orientation 1."""
    kept = Image.Exif()
    for tag, value in exif.items():
        if tag in EXIF_KEEP:
            kept[tag] = value
    sub = {tag: v for tag, v in exif.get_ifd(EXIF_IFD).items() if tag in EXIF_KEEP}
    if sub:
        kept[EXIF_IFD] = sub
    if ORIENTATION in kept:
        kept[ORIENTATION] = 1
    return kept


def _split(name: str) -> tuple[str, str]:
    """`{uri}local` -> (uri, local)."""
    if name.startswith("{"):
        uri, _, local = name[1:].partition("}")
        return uri, local
    return "", name


def _keeps(name: str) -> bool:
    uri, local = _split(name)
    return local in XMP_KEEP.get(uri, ())


def describing_xmp(xmp: bytes) -> bytes:
    """XMP with only XMP_KEEP's properties (tiff:Orientation set to 1); b"" when nothing is
    left or the packet is not plain XML."""
    if not xmp.strip() or b"<!DOCTYPE" in xmp or b"<!ENTITY" in xmp:
        return b""
    names: dict[str, str] = {}
    try:
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(_PACKET.sub(b"", xmp)), ("start-ns",)):
            names.setdefault(uri, prefix)
        root = ET.fromstring(_PACKET.sub(b"", xmp))
    except (ET.ParseError, ValueError):
        return b""
    kept = 0
    for description in root.iter(f"{{{RDF}}}Description"):
        for attr in list(description.attrib):
            uri, _ = _split(attr)
            if uri in (RDF, _XML_NS):
                continue
            if _keeps(attr):
                kept += 1
                if attr == f"{{{_NS['tiff']}}}Orientation":
                    description.set(attr, "1")
            else:
                del description.attrib[attr]
        for child in list(description):
            if _keeps(child.tag):
                kept += 1
                if child.tag == f"{{{_NS['tiff']}}}Orientation":
                    child.text = "1"
            else:
                description.remove(child)
    if not kept:
        return b""
    return _serialise(root, names)


def _serialise(root: ET.Element, names: dict[str, str]) -> bytes:
    """The tree as XML with the input's own prefixes (ElementTree's registry is global:
    the prefixes are put back by hand rather than registered)."""
    text = ET.tostring(root, encoding="unicode")
    for uri, prefix in names.items():
        generated = re.search(rf'xmlns:(ns\d+)="{re.escape(uri)}"', text)
        if generated and prefix and not re.search(rf"xmlns:{re.escape(prefix)}=", text):
            text = re.sub(rf"\b{generated.group(1)}:", f"{prefix}:", text)
    wrapped = f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>{text}<?xpacket end="w"?>'
    return wrapped.encode("utf-8")


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg(encoded: bytes, meta: Metadata) -> bytes:
    """OpenCV's JPEG with the metadata segments spliced in after SOI and JFIF: the compressed
    pixels stay byte for byte what a stripped output holds. Parts too big for one segment are
    left out (EXIF over 64 KB is rare; extended XMP is not written)."""
    segments = b""
    exif = b"Exif\x00\x00" + meta.exif
    if meta.exif and len(exif) <= _SEGMENT_MAX:
        segments += _segment(0xE1, exif)
    if meta.xmp and len(_XMP_ID + meta.xmp) <= _SEGMENT_MAX:
        segments += _segment(0xE1, _XMP_ID + meta.xmp)
    if meta.icc:
        chunks = [meta.icc[i : i + _ICC_CHUNK] for i in range(0, len(meta.icc), _ICC_CHUNK)]
        if len(chunks) <= 255:
            for n, chunk in enumerate(chunks, 1):
                segments += _segment(0xE2, _ICC_ID + bytes([n, len(chunks)]) + chunk)
    at = 2
    if encoded[2:4] == b"\xff\xe0":  # JFIF APP0 stays first
        at = 4 + struct.unpack(">H", encoded[4:6])[0]
    return encoded[:at] + segments + encoded[at:]


def attach(encoded: bytes, ext: str, image: np.ndarray, meta: Metadata) -> tuple[bytes, str]:
    """`encoded` (OpenCV's output for `image`) with `meta` added, and what the row says.

    JPEG: segments spliced in. PNG and TIFF: Pillow writes the same pixels again (lossless).
    WebP: Pillow encodes the pixels once, at the job's quality. Other formats hold no metadata.
    """
    if not meta:
        return encoded, NONE
    if ext == ".jpg":
        return _jpeg(encoded, meta), KEPT
    if ext not in (".png", ".tiff", ".webp"):
        return encoded, STRIPPED
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    options: dict = {}
    if meta.exif:
        options["exif"] = b"Exif\x00\x00" + meta.exif
    if meta.icc:
        options["icc_profile"] = meta.icc
    if ext == ".png":
        if meta.xmp:
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8", "replace"))
            options["pnginfo"] = info
        pil.save(out, "PNG", **options)
    elif ext == ".tiff":
        if meta.xmp:
            options["xmp"] = meta.xmp
        pil.save(out, "TIFF", **options)
    else:
        if meta.xmp:
            options["xmp"] = meta.xmp
        pil.save(out, "WEBP", quality=90, **options)
    return out.getvalue(), KEPT
