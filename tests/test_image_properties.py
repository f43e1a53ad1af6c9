"""Property tests: random sizes, modes, dtypes, truncations and containers thrown at
``load_image`` and ``encode_images`` give RGB images / unit embeddings of the right count, or a
documented error (``ImageLoadError``, ``TypeError``), never anything else.

Hypothesis draws the inputs (``hypothesis`` is in the test extras); the bundled tiny-shapes
model keeps each example cheap. About 20 s in all.
"""

import io
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import clipcourse as cc
from clipcourse.images import ImageLoadError

DOCUMENTED = (ImageLoadError, TypeError)
pytestmark = pytest.mark.filterwarnings("ignore::clipcourse.ImageSkipWarning")
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_MODEL = None
_FOLDER = Path(tempfile.mkdtemp(prefix="clipcourse-properties-"))
_COUNTER = itertools.count()


def _model():
    global _MODEL
    if _MODEL is None:
        _MODEL = cc.load_model("tiny-shapes", device="cpu")
    return _MODEL


# -- strategies -----------------------------------------------------------------------------------
sizes = st.one_of(
    st.tuples(st.integers(0, 48), st.integers(0, 48)),  # small, including 0
    st.tuples(st.integers(1, 3), st.integers(100, 5000)),  # very elongated
    st.tuples(st.integers(100, 5000), st.integers(1, 3)),
)
dtypes = st.sampled_from([np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16,
                          np.float32, np.float64, np.bool_, np.complex64, np.str_])


@st.composite
def arrays(draw):
    height, width = draw(sizes)
    channels = draw(st.sampled_from([None, 1, 2, 3, 4, 5]))
    shape = (height, width) if channels is None else (height, width, channels)
    if draw(st.booleans()) and height * width < 3000:
        shape = draw(st.sampled_from([(3, height, width), (2, 2, height, width), (height,)]))
    dtype = draw(dtypes)
    if dtype is np.str_:
        return np.full(shape, "x")
    n = int(np.prod(shape))
    if n > 20_000:  # keep generation cheap: a constant image
        return np.full(shape, draw(hnp.from_dtype(np.dtype(dtype), allow_nan=False)), dtype=dtype)
    return draw(hnp.arrays(dtype, shape))


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "La", "RGBa", "I", "F", "CMYK", "I;16", "YCbCr",
         "HSV", "LAB", "RGBX", "PA"]


@st.composite
def pil_images(draw):
    width, height = draw(sizes)
    mode = draw(st.sampled_from(MODES))
    try:
        image = Image.new(mode, (width, height))
    except ValueError:
        assume(False)
    if width * height and width * height < 4000:
        noise = np.random.default_rng(draw(st.integers(0, 9))).integers(
            0, 256, (height, width, 3), dtype=np.uint8)
        image.paste(Image.fromarray(noise).convert(image.mode), (0, 0))
    return image


FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM"]


@st.composite
def encoded_files(draw):
    """The bytes of an image file, maybe truncated or with bytes overwritten."""
    width, height = draw(st.tuples(st.integers(1, 40), st.integers(1, 40)))
    mode = draw(st.sampled_from(["RGB", "L", "RGBA", "P", "1"]))
    fmt = draw(st.sampled_from(FORMATS))
    image = Image.new(mode, (width, height), draw(st.integers(0, 255)))
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        assume(False)
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "overwrite", "empty"]))
    if damage == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif damage == "overwrite":
        at = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=16))
        data = data[:at] + junk + data[at + len(junk):]
    elif damage == "empty":
        data = b""
    return data


def _as_path(data: bytes) -> Path:
    path = _FOLDER / f"{next(_COUNTER)}.img"
    path.write_bytes(data)
    return path


sources = st.one_of(
    arrays(),
    pil_images(),
    encoded_files(),
    encoded_files().map(bytearray),
    encoded_files().map(memoryview),
    encoded_files().map(_as_path),
    encoded_files().map(lambda data: str(_as_path(data))),
    st.sampled_from([None, 3, 2.5, object(), torch.zeros(3, 8, 8)]),
)


# -- properties -------------------------------------------------------------------------------------
@SETTINGS
@given(source=sources)
def test_load_image_gives_rgb_or_a_documented_error(source):
    try:
        image = cc.load_image(source)
    except DOCUMENTED:
        return
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert image.width >= 1 and image.height >= 1
    if isinstance(source, np.ndarray):
        assert image.size == (source.shape[1], source.shape[0])
    if isinstance(source, Image.Image):
        assert image.size == source.size


def _container(draw, items):
    kind = draw(st.sampled_from(["list", "tuple", "single", "generator", "stack"]))
    if kind == "single" and len(items) == 1:
        return items[0], 1
    if kind == "stack" and items and all(isinstance(i, np.ndarray) for i in items):
        shapes = {i.shape for i in items}
        if len(shapes) == 1 and items[0].ndim == 3 and items[0].dtype != np.str_:
            return np.stack(items), len(items)  # [N, H, W, C]: N images
    if kind == "generator":
        return (item for item in items), len(items)
    return (tuple(items) if kind == "tuple" else list(items)), len(items)


@SETTINGS
@given(data=st.data(), errors=st.sampled_from(["raise", "skip"]),
       batch_size=st.integers(1, 4))
def test_encode_images_gives_unit_rows_of_the_right_count(data, errors, batch_size):
    model = _model()
    items = data.draw(st.lists(sources, min_size=0, max_size=5))
    container, n = _container(data.draw, items)
    try:
        result = model.encode_images(container, batch_size=batch_size, errors=errors)
    except DOCUMENTED as err:
        if errors == "skip":  # only the container itself may be refused, or an odd item type
            assert isinstance(err, TypeError), err
        return
    features = result.features if errors == "skip" else result
    assert features.dtype == torch.float32 and features.shape[1] == model.embed_dim
    assert torch.isfinite(features).all()
    if features.shape[0]:
        assert torch.allclose(features.norm(dim=-1), torch.ones(features.shape[0]), atol=1e-4)
    if errors == "raise":
        assert features.shape[0] == n
    else:
        assert len(result.indices) == features.shape[0]
        failed = [i for i, _, _ in result.failures]
        assert sorted(result.indices + failed) == list(range(n))
        assert all(reason for _, _, reason in result.failures)
