"""load_image on a corpus of odd and broken images made on the fly, and sample_images."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageFile

from clipcourse.images import ImageLoadError, SampleImage, load_image, sample_images

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _noise(width, height, seed=0):
    """A noisy RGB image: it compresses badly, so half the file really is half the image."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _with_marker(width=60, height=30):
    """Grey, with a red 12x12 block in the top-left corner."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    image.paste(RED, (0, 0, 12, 12))
    return image


def _close(pixel, expected, tolerance=40):
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, expected))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every odd and broken file, keyed by a short name."""
    root = tmp_path_factory.mktemp("corpus")
    files = {}

    def path(key, filename):
        files[key] = root / filename
        return files[key]

    for orientation in (6, 8):
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        _with_marker().save(path(f"exif{orientation}", f"exif_{orientation}.jpg"),
                            exif=exif, quality=95)

    rgba = Image.new("RGBA", (20, 10), (0, 0, 255, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 10, 10))  # left half fully transparent black
    rgba.save(path("rgba", "rgba.png"))

    la = Image.new("LA", (20, 10), (50, 255))
    la.paste((0, 0), (0, 0, 10, 10))
    la.save(path("la", "la.png"))

    palette = Image.new("P", (20, 10), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)  # 0: black, 1: red
    palette.paste(0, (0, 0, 10, 10))
    palette.save(path("p_png", "palette.png"), transparency=0)
    palette.save(path("p_gif", "palette.gif"), transparency=0)

    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(path("cmyk", "cmyk.jpg"))

    dim = np.tile(np.linspace(0, 1000, 20), (10, 1)).astype(np.uint16)  # 0..1000 of 65535
    Image.fromarray(dim).save(path("png16", "dim16.png"))

    ramp = np.tile(np.linspace(0.0, 3.5, 20, dtype=np.float32), (10, 1))
    Image.fromarray(ramp).save(path("float_tiff", "float.tif"))
    Image.fromarray(np.full((10, 20), 0.5, dtype=np.float32)).save(path("unit_tiff", "unit.tif"))

    bits = Image.new("1", (20, 10), 0)
    bits.paste(1, (10, 0, 20, 10))
    bits.save(path("bits", "one_bit.png"))

    frames = [Image.new("RGB", (20, 10), colour) for colour in (RED, GREEN, BLUE)]
    frames[0].save(path("gif", "animated.gif"), save_all=True, append_images=frames[1:],
                   duration=100, loop=0)
    frames[0].save(path("tiff_pages", "pages.tif"), save_all=True, append_images=frames[1:])

    path("empty", "empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    _noise(64, 64).save(buffer, format="PNG")
    path("cut_png", "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    buffer = io.BytesIO()
    _noise(64, 64).save(buffer, format="JPEG", quality=95)
    path("cut_jpeg", "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    path("text", "notes.png").write_text("this is not an image\n")
    path("folder", "photos.png").mkdir()
    _noise(20, 20).save(path("small", "small.png"))
    return files


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------- files that load


@pytest.mark.parametrize(
    "orientation, marker_xy",
    [
        (6, (24, 5)),  # rotated 90° clockwise for display: top-left -> top-right
        (8, (5, 54)),  # rotated 90° anticlockwise: top-left -> bottom-left
    ],
)
def test_exif_orientation_is_applied(corpus, orientation, marker_xy):
    image = load_image(corpus[f"exif{orientation}"])
    assert image.size == (30, 60)  # stored 60x30, shown upright as 30x60
    assert _close(image.getpixel(marker_xy), RED)
    assert _close(image.getpixel((15, 30)), (128, 128, 128))


@pytest.mark.parametrize(
    "key, transparent, opaque",
    [
        ("rgba", WHITE, BLUE),
        ("la", WHITE, (50, 50, 50)),
        ("p_png", WHITE, RED),
        ("p_gif", WHITE, RED),
    ],
)
def test_transparency_is_composited_onto_white(corpus, key, transparent, opaque):
    image = load_image(corpus[key])
    assert image.mode == "RGB"
    assert image.getpixel((2, 5)) == transparent
    assert image.getpixel((17, 5)) == opaque


@pytest.mark.parametrize(
    "key, pixel_xy, expected",
    [
        ("cmyk", (10, 5), RED),
        ("bits", (2, 5), (0, 0, 0)),
        ("bits", (17, 5), WHITE),
        ("gif", (10, 5), RED),  # first frame of red, green, blue
        ("tiff_pages", (10, 5), RED),  # first page
        ("unit_tiff", (10, 5), (128, 128, 128)),  # floats in [0, 1] are multiplied by 255
    ],
)
def test_modes_and_frames_become_rgb(corpus, key, pixel_xy, expected):
    image = load_image(corpus[key])
    assert image.mode == "RGB"
    assert image.size == (20, 10)
    assert _close(image.getpixel(pixel_xy), expected, tolerance=10)


@pytest.mark.parametrize("key", ["png16", "float_tiff"])
def test_wide_values_are_rescaled_not_clipped(corpus, key):
    pixels = np.asarray(load_image(corpus[key]))  # [H, W, 3]
    assert pixels.dtype == np.uint8
    assert pixels.min() == 0
    assert pixels.max() >= 250
    assert (pixels == 255).mean() < 0.2  # a ramp, not a white sheet
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)  # still a ramp


@pytest.mark.parametrize("as_type", [str, Path])
def test_path_types(corpus, as_type):
    assert load_image(as_type(corpus["small"])).size == (20, 20)


def test_no_file_handle_left_open(corpus):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counts open files through /proc")
    before = _open_fds()
    image = load_image(corpus["tiff_pages"])
    for key in ("cut_png", "text"):
        with pytest.raises(ImageLoadError):
            load_image(corpus[key])
    assert _open_fds() == before
    assert image.getpixel((0, 0)) == RED  # still usable: fully loaded, detached from the file


# ---------------------------------------------------------------- files that do not


@pytest.mark.parametrize(
    "key, reason",
    [
        ("empty", "empty"),
        ("cut_png", "truncated"),
        ("cut_jpeg", "truncated"),
        ("text", "does not recognise"),
        ("folder", "folder"),
    ],
)
def test_unreadable_files_raise_image_load_error(corpus, key, reason):
    with pytest.raises(ImageLoadError, match=reason) as info:
        load_image(corpus[key])
    assert isinstance(info.value, ValueError)
    assert corpus[key].name in str(info.value)


def test_truncated_file_is_not_loaded_half():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # nobody switched it on globally


def test_missing_path_raises_file_not_found(tmp_path):
    missing = tmp_path / "no_such_photo.jpg"
    with pytest.raises(FileNotFoundError) as info:
        load_image(missing)
    assert "no_such_photo.jpg" in str(info.value)
    assert info.value.filename == str(missing)


def test_max_pixels_refuses_large_images(corpus):
    with pytest.raises(ImageLoadError, match="max_pixels") as info:
        load_image(corpus["small"], max_pixels=100)  # 20x20 = 400 pixels
    assert "small.png" in str(info.value)
    assert load_image(corpus["small"], max_pixels=400).size == (20, 20)


@pytest.mark.parametrize(
    "limit",
    [
        300,  # 400 pixels: over the limit, under twice it -> Pillow warns
        100,  # 400 pixels: over twice the limit -> Pillow raises
    ],
)
def test_decompression_bombs_raise(corpus, monkeypatch, limit):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)  # this test only
    with pytest.raises(ImageLoadError, match="decompression bomb") as info:
        load_image(corpus["small"])
    assert "small.png" in str(info.value)


def test_pillow_limit_is_left_alone(corpus):
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageLoadError):
        load_image(corpus["small"], max_pixels=10)
    assert Image.MAX_IMAGE_PIXELS == before


# ---------------------------------------------------------------- bytes, PIL, numpy


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_are_file_contents(corpus, wrap):
    data = corpus["p_png"].read_bytes()
    image = load_image(wrap(data))
    assert image.mode == "RGB"
    assert image.getpixel((2, 5)) == WHITE


@pytest.mark.parametrize("key", ["empty", "cut_jpeg", "text"])
def test_broken_bytes_raise_with_their_name(corpus, key):
    data = corpus[key].read_bytes()
    with pytest.raises(ImageLoadError) as info:
        load_image(data, name="upload.jpg")
    assert "upload.jpg" in str(info.value)
    with pytest.raises(ImageLoadError, match=rf"<{len(data)} bytes>"):
        load_image(data)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "La", "P", "CMYK", "I;16", "F"])
def test_pil_passthrough_gives_a_new_rgb_image(mode):
    original = Image.new(mode, (8, 4))
    before = original.tobytes()
    image = load_image(original)
    assert image.mode == "RGB"
    assert image is not original
    image.putpixel((0, 0), RED)
    assert original.mode == mode
    assert original.tobytes() == before


def test_unconvertible_colour_mode_raises(monkeypatch):
    def refuse(self, mode=None, *args, **kwargs):
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    monkeypatch.setattr(Image.Image, "convert", refuse)  # as for a mode Pillow cannot convert
    with pytest.raises(ImageLoadError, match="colour mode") as info:
        load_image(Image.new("RGB", (2, 2)), name="odd_mode.tif")
    assert "odd_mode.tif" in str(info.value)


def test_pil_image_from_a_file_keeps_its_orientation_and_name(corpus):
    with Image.open(corpus["exif6"]) as opened:
        assert load_image(opened).size == (30, 60)
    with Image.open(corpus["small"]) as opened:
        with pytest.raises(ImageLoadError) as info:
            load_image(opened, max_pixels=10)
    assert "small.png" in str(info.value)


@pytest.mark.parametrize(
    "array, expected_corner",
    [
        (np.full((4, 6), 7, dtype=np.uint8), (7, 7, 7)),
        (np.full((4, 6, 1), 7, dtype=np.uint8), (7, 7, 7)),
        (np.tile(np.array(RED, dtype=np.uint8), (4, 6, 1)), RED),
        (np.zeros((4, 6, 4), dtype=np.uint8), WHITE),  # transparent black -> white
        (np.tile(np.array([0, 0, 255, 255], dtype=np.uint8), (4, 6, 1)), BLUE),
        (np.ones((4, 6), dtype=bool), WHITE),
        (np.zeros((4, 6, 4), dtype=bool), WHITE),  # transparent
        (np.full((4, 6), 0.5, dtype=np.float32), (128, 128, 128)),  # [0, 1] floats
        (np.tile(np.array([0.0, 0.5, 1.0], dtype=np.float64), (4, 6, 1)), (0, 128, 255)),
        (np.tile(np.linspace(0, 4095, 6, dtype=np.uint16), (4, 1)), (0, 0, 0)),  # 12 bits
        (np.tile(np.linspace(-1, 1, 6, dtype=np.float32), (4, 1)), (0, 0, 0)),  # normalised
        (np.tile(np.array([[0.0, 0.0, 0.0, 1.0]], dtype=np.float32), (4, 6, 1)), (0, 0, 0)),
    ],
)
def test_numpy_arrays(array, expected_corner):
    copy = array.copy()
    image = load_image(array)
    assert image.mode == "RGB"
    assert image.size == (6, 4)
    assert image.getpixel((0, 0)) == expected_corner
    np.testing.assert_array_equal(array, copy)  # input untouched


@pytest.mark.parametrize(
    "array",
    [
        np.tile(np.linspace(0, 4095, 6, dtype=np.uint16), (4, 1)),
        np.tile(np.linspace(0, 3.5, 6), (4, 1)),
        np.tile(np.linspace(-1, 1, 6, dtype=np.float32), (4, 1)),
    ],
)
def test_wide_arrays_are_stretched_to_255(array):
    pixels = np.asarray(load_image(array))
    assert pixels.min() == 0 and pixels.max() == 255


def test_non_finite_floats_become_black():
    array = np.array([[np.nan, np.inf, 0.5]], dtype=np.float32)
    assert [load_image(array).getpixel((x, 0)) for x in range(3)] == [
        (0, 0, 0), (0, 0, 0), (128, 128, 128)]


@pytest.mark.parametrize(
    "array, reason",
    [
        (np.zeros((3, 16, 16), dtype=np.float32), "channels-first"),
        (np.zeros((16, 16, 2), dtype=np.uint8), r"\[H, W\]"),
        (np.zeros((1, 16, 16, 3), dtype=np.uint8), r"\[H, W\]"),
        (np.zeros((0, 16), dtype=np.uint8), "no pixels"),
        (np.zeros((4, 4), dtype=np.complex64), "bool, integer or float"),
    ],
)
def test_bad_arrays_raise(array, reason):
    with pytest.raises(ImageLoadError, match=reason) as info:
        load_image(array, name="my_array")
    assert "my_array" in str(info.value)
    with pytest.raises(ImageLoadError, match=r"numpy array, shape"):
        load_image(array)


@pytest.mark.parametrize("source", [None, 3, [[0, 1]], io.BytesIO(b"")])
def test_other_types_raise_type_error(source):
    with pytest.raises(TypeError, match="load_image"):
        load_image(source)


# ---------------------------------------------------------------- sample images

SAMPLE_NAMES = ["page", "chelsea", "astronaut", "rocket", "motorcycle_right", "camera",
                "horse", "coffee"]


def test_sample_images():
    samples = sample_images()
    assert [sample.name for sample in samples] == SAMPLE_NAMES
    for sample in samples:
        assert isinstance(sample, SampleImage)
        assert sample.description and sample.description == sample.description.strip()
        assert sample.path.is_file() and sample.path.stem == sample.name
        assert sample.image.mode == "RGB" and min(sample.image.size) > 100
    assert samples[3].path.suffix == ".jpg"
    assert samples[1].description == "a facial photo of a tabby cat"
    horse = samples[6].image
    assert horse.getpixel((0, 0)) == WHITE  # transparent background composited onto white
