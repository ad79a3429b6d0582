"""Block-local JPEG output: only the MCUs a mask or an outline touches change; every other block
decodes to the original's pixels; the inputs it cannot take are encoded in full and say why."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging import jpegblocks
from dataproc_faces.imaging.codec import ImageError, decode
from dataproc_faces.imaging.render import RenderOptions, outline
from tests.images import astronaut, cmyk_jpeg, encode
from tests.unit.stand_ins import FixedDetector

pytestmark = pytest.mark.skipif(not jpegblocks.available(), reason="libturbojpeg is not installed")

RED = (0, 0, 255)
# Faces whose edges fall inside MCUs, on MCU borders and at the image's ragged right/bottom edge.
FACES = [Face(37, 21, 61, 53, 0.9), Face(128, 80, 48, 48, 0.9), Face(214, 150, 40, 37, 0.9)]
SAMPLING = {
    "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
}


@pytest.fixture(autouse=True)
def small_photos_write_blocks(monkeypatch):
    """These photos are small, so their faces cover more than the share past which the full
    encode is taken; the share has a test of its own."""
    monkeypatch.setattr(jpegblocks, "MAX_CHANGED_SHARE", 1.0)


def photo(width: int = 251, height: int = 183) -> np.ndarray:
    """Detail everywhere (a changed block cannot decode as it was by chance), no pure red."""
    rng = np.random.default_rng(3)
    base = cv2.resize(astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    noise = rng.integers(-30, 30, base.shape)
    image = np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8)
    image[..., 2] = np.minimum(image[..., 2], 200)
    return image


def jpeg(image: np.ndarray, sampling: str = "4:2:0", restart: int = 0) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, SAMPLING[sampling]]
    if restart:
        params += [cv2.IMWRITE_JPEG_RST_INTERVAL, restart]
    ok, buf = cv2.imencode(".jpg", image, params)
    assert ok
    return buf.tobytes()


def render(data: bytes, mode: str, faces: list[Face] = FACES, **options):
    return outline(data, FixedDetector(faces), RenderOptions(mode=mode, color=RED, **options))


def mcu_mask(changed: np.ndarray, mcu: tuple[int, int], ring: int) -> np.ndarray:
    """Every pixel of each MCU holding a changed pixel, grown by `ring` pixels."""
    h, w = changed.shape
    mh, mw = mcu
    grid = np.zeros(((h + mh - 1) // mh, (w + mw - 1) // mw), bool)
    ys, xs = np.nonzero(changed)
    grid[ys // mh, xs // mw] = True
    mask = np.kron(grid, np.ones((mh, mw), bool))[:h, :w]
    if ring:
        kernel = np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)
        mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    return mask


@pytest.mark.parametrize("sampling", list(SAMPLING))
@pytest.mark.parametrize("restart", [0, 3])
@pytest.mark.parametrize("mode", ["blur", "outline"])
def test_only_the_touched_blocks_change_and_the_faces_are_hidden_as_before(sampling, restart, mode):
    data = jpeg(photo(), sampling, restart)
    _, original = decode(data)
    grown = {"mask_scale": 1.6} if mode == "blur" else {}  # masks reach past the boxes
    result = render(data, mode, **grown)
    assert result.written == jpegblocks.BLOCKS
    _, out = decode(result.data)
    # The same hiding on lossless pixels: what the full-encode path draws, before JPEG's rounding.
    _, expected = decode(render(encode(original, ".png"), mode, **grown).data)
    changed = np.any(expected != original, axis=2)
    assert changed.sum() > 500
    frame = jpegblocks.parse(data)
    subsampled = frame.mcu != (8, 8)
    touched = mcu_mask(changed, frame.mcu, 0)
    # Outside the touched MCUs (and the one-pixel ring smooth chroma upsampling draws from a
    # changed neighbour), every pixel decodes exactly as the original's.
    outside = ~mcu_mask(changed, frame.mcu, 1 if subsampled else 0)
    assert np.array_equal(out[outside], original[outside])
    # Every touched MCU changed (none forgotten), and nothing beyond them (save the ring).
    differs = np.any(out != original, axis=2)
    assert not (differs & ~mcu_mask(changed, frame.mcu, 1 if subsampled else 0)).any()
    grid = mcu_mask(differs & touched, frame.mcu, 0)
    assert np.array_equal(grid, touched)
    # Inside, the hidden or outlined pixels are what the full path gives, within JPEG's rounding.
    error = np.abs(out.astype(int) - expected.astype(int))
    full = cv2.imdecode(cv2.imencode(".jpg", expected, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], 1)
    full_error = np.abs(full.astype(int) - expected.astype(int))
    assert error[touched].mean() < 1.2 * full_error[touched].mean() + 0.5
    assert np.percentile(error[changed], 99) < 1.2 * np.percentile(full_error[changed], 99) + 4
    if mode == "outline":
        line = np.all(expected == RED, axis=2)
        assert out[line][:, 2].mean() > 170 and out[line][:, :2].mean() < 60  # red as before


@pytest.mark.parametrize("sampling", ["4:4:4", "4:2:0"])
def test_a_face_at_the_ragged_edge_is_filled_like_the_full_encode(sampling):
    smooth = cv2.resize(astronaut(), (251, 183), interpolation=cv2.INTER_AREA)
    data = jpeg(smooth, sampling)
    corner = [Face(220, 150, 40, 40, 0.9)]  # past the last whole MCU on both axes
    white = {"fill_color": (255, 255, 255)}
    result = render(data, "solid", corner, **white)
    assert result.written == jpegblocks.BLOCKS
    _, out = decode(result.data)
    _, expected = decode(render(encode(decode(data)[1], ".png"), "solid", corner, **white).data)
    filled = np.all(expected == 255, axis=2)
    assert filled[-1, -1] and filled.sum() > 400
    assert np.abs(out[filled].astype(int) - 255).max() < 12


def test_one_face_keeps_the_file_about_the_inputs_size_and_blocks_elsewhere_bit_exact():
    data = jpeg(photo(640, 480))
    result = render(data, "blur", [Face(300, 200, 60, 60, 0.9)])
    assert result.written == jpegblocks.BLOCKS
    assert abs(len(result.data) - len(data)) / len(data) < 0.05


def test_a_photo_without_faces_is_a_copy_of_its_pixels():
    data = jpeg(photo())
    result = render(data, "blur", [])
    assert result.written == jpegblocks.BLOCKS
    assert np.array_equal(decode(result.data)[1], decode(data)[1])


def test_progressive_jpeg_is_written_block_locally_and_stays_progressive():
    image = photo()
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=90, progressive=True)
    data = out.getvalue()
    assert jpegblocks.parse(data).progressive
    result = render(data, "solid")
    assert result.written == jpegblocks.BLOCKS
    assert jpegblocks.parse(result.data).progressive
    _, original = decode(data)
    _, written = decode(result.data)
    far = np.ones(original.shape[:2], bool)
    for f in FACES:  # well away from any face's MCUs
        far[max(0, f.y - 40) : f.y + f.h + 40, max(0, f.x - 40) : f.x + f.w + 40] = False
    assert np.array_equal(written[far], original[far])
    f = FACES[0]
    assert written[f.y + f.h // 2, f.x + f.w // 2].max() < 30  # the solid fill (black) is there


def test_grey_photo_takes_blocks_for_grey_fills_and_the_full_encode_for_coloured_lines():
    grey = cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)
    _, buf = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 90])
    data = buf.tobytes()
    assert len(jpegblocks.parse(data).components) == 1
    blurred = render(data, "blur")
    assert blurred.written == jpegblocks.BLOCKS
    _, original = decode(data)
    _, out = decode(blurred.data)
    far = np.zeros(original.shape[:2], bool)
    far[:, 264:] = True  # right of every face's MCUs
    assert np.array_equal(out[far], original[far])
    outlined = render(data, "outline")
    assert outlined.written == "full: colour marks on a grey photo"
    _, lines = decode(outlined.data)
    f = FACES[1]
    assert tuple(lines[f.y, f.x + f.w // 2]) == pytest.approx(RED, abs=40)  # still red


# How a camera stores an upright image for each EXIF orientation (OpenCV's own turns).
STORED = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
    7: lambda a: cv2.transpose(cv2.rotate(a, cv2.ROTATE_180)),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
}


@pytest.mark.parametrize("orientation", list(STORED))
def test_an_exif_rotated_photo_is_written_block_locally_in_its_stored_orientation(orientation):
    upright = photo()
    pil = Image.fromarray(cv2.cvtColor(STORED[orientation](upright), cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = orientation, "Canon"
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=90, exif=exif.tobytes())
    data = out.getvalue()
    _, original = decode(data)
    assert original.shape == upright.shape  # the reader turns it upright
    result = render(data, "solid", FACES[:1])
    assert result.written == jpegblocks.BLOCKS
    _, written = decode(result.data)
    assert written.shape == upright.shape  # the output's tag turns it upright too
    f = FACES[0]
    assert written[f.y + f.h // 2, f.x + f.w // 2].max() < 30  # hidden where the face is
    _, expected = decode(render(encode(original, ".png"), "solid", FACES[:1]).data)
    near = (slice(0, f.y + f.h + 40), slice(0, f.x + f.w + 40))
    error = np.abs(written[near].astype(int) - expected[near].astype(int)).mean()
    assert error < 4, error  # the rewritten blocks hold the upright hiding, turned as stored
    far = np.ones(upright.shape[:2], bool)
    far[: f.y + f.h + 40, : f.x + f.w + 40] = False
    assert np.array_equal(written[far], original[far])
    with Image.open(io.BytesIO(result.data)) as im:
        tags = dict(im.getexif())
    assert tags == {0x0112: orientation}  # no metadata but the turn
    kept = render(data, "solid", FACES[:1], keep_metadata=True)
    with Image.open(io.BytesIO(kept.data)) as im:
        tags = dict(im.getexif())
    assert tags[0x0112] == orientation and tags[0x010F] == "Canon"
    assert np.array_equal(decode(kept.data)[1], written)


def test_cmyk_jpegs_take_the_full_encode_and_say_so():
    cmyk = render(cmyk_jpeg(photo()), "blur")
    assert cmyk.written == "full: CMYK"


def test_without_libturbojpeg_every_jpeg_takes_the_full_encode(monkeypatch):
    monkeypatch.setattr(jpegblocks, "available", lambda: False)
    result = render(jpeg(photo()), "blur")
    assert result.written == "full: libturbojpeg not installed"
    assert decode(result.data)[1].shape[:2] == (183, 251)


def test_corrupt_jpegs_stay_errors_or_take_the_full_encode():
    data = jpeg(photo())
    with pytest.raises(ImageError, match="truncated JPEG"):
        render(data[: len(data) // 2], "blur")
    scan = data.rfind(b"\xff\xda") + 40
    damaged = data[:scan] + bytes(200) + data[scan + 200 :]  # decodes with a warning
    result = render(damaged, "blur")
    assert result.written.startswith("full: ")
    after = render(data, "blur", [])  # a failed transform leaves nothing behind for the next
    assert np.array_equal(decode(after.data)[1], decode(data)[1])


def test_block_local_outputs_carry_no_metadata_by_default_and_the_safe_part_on_request():
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8825)[1] = "N"  # a GPS block
    pil = Image.fromarray(cv2.cvtColor(photo(), cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=90, exif=exif.tobytes(), comment=b"taken at home")
    data = out.getvalue()
    stripped = render(data, "blur", FACES[:1])
    assert stripped.written == jpegblocks.BLOCKS
    assert b"Exif" not in stripped.data and b"Canon" not in stripped.data
    assert b"taken at home" not in stripped.data  # comments are metadata too
    kept = render(data, "blur", FACES[:1], keep_metadata=True)
    assert kept.written == jpegblocks.BLOCKS
    with Image.open(io.BytesIO(kept.data)) as im:
        found = im.getexif()
    assert found[0x010F] == "Canon" and 0x8825 not in found
    assert np.array_equal(decode(kept.data)[1], decode(stripped.data)[1])


def test_past_the_share_of_changed_mcus_the_full_encode_is_taken(monkeypatch):
    monkeypatch.setattr(jpegblocks, "MAX_CHANGED_SHARE", 0.15)
    data = jpeg(photo(640, 480))
    small = render(data, "blur", [Face(300, 200, 60, 60, 0.9)])
    assert small.written == jpegblocks.BLOCKS
    large = render(data, "blur", [Face(100, 100, 250, 250, 0.9)])
    assert large.written.startswith("full: ") and large.written.endswith(" of 1200 MCUs changed")
    assert decode(large.data)[1].shape == (480, 640, 3)


def test_a_change_past_its_snapshot_takes_the_full_encode_so_nothing_stays_unhidden(monkeypatch):
    from dataproc_faces.imaging import render as render_module

    def too_small(faces, image, options):  # the boxes alone: a grown mask reaches past them
        return [(f.x, f.y, f.x + f.w, f.y + f.h) for f in faces]

    monkeypatch.setattr(render_module, "reach", too_small)
    data = jpeg(photo())
    result = render(data, "solid", FACES[:1], mask_scale=1.6)
    assert result.written.startswith("full: a change reached the edge of its snapshot")
    _, out = decode(result.data)
    _, expected = decode(
        render(encode(decode(data)[1], ".png"), "solid", FACES[:1], mask_scale=1.6).data
    )
    hidden = np.all(expected == 0, axis=2)
    assert hidden.sum() > 3000 and out[hidden].mean() < 12  # every masked pixel is dark


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def _with_metadata(data: bytes) -> bytes:
    """`data` with EXIF (a GPS block), an ICC profile, XMP and a comment after its JFIF header,
    a comment between its tables, and an MPO-like second frame after its EOI."""
    app0_end = 4 + int.from_bytes(data[4:6], "big")
    assert data[6:11] == b"JFIF\x00"
    exif = Image.Exif()
    exif.get_ifd(0x8825)[1] = "N"
    extra = (
        _segment(0xE1, b"Exif\x00\x00" + exif.tobytes())
        + _segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"\x00" * 64)
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>home</x:xmpmeta>")
        + _segment(0xFE, b"taken at home")
    )
    sof = data.index(b"\xff\xc0")
    body = data[:app0_end] + extra + data[app0_end:sof] + _segment(0xFE, b"between") + data[sof:]
    return body + jpeg(photo(64, 48))  # a second frame, as an MPO carries


@pytest.mark.parametrize("sampling", list(SAMPLING))
@pytest.mark.parametrize("restart", [0, 2])
def test_a_photo_without_faces_is_its_own_scans_without_metadata(sampling, restart):
    plain = jpeg(photo(), sampling, restart)
    data = _with_metadata(plain)
    result = render(data, "outline", [])
    assert result.written == jpegblocks.BLOCKS
    # byte for byte the input without what was added: the same tables, scans and restart markers
    assert result.data == plain
    assert np.array_equal(decode(result.data)[1], decode(data)[1])


def test_a_progressive_photo_without_faces_keeps_every_scan_and_no_comment_between_them():
    pil = Image.fromarray(cv2.cvtColor(photo(), cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=90, progressive=True)
    data = out.getvalue()
    scans = data.count(b"\xff\xda")
    assert scans > 3
    second = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)  # a comment between scans
    marked = data[:second] + _segment(0xFE, b"taken at home") + data[second:]
    assert np.array_equal(decode(marked)[1], decode(data)[1])
    result = render(marked, "blur", [])
    assert result.written == jpegblocks.BLOCKS
    assert result.data.count(b"\xff\xda") == scans and b"taken at home" not in result.data
    assert result.data == data[: data.rindex(b"\xff\xd9") + 2]
    assert np.array_equal(decode(result.data)[1], decode(data)[1])


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda d: d[: d.rindex(b"\xff\xd9")], "no marker after the scan"),
        (lambda d: b"\x00" + d, "no SOI"),
        (lambda d: d[:20], "no marker at byte 20"),
        (lambda d: d[:30], "segment length"),
    ],
)
def test_a_structure_the_copy_cannot_walk_is_refused(cut, reason):
    with pytest.raises(jpegblocks.HeaderError, match=reason):
        jpegblocks.stripped(cut(jpeg(photo())))


def test_jfifs_own_thumbnail_is_not_copied():
    plain = jpeg(photo())
    length = int.from_bytes(plain[4:6], "big")
    assert length == 16 and plain[18:20] == b"\x00\x00"  # OpenCV's JFIF header: no thumbnail
    thumb = bytes([7, 8, 9]) * 4  # a 2 x 2 RGB thumbnail
    header = plain[6:18] + b"\x02\x02" + thumb
    data = plain[:2] + _segment(0xE0, header) + plain[4 + length :]
    assert np.array_equal(decode(data)[1], decode(plain)[1])
    result = render(data, "outline", [])
    assert result.data == plain and thumb not in result.data


def test_a_faceless_exif_rotated_photo_is_copied_with_its_orientation_tag_alone():
    image = photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: viewers turn it 90 degrees clockwise
    exif[0x010F] = "Canon"
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=90, exif=exif.tobytes())
    data = out.getvalue()
    result = render(data, "blur", [])
    assert result.written == jpegblocks.BLOCKS and b"Canon" not in result.data
    with Image.open(io.BytesIO(result.data)) as im:
        assert dict(im.getexif()) == {0x0112: 6}
    assert np.array_equal(decode(result.data)[1], decode(data)[1])  # upright, the same pixels
