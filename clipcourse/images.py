"""Load any image a learner throws at the course as a plain RGB picture.

CLIP's preprocessing expects an RGB ``PIL.Image``. Real files are messier: phone photos carry
an EXIF rotation, PNGs have transparency, scientific images are 16-bit or float, uploads arrive
as raw bytes and downloads get cut short. :func:`load_image` turns all of these into one RGB
image, or raises :class:`ImageLoadError` with a message that says which file, what went wrong
and what to do about it.

:func:`sample_images` returns the eight photos used by OpenAI's "Interacting with CLIP"
notebook, which ship inside scikit-image's wheel (no download).

References
----------
- OpenAI, "Interacting with CLIP" (``notebooks/Interacting_with_CLIP.ipynb`` in openai/CLIP).
- Pillow, "Image file formats" and ``PIL.ImageOps.exif_transpose``.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np
import skimage
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageLoadError", "SampleImage", "load_image", "sample_images"]

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]

# Exceptions Pillow raises for data it cannot decode. Some plugins raise SyntaxError
# ("broken PNG file", "not a TIFF file"), EOFError or struct.error for cut-short headers.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

# Modes with more than 8 bits per pixel: rescaled to 0-255 rather than clipped.
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")

# (name, file in skimage.data_dir, description), in the order of OpenAI's notebook.
_SAMPLES = (
    ("page", "page.png", "a page of text about segmentation"),
    ("chelsea", "chelsea.png", "a facial photo of a tabby cat"),
    ("astronaut", "astronaut.png", "a portrait of an astronaut with the American flag"),
    ("rocket", "rocket.jpg", "a rocket standing on a launchpad"),
    ("motorcycle_right", "motorcycle_right.png", "a red motorcycle standing in a garage"),
    ("camera", "camera.png", "a person looking at a camera on a tripod"),
    ("horse", "horse.png", "a black-and-white silhouette of a horse"),
    ("coffee", "coffee.png", "a cup of coffee on a saucer"),
)


class ImageLoadError(ValueError):
    """An input that cannot be read as an image.

    The message names the input, the reason and what to do. Raised by :func:`load_image` for
    empty, truncated or corrupt files, files that are not images or that cannot be opened
    (permissions, symbolic link loops), folders, decompression bombs, images of 0 pixels and
    arrays of the wrong shape. A missing path raises ``FileNotFoundError`` instead.
    ``Model.encode_images`` also raises it for an image so elongated that CLIP's resize would
    blow it up (more than 64:1).

    Introduced in `00_setup_and_first_look.ipynb`.
    """


class SampleImage(NamedTuple):
    """One sample photo: its short ``name``, a one-line ``description``, its file ``path``
    and the loaded RGB ``image``.

    Introduced in `00_setup_and_first_look.ipynb`.
    """

    name: str
    description: str
    path: Path
    image: Image.Image


def load_image(
    source: ImageSource, *, max_pixels: int | None = None, name: str | None = None
) -> Image.Image:
    """Load an image from a path, bytes, a PIL image or a numpy array, as RGB.

    Introduced in `00_setup_and_first_look.ipynb`.

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray, memoryview, PIL.Image.Image or numpy.ndarray
        - a path to an image file;
        - the bytes *of* an image file, such as the ``content`` of an ipywidgets
          ``FileUpload`` (bytes are contents, never a path);
        - a PIL image, which is not modified: you get a new RGB copy;
        - an array ``[H, W]`` (grey), ``[H, W, 3]`` (RGB) or ``[H, W, 4]`` (RGBA) of bool,
          integer or float values.
    max_pixels : int, optional
        Refuse images with more than this many pixels (width × height) before decoding them.
        Pillow's own limit, ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 million), always applies
        as well; this keyword can only make the limit stricter.
    name : str, optional
        What to call the input in error messages when it has no file name (bytes, arrays).

    Returns
    -------
    PIL.Image.Image
        A new, fully decoded RGB image that holds no open file.

    Raises
    ------
    FileNotFoundError
        If ``source`` is a path and nothing is there.
    ImageLoadError
        If the input cannot be read as an image (a subclass of ``ValueError``): also a file you
        may not read, a symbolic link loop or a dangling link, an empty path or one with a NUL
        character, and an image of 0 pixels.
    TypeError
        If ``source`` is none of the types above.

    Notes
    -----
    - The EXIF orientation tag of phone photos is applied, so the image stands the right way up.
    - Transparent pixels (RGBA, LA, or palette images with a transparent colour) are
      composited onto white.
    - Palette, CMYK, 1-bit and grey images are converted to RGB. Animated GIFs and
      multipage TIFFs give their first frame.
    - Values wider than 8 bits are rescaled to 0-255, never clipped: bool becomes 0/255;
      uint8 is kept; floats that all lie in [0, 1] (the scikit-image and matplotlib
      convention) are multiplied by 255; anything else (16- and 32-bit integers, other
      floats) is divided by its own maximum so that the brightest pixel becomes 255 and 0
      stays black, or, if it has negative values, stretched from its minimum to its maximum.
      The maximum, not the type's range, is used because a 12-bit camera image stored as
      16 bits would otherwise look almost black. NaN and infinite values become 0.

    Examples
    --------
    >>> import numpy as np
    >>> image = load_image(np.zeros((32, 48), dtype=np.uint16))
    >>> image.mode, image.size
    ('RGB', (48, 32))
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = repr(name) if name else f"<{len(data)} bytes>"
        if not data:
            raise _empty_error(label)
        return _decode(io.BytesIO(data), label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _load_path(source, max_pixels)
    if isinstance(source, Image.Image):
        filename = getattr(source, "filename", "")
        label = repr(name or filename) if (name or filename) else (
            f"<PIL image, mode {source.mode}, {source.width}x{source.height}>"
        )
        return _decode(source, label, max_pixels)
    if isinstance(source, np.ndarray):
        label = repr(name) if name else (
            f"<numpy array, shape {tuple(source.shape)}, dtype {source.dtype}>"
        )
        return _from_array(source, label, max_pixels)
    raise TypeError(
        "load_image() takes a path (str or Path), the bytes of an image file, a PIL image "
        f"or a numpy array, not {type(source).__name__}."
    )


def sample_images() -> list[SampleImage]:
    """The 8 photos of OpenAI's "Interacting with CLIP" notebook, with their descriptions.

    They ship inside the scikit-image wheel (``skimage.data_dir``), so nothing is downloaded.
    Each call loads them again (about 0.1 s); nothing is cached.

    Introduced in `00_setup_and_first_look.ipynb`.

    Returns
    -------
    list of SampleImage
        In the notebook's order: page, chelsea, astronaut, rocket, motorcycle_right,
        camera, horse, coffee. Each has ``name``, ``description``, ``path`` and an RGB
        ``image``.

    Examples
    --------
    >>> samples = sample_images()
    >>> samples[1].name, samples[1].description
    ('chelsea', 'a facial photo of a tabby cat')
    >>> texts = [sample.description for sample in samples]
    """
    data_dir = Path(skimage.data_dir)
    return [
        SampleImage(name, description, data_dir / filename, load_image(data_dir / filename))
        for name, filename, description in _SAMPLES
    ]


def _load_path(source: str | os.PathLike, max_pixels: int | None) -> Image.Image:
    path = os.fspath(source)
    if isinstance(path, bytes):  # a bytes path object (os.fspath of a path-like may give bytes)
        path = os.fsdecode(path)
    label = repr(path)
    if not path:
        raise ImageLoadError("Cannot load image '': the path is empty. Pass the path of an "
                             "image file, e.g. 'data/cat.jpg'.")
    if "\0" in path:
        raise ImageLoadError(f"Cannot load image {label}: the path contains a NUL character "
                             "('\\x00'), which no file name can hold. Check how the path was "
                             "built (a stray byte from a file or a widget?).")
    if os.path.isdir(path):
        raise ImageLoadError(
            f"Cannot load image {label}: it is a folder, not a file. Pass the path of one "
            "image inside it, e.g. sorted(Path(folder).glob('*.jpg'))[0]."
        )
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageLoadError(f"Cannot load image {label}: it is a symbolic link to "
                                 f"{os.readlink(path)!r}, which does not exist. Fix or remove "
                                 "the link.") from None
        where = "" if os.path.isabs(path) else f" (relative paths start from {os.getcwd()!r})"
        raise FileNotFoundError(
            2, f"No image file at this path{where}; check the spelling and the folder", path
        ) from None
    except PermissionError as err:
        raise ImageLoadError(
            f"Cannot load image {label}: permission denied ({err.strerror}). You may not read "
            "this file: copy it somewhere of yours, or ask its owner to make it readable "
            "(chmod a+r)."
        ) from err
    except OSError as err:  # a symlink loop (ELOOP), a name too long, an I/O error...
        raise ImageLoadError(
            f"Cannot load image {label}: the file cannot be opened ({err.strerror or err}). "
            "If it is a symbolic link, check where it points (`ls -l`)."
        ) from err
    with file:
        if os.fstat(file.fileno()).st_size == 0:
            raise _empty_error(label)
        return _decode(file, label, max_pixels)


def _decode(source: io.IOBase | Image.Image, label: str, max_pixels: int | None) -> Image.Image:
    """Open (unless already a PIL image), fully decode and convert, translating errors."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(source, Image.Image):
                return _finish(source, label, max_pixels)
            with Image.open(source) as image:
                return _finish(image, label, max_pixels)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(
            f"Cannot load image {label}: it is too large to decode safely ({err}). "
            "This guards against 'decompression bombs'. Shrink it with an image editor first."
        ) from err
    except UnidentifiedImageError as err:
        raise ImageLoadError(
            f"Cannot load image {label}: Pillow does not recognise it as an image. Check that "
            "it really is a PNG, JPEG, GIF, TIFF, WebP or BMP file and not, say, an HTML page "
            "saved under an image name."
        ) from err
    except _DECODE_ERRORS as err:
        raise ImageLoadError(
            f"Cannot load image {label}: the data is truncated or corrupt (Pillow says: {err}). "
            "Download or copy the file again, or open it in an image viewer to check it."
        ) from err


def _finish(image: Image.Image, label: str, max_pixels: int | None) -> Image.Image:
    """Check the size, decode every pixel, apply EXIF orientation and convert to RGB."""
    _check_pixels(image.size, label, max_pixels)
    image.load()  # decodes now, so a truncated file raises here instead of loading half
    upright = ImageOps.exif_transpose(image)  # always a new image
    return _to_rgb(upright, label)


def _check_pixels(size: tuple[int, int], label: str, max_pixels: int | None) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageLoadError(f"Cannot load image {label}: it is {width}x{height} pixels, so it "
                             "has no pixels to show. Check how it was made or cropped.")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            f"Cannot load image {label}: it has {width * height:,} pixels ({width}x{height}), "
            f"more than max_pixels={max_pixels:,}. Shrink it first, or pass a larger "
            "max_pixels if you trust it."
        )


def _to_rgb(image: Image.Image, label: str) -> Image.Image:
    """A new RGB image: wide values rescaled, transparency composited onto white."""
    if image.mode in _WIDE_MODES:
        image = Image.fromarray(_rescale_to_uint8(np.asarray(image)))  # mode "L"
    elif image.mode == "La":  # premultiplied alpha: Pillow converts it only to "LA"
        image = image.convert("LA")
    try:
        if image.mode in _ALPHA_MODES or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")  # a copy even when already RGB
    except ValueError as err:
        raise ImageLoadError(
            f"Cannot load image {label}: its colour mode {image.mode!r} cannot be converted "
            f"to RGB ({err}). Convert it to RGB with an image editor first."
        ) from err


def _rescale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map values to uint8 by the rules in load_image's Notes (one scale for all channels)."""
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    floats = values.astype(np.float64)
    floats[~np.isfinite(floats)] = 0.0
    low, high = floats.min(), floats.max()
    if np.issubdtype(values.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        scaled = floats * 255.0
    elif low >= 0.0:
        scaled = floats * (255.0 / high) if high > 0 else floats
    else:
        scaled = (floats - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Alpha is scaled by its type's range (opaque = 1.0 or the integer maximum), not stretched."""
    if alpha.dtype == np.bool_:
        return alpha.astype(np.uint8) * 255
    if np.issubdtype(alpha.dtype, np.integer):
        scale = 255.0 / np.iinfo(alpha.dtype).max
    else:
        scale = 255.0
    floats = np.nan_to_num(alpha.astype(np.float64), nan=0.0, posinf=1.0 / scale, neginf=0.0)
    return np.clip(np.rint(floats * scale), 0, 255).astype(np.uint8)


def _from_array(array: np.ndarray, label: str, max_pixels: int | None) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]  # [H, W, 1] -> [H, W]
    if array.ndim == 3 and array.shape[-1] not in (3, 4) and array.shape[0] in (1, 3, 4):
        raise ImageLoadError(
            f"Cannot load image {label}: the shape looks channels-first [C, H, W], but images "
            "here are [H, W, C]. Try array.transpose(1, 2, 0)."
        )
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        raise ImageLoadError(
            f"Cannot load image {label}: expected a [H, W] grey image or an [H, W, 3] RGB "
            "or [H, W, 4] RGBA image. Check which axis holds what."
        )
    if array.size == 0:
        raise ImageLoadError(f"Cannot load image {label}: it has no pixels. Check how it was made.")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer)
            or np.issubdtype(array.dtype, np.floating)):
        raise ImageLoadError(
            f"Cannot load image {label}: expected bool, integer or float values. "
            "Convert it with array.astype(np.float32) or similar."
        )
    height, width = array.shape[:2]
    _check_pixels((width, height), label, max_pixels)
    if array.ndim == 3 and array.shape[-1] == 4:
        rgb = _rescale_to_uint8(array[..., :3])  # [H, W, 3]
        alpha = _alpha_to_uint8(array[..., 3:])  # [H, W, 1]
        pixels = np.concatenate([rgb, alpha], axis=-1)  # [H, W, 4]
    else:
        pixels = _rescale_to_uint8(array)
    image = Image.fromarray(np.ascontiguousarray(pixels))  # "L", "RGB" or "RGBA"
    return _to_rgb(image, label)


def _empty_error(label: str) -> ImageLoadError:
    return ImageLoadError(
        f"Cannot load image {label}: it is empty (0 bytes). It may not have finished "
        "downloading or uploading; get it again."
    )
