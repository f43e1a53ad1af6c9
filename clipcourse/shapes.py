"""A procedural shapes world: coloured shapes drawn on backgrounds, with alt-text captions.

The bundled ``tiny-shapes`` CLIP was trained on this world, and the lessons build controlled
experiments in it. Everything is deterministic given a seed; nothing here touches global random
state (each function makes its own ``numpy.random.Generator``).

* Vocabulary: ``COLOURS`` (6), ``SHAPES`` (4), ``STYLES`` (filled, outline, textured),
  ``BACKGROUNDS`` (plain, noisy, cluttered), and ``label(colour, shape)`` -> ``"red circle"``.
* World v2 (the bundled model's): ``LOOKS``, image-wide rendering styles (photo, sketch, blurry,
  pixelated, grainy, faded) that captions name some of the time in varied words ("a blurry
  photo of ...", "... out of focus", "pixel art of ..."), and ``SHAPE_SYNONYMS`` ("disc",
  "box", ...) that captions sometimes use. ``make_dataset(..., p_look=, p_variant=)`` switches
  them on (off by default); ``make_test_set(..., looks=LOOKS)`` draws a mixed-style test set.
* Controlled stimuli: describe objects with :class:`ShapeSpec` and draw them with
  :func:`draw_scene`; write a word onto an image with :func:`draw_text` (typographic attacks).
* Random scenes with captions: :func:`random_scene` and :func:`make_dataset`. Captions vary their
  phrasing the way alt-text does ("a photo of a red circle.", "two blue stars on a noisy
  background", "a green square to the left of a yellow triangle", ...). ``holdout`` colour ×
  shape pairs never appear in training data, so zero-shot transfer to unseen combinations can
  be measured; ``bias`` skews colours per shape (a spurious correlation for lesson 05).
* Labelled test sets: :func:`make_test_set` (one object, a colour × shape label),
  :func:`make_counting_set` and :func:`make_relation_set` (multiple-choice prompts).

Introduced in ``03_zero_shot_classification.ipynb`` (the world and its test sets) and
``06_train_your_own_clip.ipynb`` (captions and training data).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "COLOURS", "EXTRA_COLOURS", "SHAPES", "STYLES", "BACKGROUNDS", "LOOKS", "SHAPE_SYNONYMS",
    "NUMBER_WORDS", "HOLDOUT", "COLOUR_RGB",
    "ShapeSpec", "Scene", "ShapesDataset", "LabelledShapes", "ChoiceSet",
    "label", "all_labels", "draw_scene", "draw_text", "random_scene", "make_dataset",
    "make_test_set", "make_counting_set", "make_relation_set",
]

COLOURS = ("red", "green", "blue", "yellow", "orange", "purple")
#: More colours, not among the 24 test labels: ``make_dataset(..., extra_colours=EXTRA_COLOURS)``
#: dresses a quarter of the objects in them (the bundled model trained without them).
EXTRA_COLOURS = ("pink", "brown", "grey", "cyan")
SHAPES = ("circle", "square", "triangle", "star")
STYLES = ("filled", "outline", "textured")
BACKGROUNDS = ("plain", "noisy", "cluttered")
#: Image-wide rendering styles ("looks") of world v2, applied to the whole picture after drawing:
#: an ordinary sharp ``"photo"`` (today's drawings), a ``"sketch"`` (every object outlined), a
#: ``"blurry"`` photo, a ``"pixelated"`` (low-resolution) one, a ``"grainy"`` (noisy) one and a
#: ``"faded"`` (low-contrast, washed-out) one. Captions name the look some of the time, in varied
#: words, as alt-text does; ``templates.STYLE_TEMPLATES`` holds one prompt per look.
LOOKS = ("photo", "sketch", "blurry", "pixelated", "grainy", "faded")
#: Other names captions use for each shape (``make_dataset(..., p_variant=...)``): "a red disc".
SHAPE_SYNONYMS = {"circle": ("disc", "dot"), "square": ("box", "block"),
                  "triangle": ("wedge",), "star": ("starburst",)}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")

#: Colour × shape pairs kept out of training by default: one per shape, each a different colour.
HOLDOUT = (("blue", "circle"), ("orange", "square"), ("purple", "triangle"), ("green", "star"))

#: The canonical RGB of each colour (what :func:`draw_scene` uses unless a ShapeSpec sets ``rgb``).
COLOUR_RGB = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 20),
    "orange": (255, 140, 0),
    "purple": (135, 40, 170),
    "pink": (255, 150, 200),
    "brown": (130, 75, 30),
    "grey": (128, 128, 128),
    "cyan": (20, 210, 220),
}

# Random colours are drawn in HSV around each name: (hue range in degrees, saturation, value).
# The ranges cover other people's "red", "tab:blue", "purple" (#800080), "orange" (#FFA500)...
_HSV_RANGES = {
    "red": ((-8, 6), (0.7, 1.0), (0.65, 1.0)),
    "orange": ((20, 40), (0.8, 1.0), (0.85, 1.0)),
    "yellow": ((49, 62), (0.7, 1.0), (0.85, 1.0)),
    "green": ((95, 145), (0.55, 1.0), (0.45, 0.9)),
    "blue": ((200, 242), (0.6, 1.0), (0.55, 1.0)),
    "purple": ((268, 302), (0.4, 1.0), (0.45, 0.85)),
    "pink": ((320, 345), (0.25, 0.5), (0.9, 1.0)),
    "brown": ((18, 32), (0.6, 0.9), (0.3, 0.5)),
    "grey": ((0, 360), (0.0, 0.06), (0.4, 0.7)),
    "cyan": ((178, 192), (0.6, 1.0), (0.75, 1.0)),
}

_PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}


def label(colour: str, shape: str) -> str:
    """The class name of a colour × shape pair: ``label("red", "circle") == "red circle"``.

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    return f"{colour} {shape}"


def all_labels(pairs: Iterable[tuple[str, str]] | None = None) -> list[str]:
    """Class names of ``pairs`` (default: all 24 colour × shape pairs, colour-major order).

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    pairs = [(c, s) for c in COLOURS for s in SHAPES] if pairs is None else pairs
    return [label(c, s) for c, s in pairs]


@dataclass(frozen=True)
class ShapeSpec:
    """One object of a scene.

    Parameters
    ----------
    colour : str
        One of ``COLOURS``.
    shape : str
        One of ``SHAPES``.
    size : float
        Radius as a fraction of the image side (0.3 fills most of the image).
    position : (float, float)
        Centre ``(x, y)`` as fractions of the image side; ``y`` grows downwards.
    style : str
        ``"filled"``, ``"outline"`` or ``"textured"`` (shaded, photo-like, with a shadow).
    rotation : float
        Degrees, anticlockwise.
    rgb : (int, int, int), optional
        The exact colour; default ``COLOUR_RGB[colour]``.

    Examples
    --------
    >>> spec = ShapeSpec("red", "circle", size=0.2, position=(0.3, 0.5), style="outline")
    >>> spec.label
    'red circle'

    Introduced in ``03_zero_shot_classification.ipynb``.
    """

    colour: str
    shape: str
    size: float = 0.3
    position: tuple[float, float] = (0.5, 0.5)
    style: str = "filled"
    rotation: float = 0.0
    rgb: tuple[int, int, int] | None = None

    def __post_init__(self):
        if self.colour not in COLOUR_RGB:
            raise ValueError(f"Unknown colour {self.colour!r}; choose from "
                             f"{COLOURS + EXTRA_COLOURS}")
        if self.shape not in SHAPES:
            raise ValueError(f"Unknown shape {self.shape!r}; choose from {SHAPES}")
        if self.style not in STYLES:
            raise ValueError(f"Unknown style {self.style!r}; choose from {STYLES}")

    @property
    def label(self) -> str:
        """``"red circle"``."""
        return label(self.colour, self.shape)


@dataclass
class Scene:
    """A random scene: its objects, background, caption and what the caption states.

    Attributes
    ----------
    objects : list of ShapeSpec
    background : str
        One of ``BACKGROUNDS``.
    caption : str
        Alt-text-like description.
    kind : str
        What the caption states: ``"single"``, ``"count"``, ``"list"``, ``"relation"``,
        ``"partial"`` (colours or shapes only), ``"greyscale"`` or ``"text"`` (an image of
        written words, captioned with what it says).
    key : tuple
        The caption's content, phrasing aside: two captions with equal keys say the same thing
        (training counts such pairs as positives).
    seed : int
        Seed of the pixels (noise, clutter, texture): ``draw_scene(objects, background, seed)``.
    greyscale : bool
        A black-and-white photo: the caption names shapes but no colours.
    text : tuple, optional
        ``(words, (x, y), height, ink, paper)``: words written on a blank image (a ``"text"``
        scene; ``ink`` and ``paper`` are RGB).
    look : str
        One of ``LOOKS``: how the whole image is rendered (default ``"photo"``).
    """

    objects: list
    background: str
    caption: str
    kind: str
    key: tuple
    seed: int
    greyscale: bool = False
    text: tuple | None = None
    look: str = "photo"

    def draw(self, image_size: int = 64) -> Image.Image:
        """Render this scene (same pixels every time)."""
        if self.text is not None:
            words, position, height, ink, paper = self.text
            return draw_text(Image.new("RGB", (image_size, image_size), paper), words,
                             position=position, height=height, colour=ink, box=None)
        return draw_scene(self.objects, background=self.background, image_size=image_size,
                          seed=self.seed, greyscale=self.greyscale, look=self.look)


@dataclass
class _ImageSet:
    """A list of images with facts about each (the fields of a subclass); ``len`` counts them."""

    images: list

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class ShapesDataset(_ImageSet):
    """What :func:`make_dataset` returns: ``images[i]`` is described by ``captions[i]``."""

    captions: list
    scenes: list


@dataclass
class LabelledShapes(_ImageSet):
    """What :func:`make_test_set` returns: single-object images with their class names.

    ``looks[i]`` is the rendering style (one of ``LOOKS``) of ``images[i]``.
    """

    labels: list
    objects: list
    looks: list | None = None

    def __post_init__(self):
        if self.looks is None:
            self.looks = ["photo"] * len(self.images)


@dataclass
class ChoiceSet(_ImageSet):
    """A multiple-choice test: ``prompts[i][answers[i]]`` is the true caption of ``images[i]``."""

    prompts: list
    answers: list


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------
_SUPERSAMPLE = 2  # draw at 2x, then shrink: smooth edges like other renderers


def _polygon(shape: str, cx: float, cy: float, r: float, rotation: float,
             star_ratio: float = 0.45) -> list[tuple[float, float]]:
    """Vertices of a square, triangle or star of circumradius ``r`` around ``(cx, cy)``."""
    if shape == "square":
        angles = [45 + 90 * k for k in range(4)]
        radii = [r * math.sqrt(2) * 0.8] * 4  # side 1.6 r: about the area of the circle
    elif shape == "triangle":
        angles = [90 + 120 * k for k in range(3)]
        radii = [r * 1.15] * 3
    elif shape == "star":
        angles = [90 + 36 * k for k in range(10)]
        radii = [r * 1.1 if k % 2 == 0 else r * 1.1 * star_ratio for k in range(10)]
    else:
        raise ValueError(f"{shape!r} is not a polygon")
    points = []
    for angle, radius in zip(angles, radii):
        a = math.radians(angle + rotation)
        points.append((cx + radius * math.cos(a), cy - radius * math.sin(a)))
    return points


def _shape_mask(obj: ShapeSpec, side: int, outline_width: float, star_ratio: float) -> Image.Image:
    """An ``L`` mask (255 inside) of ``obj`` on a ``side`` x ``side`` canvas."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = obj.position[0] * side, obj.position[1] * side
    r = obj.size * side
    width = max(1, round(outline_width)) if obj.style == "outline" else 0
    if obj.shape == "circle":
        box = [cx - r, cy - r, cx + r, cy + r]
        if width:
            draw.ellipse(box, outline=255, width=width)
        else:
            draw.ellipse(box, fill=255)
    else:
        points = _polygon(obj.shape, cx, cy, r, obj.rotation, star_ratio)
        if width:
            draw.line(points + points[:1], fill=255, width=width, joint="curve")
        else:
            draw.polygon(points, fill=255)
    return mask


def _background(kind: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """A ``[side, side, 3]`` float32 background in 0..255 (supersampled canvas)."""
    u = rng.random()
    if u < 0.7:  # light: white, paper, pale tints
        hsv = (rng.random(), rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0))
    elif u < 0.85:  # dark
        hsv = (rng.random(), rng.uniform(0.0, 0.2), rng.uniform(0.05, 0.25))
    else:  # mid grey
        hsv = (rng.random(), rng.uniform(0.0, 0.1), rng.uniform(0.45, 0.7))
    base = np.array(colorsys.hsv_to_rgb(*hsv), dtype=np.float32) * 255
    canvas = np.empty((side, side, 3), dtype=np.float32)
    canvas[:] = base
    if kind == "plain":
        return canvas
    if kind == "noisy":  # smooth blotches; fine grain is added after shrinking
        coarse = rng.normal(0, rng.uniform(8, 25), (8, 8, 1)).astype(np.float32)
        blotches = np.asarray(Image.fromarray(coarse[..., 0]).resize((side, side), Image.BICUBIC))
        return canvas + blotches[..., None]
    if kind == "cluttered":  # faint grey lines, rings and a gradient: clutter without colour
        y = np.linspace(-1, 1, side, dtype=np.float32)[:, None]
        x = np.linspace(-1, 1, side, dtype=np.float32)[None, :]
        angle = rng.uniform(0, 2 * math.pi)
        canvas += (rng.uniform(10, 35) * (math.cos(angle) * x + math.sin(angle) * y))[..., None]
        img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        light = hsv[2] > 0.5
        for _ in range(int(rng.integers(4, 10))):
            grey = int(rng.uniform(90, 190) if light else rng.uniform(60, 140))
            x0, y0, x1, y1 = (rng.uniform(0, side, 4)).tolist()
            width = int(rng.integers(1, max(2, side // 40)))
            if rng.random() < 0.6:
                draw.line([x0, y0, x1, y1], fill=(grey,) * 3, width=width)
            else:
                r = rng.uniform(side / 30, side / 8)
                draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], outline=(grey,) * 3, width=width)
        return np.asarray(img, dtype=np.float32)
    raise ValueError(f"Unknown background {kind!r}; choose from {BACKGROUNDS}")


def _colour_layer(obj: ShapeSpec, side: int, box: tuple[int, int, int, int],
                  rng: np.random.Generator) -> np.ndarray:
    """The fill of ``obj`` inside ``box``: flat, or shaded like a lit object (textured style)."""
    rgb = np.array(obj.rgb if obj.rgb is not None else COLOUR_RGB[obj.colour], dtype=np.float32)
    if obj.style != "textured":
        return rgb  # broadcasts
    x0, y0, x1, y1 = box
    y = (np.arange(y0, y1, dtype=np.float32) / side)[:, None]
    x = (np.arange(x0, x1, dtype=np.float32) / side)[None, :]
    lx, ly = obj.position[0] - obj.size * 0.4, obj.position[1] - obj.size * 0.4  # light spot
    dist = np.sqrt((x - lx) ** 2 + (y - ly) ** 2) / max(obj.size * 2, 1e-3)
    shade = np.clip(1.15 - 0.45 * dist, 0.65, 1.15)[..., None]  # [h, w, 1]
    grain = rng.normal(0, 6, ((y1 - y0) // _SUPERSAMPLE + 1, (x1 - x0) // _SUPERSAMPLE + 1))
    grain = np.repeat(np.repeat(grain.astype(np.float32), _SUPERSAMPLE, 0), _SUPERSAMPLE, 1)
    highlight = np.clip(1 - dist * 4, 0, 1)[..., None] * 60  # a soft specular spot
    return rgb * shade + grain[: y1 - y0, : x1 - x0, None] + highlight


def _box(obj: ShapeSpec, side: int, pad: int) -> tuple[int, int, int, int]:
    """Pixel bounding box of ``obj`` (plus ``pad``), clipped to the canvas."""
    cx, cy, r = obj.position[0] * side, obj.position[1] * side, obj.size * side * 1.2 + pad
    return (max(0, int(cx - r)), max(0, int(cy - r)),
            min(side, int(math.ceil(cx + r)) + 1), min(side, int(math.ceil(cy + r)) + 1))


def draw_scene(objects: Sequence[ShapeSpec], background: str = "plain", *, image_size: int = 64,
               seed: int = 0, text: str | None = None, greyscale: bool = False,
               look: str = "photo") -> Image.Image:
    """Draw ``objects`` (in order, later ones on top) on a background.

    Parameters
    ----------
    objects : sequence of ShapeSpec
        What to draw; may be empty (a background only).
    background : str
        ``"plain"`` (a light, dark or grey colour), ``"noisy"`` or ``"cluttered"`` (faint grey
        lines and rings).
    image_size : int
        Side of the square RGB image in pixels (the bundled model reads 64).
    seed : int
        Seeds the background colour, noise, clutter and textures: same arguments, same pixels.
    text : str, optional
        A word written across the image (see :func:`draw_text`).
    greyscale : bool
        Render a black-and-white photo (still an RGB image).
    look : str
        One of ``LOOKS``, the style of the whole image: ``"photo"`` (default, as drawn),
        ``"sketch"`` (every object drawn as an outline), ``"blurry"`` (a Gaussian blur of 1 to
        2 pixels at 64 px), ``"pixelated"`` (blocks of 2.5 to 4 pixels), ``"grainy"`` (strong
        pixel noise, 20 to 35 grey levels) or ``"faded"`` (contrast cut to 0.3 to 0.5, washed
        out).

    Returns
    -------
    PIL.Image.Image

    Examples
    --------
    >>> image = draw_scene([ShapeSpec("red", "circle", position=(0.3, 0.5), size=0.15),
    ...                     ShapeSpec("blue", "square", position=(0.7, 0.5), size=0.15)])
    >>> image.size
    (64, 64)

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    if look not in LOOKS:
        raise ValueError(f"Unknown look {look!r}; choose from {LOOKS}")
    if look == "sketch":
        objects = [replace(obj, style="outline") for obj in objects]
    rng = np.random.default_rng(seed)
    side = image_size * _SUPERSAMPLE
    canvas = _background(background, side, rng)  # [side, side, 3]
    for obj in objects:
        outline_width = rng.uniform(0.035, 0.07) * side * max(obj.size, 0.1) / 0.3
        star_ratio = rng.uniform(0.38, 0.52)
        mask = _shape_mask(obj, side, outline_width, star_ratio)
        offset = max(1, int(obj.size * side * 0.12))
        x0, y0, x1, y1 = box = _box(obj, side, pad=3 * offset)  # work only where the object is
        region = canvas[y0:y1, x0:x1]  # a view: writing to it draws on the canvas
        if obj.style == "textured":  # a soft shadow below-right, as under a lit object
            shadow = Image.new("L", (side, side), 0)
            shadow.paste(mask, (offset, offset))
            shadow = shadow.crop(box).filter(ImageFilter.BoxBlur(offset))
            region *= 1 - np.asarray(shadow, dtype=np.float32)[..., None] * (0.45 / 255)
        alpha = np.asarray(mask.crop(box), dtype=np.float32)[..., None] / 255  # [h, w, 1]
        region *= 1 - alpha
        region += _colour_layer(obj, side, box, rng) * alpha
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    image = image.resize((image_size, image_size), Image.BOX)
    if background == "noisy":
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels + rng.normal(0, rng.uniform(6, 20), pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if look not in ("photo", "sketch"):
        image = _apply_look(image, look, rng)
    if greyscale:
        image = image.convert("L").convert("RGB")
    if text is not None:
        image = draw_text(image, text)
    return image


def _apply_look(image: Image.Image, look: str, rng: np.random.Generator) -> Image.Image:
    """Blur, pixelate, add grain to or fade a finished image (sizes scale with its side)."""
    side = image.size[0]
    scale = side / 64
    if look == "blurry":
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.0) * scale))
    if look == "pixelated":
        block = rng.uniform(2.5, 4) * scale
        small = max(2, round(side / block))
        return image.resize((small, small), Image.BOX).resize((side, side), Image.NEAREST)
    pixels = np.asarray(image, dtype=np.float32)  # [side, side, 3]
    if look == "grainy":
        sigma = rng.uniform(20, 35)
        grain = rng.normal(0, sigma, (side, side, 1)) + rng.normal(0, sigma / 3, pixels.shape)
        pixels = pixels + grain
    elif look == "faded":
        contrast = rng.uniform(0.3, 0.5)
        haze = rng.uniform(150, 225)
        pixels = haze + contrast * (pixels - haze)
    else:
        raise ValueError(f"Unknown look {look!r}; choose from {LOOKS}")
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def draw_text(image: Image.Image, text: str, *, position: tuple[float, float] = (0.5, 0.85),
              height: float = 0.2, colour: tuple[int, int, int] = (0, 0, 0),
              box: tuple[int, int, int] | None = (255, 255, 255)) -> Image.Image:
    """Write ``text`` onto a copy of ``image``: a typographic attack in the shapes world.

    Parameters
    ----------
    image : PIL.Image.Image
    text : str
        E.g. ``"blue"`` written onto a red circle.
    position : (float, float)
        Centre of the text as fractions of the image side.
    height : float
        Text height as a fraction of the image side.
    colour : RGB
        Text colour.
    box : RGB or None
        A label box behind the text (default white, like a sticky label); ``None`` for none.

    Examples
    --------
    >>> attacked = draw_text(draw_scene([ShapeSpec("red", "circle")]), "blue")
    >>> attacked.size
    (64, 64)

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    image = image.convert("RGB").copy()
    side = image.size[0]
    font = ImageFont.load_default(size=max(6, round(height * side)))
    draw = ImageDraw.Draw(image)
    cx, cy = position[0] * image.size[0], position[1] * image.size[1]
    left, top, right, bottom = draw.textbbox((cx, cy), text, font=font, anchor="mm")
    if box is not None:
        pad = max(1, side // 64)
        draw.rectangle([left - pad, top - pad, right + pad, bottom + pad], fill=box)
    draw.text((cx, cy), text, fill=colour, font=font, anchor="mm")
    return image


# ---------------------------------------------------------------------------------------------
# Random scenes and their captions
# ---------------------------------------------------------------------------------------------
def _random_rgb(colour: str, rng: np.random.Generator) -> tuple[int, int, int]:
    (h0, h1), (s0, s1), (v0, v1) = _HSV_RANGES[colour]
    hue = (rng.uniform(h0, h1) % 360) / 360
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(s0, s1), rng.uniform(v0, v1))
    return (round(r * 255), round(g * 255), round(b * 255))


def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def _random_pair(rng: np.random.Generator, holdout: set, bias: Mapping | None,
                 extra_colours: Sequence[str] = ()) -> tuple[str, str]:
    """A (colour, shape) pair not in ``holdout``; ``bias`` skews colour given shape.

    A quarter of the colours come from ``extra_colours`` when there are any.
    """
    while True:
        shape = _pick(rng, SHAPES)
        skew = (bias or {}).get(shape)
        if skew and rng.random() < skew[1]:
            colour = skew[0]
        elif extra_colours and rng.random() < 0.25:
            colour = _pick(rng, extra_colours)
        else:
            colour = _pick(rng, COLOURS)
        if (colour, shape) not in holdout:
            return colour, shape


def _random_object(rng: np.random.Generator, colour: str, shape: str, size_range,
                   styles: Sequence[str] = STYLES) -> ShapeSpec:
    style = _pick(rng, styles) if rng.random() < 0.6 else styles[0]  # 60% any, else the first
    rotation = rng.normal(0, 12) if rng.random() < 0.7 else rng.uniform(0, 360)
    if shape == "circle":
        rotation = 0.0
    return ShapeSpec(colour, shape, size=float(rng.uniform(*size_range)), position=(0.5, 0.5),
                     style=style, rotation=float(rotation), rgb=_random_rgb(colour, rng))


def _place(objects: list[ShapeSpec], rng: np.random.Generator, tries: int = 50
           ) -> list[ShapeSpec] | None:
    """Random non-overlapping positions inside the image, or None if they do not fit."""
    placed: list[ShapeSpec] = []
    for obj in objects:
        for _ in range(tries):
            margin = obj.size * 1.05
            x, y = rng.uniform(margin, 1 - margin, 2)
            if all((x - o.position[0]) ** 2 + (y - o.position[1]) ** 2
                   > (0.9 * (obj.size + o.size)) ** 2 for o in placed):
                placed.append(replace(obj, position=(float(x), float(y))))
                break
        else:
            return None
    return placed


def _place_side_by_side(objects: list[ShapeSpec], rng: np.random.Generator) -> list[ShapeSpec]:
    """Two objects apart along x (or, one time in three, along y), in random order."""
    a, b = objects
    shrink = min(1.0, 0.36 / (a.size + b.size))  # make room for a clear gap
    a, b = replace(a, size=a.size * shrink), replace(b, size=b.size * shrink)
    if rng.random() < 0.5:
        a, b = b, a  # which one comes first
    slack = 0.88 - 2 * (a.size + b.size)  # free room along the axis
    extra = rng.uniform(0, slack)
    first = 0.04 + a.size + rng.uniform(0, slack - extra)
    along = [first, first + a.size + b.size + 0.04 + extra]
    across = rng.uniform(0.3, 0.7) + rng.normal(0, 0.03, 2)
    horizontal = rng.random() < 2 / 3
    positions = list(zip(along, across)) if horizontal else list(zip(across, along))
    return [replace(o, position=(float(x), float(y))) for o, (x, y) in zip((a, b), positions)]


def _relation(a: ShapeSpec, b: ShapeSpec) -> str | None:
    """``"left of"``/``"right of"``/``"above"``/``"below"`` (a relative to b) when it is clear."""
    dx = a.position[0] - b.position[0]
    dy = a.position[1] - b.position[1]
    if abs(dx) > 2 * abs(dy) and abs(dx) > 0.15:
        return "left of" if dx < 0 else "right of"
    if abs(dy) > 2 * abs(dx) and abs(dy) > 0.15:
        return "above" if dy < 0 else "below"
    return None


_OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}

_SINGLE_TEMPLATES = (
    # (weight, template); {np} = "a red circle", {c} colour, {s} shape, {bg} background words.
    # None is a bare label ("red circle"): alt-text seldom is one, so in this world, as on the
    # web, a bare class name is an unusual caption and a template reads more like the training
    # data (lesson 04 measures what that is worth).
    (6, "a photo of {np}."), (3, "a photo of {np}"), (3, "photo of {np}"),
    (3, "a picture of {np}."), (3, "an image of {np}"), (3, "a drawing of {np}."),
    (2, "{np} on {bg} background"), (2, "{Np} on {bg} background."), (2, "{np} {where}."),
    (2, "there is {np} {where}"), (2, "this is {np}."), (2, "a simple {c} {s} icon"),
    (2, "clip art of {np}"), (2, "clip art: {np}"),
    (2, "an illustration of {np} on {bg} background"),
    (2, "a {size} {c} {s}."), (2, "a photo of a {size} {c} {s}"), (2, "{Np}, {stylewords}."),
    (2, "{np}, {stylewords}, on {bg} background"), (2, "a {s} that is {c}"),
    (2, "a {s} coloured {c}."), (2, "a {c}-coloured {s}"), (2, "a {c} shape: a {s}."),
    (2, "one {c} {s}"), (2, "a single {c} {s} {where}"), (1, "just {np}."),
    (1, "the {c} {s}."), (1, "a close-up of {np}."), (1, "a {s} in {c}."), (1, "{Np}."),
    (1, "a nice {c} {s}"), (1, "my {c} {s}"), (1, "image: {np}"), (1, "a {c} {s} shape."),
)

_STYLE_WORDS = {
    "filled": ("filled", "solid", "flat colour", "flat"),
    "outline": ("outline", "outlined", "line drawing", "just the outline"),
    "textured": ("shaded", "3d look", "with a shadow", "photo-like"),
}


# How alt-text names each look; {np} is the noun phrase ("a red circle", "two blue stars").
_LOOK_CAPTIONS = {
    "sketch": ("a sketch of {np}.", "a line drawing of {np}", "an outline of {np}.",
               "a doodle of {np}", "{Np}, sketched", "a pencil sketch of {np}",
               "a quick sketch of {np} on {bg} background", "outline drawing: {np}"),
    "blurry": ("a blurry photo of {np}.", "a blurred image of {np}",
               "an out of focus photo of {np}",
               "{Np}, blurry", "a fuzzy picture of {np}.", "a blurry picture of {np}",
               "{np}, out of focus", "a soft, blurred shot of {np}"),
    "pixelated": ("a pixelated photo of {np}.", "a low resolution photo of {np}",
                  "a pixelated image of {np}", "{Np} in pixel art", "{np}, pixelated",
                  "a blocky low-res picture of {np}.", "a low-res image of {np}",
                  "pixel art of {np}"),
    "grainy": ("a grainy photo of {np}.", "a noisy photo of {np}", "a grainy image of {np}",
               "{Np}, grainy", "a photo of {np} full of grain", "a noisy, speckled picture of {np}",
               "{np} in a grainy shot", "a grainy picture of {np}."),
    "faded": ("a faded photo of {np}.", "a low contrast photo of {np}",
              "a washed out picture of {np}",
              "{Np}, faded", "a pale, low-contrast image of {np}.", "a faded picture of {np}",
              "a washed-out photo of {np}", "{np} in faded colours"),
}


def _shape_word(shape: str, rng: np.random.Generator, p_variant: float) -> str:
    """The shape's name, or with probability ``p_variant`` one of its ``SHAPE_SYNONYMS``."""
    if p_variant and rng.random() < p_variant:
        return _pick(rng, SHAPE_SYNONYMS[shape])
    return shape


def _single_np(obj: ShapeSpec, rng: np.random.Generator, p_variant: float) -> str:
    """A noun phrase for one object: "a red circle", often reworded ("a circle that is red")."""
    word = _shape_word(obj.shape, rng, p_variant)
    if rng.random() < 0.7:
        return _np(obj.colour, word, 1, rng)
    return _pick(rng, ("a {s} that is {c}", "a {c}-coloured {s}", "a {s} coloured {c}",
                       "a {c} {s} shape", "one {c} {s}")).format(c=obj.colour, s=word)


def _look_caption(objects: list[ShapeSpec], look: str, background: str,
                  rng: np.random.Generator, p_variant: float) -> tuple[str, str, tuple]:
    """``(caption, kind, key)`` naming the image's look: "a blurry photo of a red circle."."""
    groups: dict[tuple[str, str], int] = {}
    for obj in objects:
        groups[(obj.colour, obj.shape)] = groups.get((obj.colour, obj.shape), 0) + 1
    content = tuple(sorted((c, s, n) for (c, s), n in groups.items()))
    if len(objects) == 1:
        phrase, kind = _single_np(objects[0], rng, p_variant), "single"
    else:
        order = list(groups)
        rng.shuffle(order)
        phrase = _join([_np(c, s, groups[(c, s)], rng) for c, s in order])
        kind = "count" if any(n > 1 for n in groups.values()) else "list"
    text = _pick(rng, _LOOK_CAPTIONS[look]).format(np=phrase, Np=phrase[0].upper() + phrase[1:],
                                                    bg=_bg_words(background, rng))
    return text, kind, ("objects", content, look)


def _bg_words(background: str, rng: np.random.Generator) -> str:
    return _pick(rng, {
        "plain": ("a plain", "a simple", "a blank", "a plain", "a clean"),
        "noisy": ("a noisy", "a grainy", "a speckled", "a noisy"),
        "cluttered": ("a cluttered", "a busy", "a messy", "a scribbled"),
    }[background])


def _where(obj: ShapeSpec, rng: np.random.Generator) -> str:
    x, y = obj.position
    col = "left" if x < 0.38 else "right" if x > 0.62 else ""
    row = "top" if y < 0.38 else "bottom" if y > 0.62 else ""
    if col and row:
        return f"in the {row} {col}" + _pick(rng, ("", " corner", " of the image"))
    if col:
        return f"on the {col}" + _pick(rng, ("", " side", " of the image"))
    if row:
        return f"at the {row}" + _pick(rng, ("", " of the image", " of the picture"))
    return _pick(rng, ("in the middle", "in the centre", "in the center of the image"))


def _size_word(obj: ShapeSpec) -> str:
    return "small" if obj.size < 0.16 else "large" if obj.size > 0.3 else "medium-sized"


def _np(colour: str, shape: str, count: int, rng: np.random.Generator, exact: bool = True) -> str:
    """Noun phrase: "a red circle", "two blue stars", "three yellow triangles"."""
    if count == 1:
        return f"{'an' if colour[0] in 'aeiou' else 'a'} {colour} {shape}"
    number = NUMBER_WORDS[count] if exact else _pick(rng, ("some", "several", "a few"))
    if count == 2 and exact and rng.random() < 0.15:
        number = "a pair of"
    return f"{number} {colour} {_PLURALS[shape]}"


def _join(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _wrap(phrase: str, background: str, rng: np.random.Generator) -> str:
    """Frame a multi-object phrase the varied ways alt-text does."""
    u = rng.random()
    if u < 0.2:
        return f"a photo of {phrase}."
    if u < 0.3:
        return f"a drawing of {phrase}"
    if u < 0.4:
        return f"{phrase} on {_bg_words(background, rng)} background"
    if u < 0.5:
        return f"an image with {phrase}."
    if u < 0.55:
        verb = "is" if phrase.startswith(("a ", "an ")) else "are"
        return f"there {verb} {phrase}"
    if u < 0.6:
        return f"a picture showing {phrase}"
    return phrase + ("." if rng.random() < 0.3 else "")


def _caption(objects: list[ShapeSpec], background: str, rng: np.random.Generator,
             p_variant: float = 0.0, photo_weight: float = 1.0) -> tuple[str, str, tuple]:
    """``(caption, kind, key)`` for a scene (see :class:`Scene`)."""
    groups: dict[tuple[str, str], int] = {}
    for obj in objects:
        groups[(obj.colour, obj.shape)] = groups.get((obj.colour, obj.shape), 0) + 1
    content = tuple(sorted((c, s, n) for (c, s), n in groups.items()))
    u = rng.random()
    if len(objects) == 1 and 0.88 <= u < 0.94:  # say only the shape, or only the colour
        obj = objects[0]
        if rng.random() < 0.6:
            text = _pick(rng, ("a {}.", "a photo of a {}", "a {} shape", "just a {}"))
            return text.format(obj.shape), "partial", ("shapes", ((obj.shape, 1),))
        text = _pick(rng, ("a {} shape", "something {}", "a {} thing.", "a photo of something {}"))
        return text.format(obj.colour), "partial", ("colours", (obj.colour,))
    if len(objects) == 1 and u < 0.88:
        obj = objects[0]
        word = _shape_word(obj.shape, rng, p_variant)  # "circle", or "disc" now and then
        np_ = _np(obj.colour, word, 1, rng)
        weights, templates = zip(*_SINGLE_TEMPLATES)
        p = np.array(weights, dtype=float)
        if photo_weight != 1.0:  # make "a photo of ..." rarer (or commoner) among phrasings
            p *= np.array([photo_weight if "photo of" in t else 1.0 for t in templates])
        template = templates[int(rng.choice(len(templates), p=p / p.sum()))]
        text = template.format(np=np_, Np=np_[0].upper() + np_[1:], c=obj.colour, s=word,
                               bg=_bg_words(background, rng), where=_where(obj, rng),
                               size=_size_word(obj), stylewords=_pick(rng, _STYLE_WORDS[obj.style]))
        return text, "single", ("objects", content)
    u = rng.random()
    if len(objects) == 2 and u < 0.75:
        a, b = objects
        rel = _relation(a, b) if a.label != b.label else None
        if rel is not None:
            if rng.random() < 0.5:  # say it either way round
                a, b, rel = b, a, _OPPOSITE[rel]
            rel_words = {"left of": ("to the left of", "left of", "on the left of"),
                         "right of": ("to the right of", "right of", "on the right of"),
                         "above": ("above", "over", "on top of"),
                         "below": ("below", "under", "beneath")}[rel]
            phrase = f"{_np(a.colour, a.shape, 1, rng)} {_pick(rng, rel_words)} " \
                     f"{_np(b.colour, b.shape, 1, rng)}"
            canon = (a.label, rel, b.label) if rel in ("left of", "above") else \
                (b.label, _OPPOSITE[rel], a.label)
            return _wrap(phrase, background, rng), "relation", ("relation", canon)
    if u > 0.9:  # partial: colours only or shapes only
        if rng.random() < 0.5:
            colours = sorted({o.colour for o in objects})
            text = _pick(rng, ("{} shapes", "some {} shapes", "shapes in {}", "{} things"))
            return text.format(_join(colours)), "partial", ("colours", tuple(colours))
        counts = {s: sum(o.shape == s for o in objects) for s in sorted({o.shape for o in objects})}
        phrase = _join([f"{NUMBER_WORDS[n]} {_PLURALS[s]}" if n > 1 else f"a {s}"
                        for s, n in counts.items()])
        return _wrap(phrase, background, rng), "partial", ("shapes", tuple(sorted(counts.items())))
    exact = rng.random() < 0.85
    order = list(groups)
    rng.shuffle(order)
    phrase = _join([_np(c, s, groups[(c, s)], rng, exact) for c, s in order])
    kind = "count" if any(n > 1 for n in groups.values()) else "list"
    key = ("objects", content) if exact else ("vague", tuple(sorted(groups)))
    return _wrap(phrase, background, rng), kind, key


def _grey_caption(objects: list[ShapeSpec], rng: np.random.Generator) -> tuple[str, tuple]:
    """Caption of a black-and-white photo: shapes and counts, no colours."""
    counts = {s: sum(o.shape == s for o in objects) for s in sorted({o.shape for o in objects})}
    phrase = _join([f"{NUMBER_WORDS[n]} {_PLURALS[s]}" if n > 1 else f"a {s}"
                    for s, n in counts.items()])
    text = _pick(rng, ("a black and white photo of {}.", "a grayscale photo of {}",
                       "{}, black and white", "a black and white picture of {}",
                       "a photo of {} in black and white."))
    return text.format(phrase), ("grey", tuple(counts.items()))


_TEXT_CAPTIONS = ("a sign that says {}", "text: {}", "a label reading {}", "{} written on paper",
                  "the text {}.")


def _text_scene(rng: np.random.Generator, holdout: set) -> Scene:
    """Written words and nothing else, captioned with what they say (alt-text of a sign)."""
    u = rng.random()
    if u < 0.5:
        pairs = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in holdout]
        words = label(*_pick(rng, pairs))
    else:
        words = _pick(rng, COLOURS) if u < 0.75 else _pick(rng, SHAPES)
    dark = rng.random() < 0.2  # light letters on a dark background, or the other way round
    value = rng.uniform(0.05, 0.25) if dark else rng.uniform(0.85, 1.0)
    paper = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0, 0.15), value)
    if rng.random() < 0.7:  # plain ink; otherwise a coloured marker (the letters' colour lies)
        grey = rng.uniform(0.85, 1.0) if dark else rng.uniform(0.0, 0.3)
        ink = colorsys.hsv_to_rgb(0, 0, grey)
    else:
        ink = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 0.9))
    height = rng.uniform(0.16, 0.3)
    while height > 0.1:  # long words get smaller letters (measured at 64 px)
        width = ImageFont.load_default(size=round(64 * height)).getlength(words) / 64
        if width <= 0.9:
            break
        height *= 0.9
    half_w, half_h = width / 2, height * 0.6
    position = (rng.uniform(0.03 + half_w, 0.97 - half_w), rng.uniform(half_h, 1 - half_h))
    caption = words if rng.random() < 0.6 else _pick(rng, _TEXT_CAPTIONS).format(words)
    return Scene(objects=[], background="plain", caption=caption, kind="text",
                 key=("text", words), seed=int(rng.integers(2**31)),
                 text=(words, tuple(float(v) for v in position), float(height),
                       tuple(round(255 * c) for c in ink), tuple(round(255 * c) for c in paper)))


def random_scene(rng: np.random.Generator | int, *, holdout: Iterable[tuple[str, str]] = HOLDOUT,
                 bias: Mapping[str, tuple[str, float]] | None = None, max_objects: int = 4,
                 p_single: float = 0.5, styles: Sequence[str] = STYLES,
                 backgrounds: Sequence[str] = BACKGROUNDS,
                 extra_colours: Sequence[str] = (), p_greyscale: float = 0.0,
                 p_text: float = 0.0, looks: Sequence[str] = LOOKS, p_look: float = 0.0,
                 p_look_caption: float = 0.6, p_variant: float = 0.0,
                 photo_weight: float = 1.0, drawing_looks: Sequence[str] = ()) -> Scene:
    """A random scene with its caption.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Where the randomness comes from (an int seeds a fresh generator).
    holdout : iterable of (colour, shape)
        Pairs that never appear (default ``HOLDOUT``); ``()`` to allow all 24.
    bias : dict, optional
        ``{shape: (colour, p)}``: with probability ``p`` an object of that shape gets that
        colour, e.g. ``{"triangle": ("red", 0.8)}`` makes most triangles red.
    max_objects : int
        Scenes hold 1 to ``max_objects`` objects.
    p_single : float
        Share of one-object scenes.
    styles, backgrounds : sequences of str
        The drawing styles and backgrounds to choose from (the first of each is the most
        common: 40% of objects are drawn in ``styles[0]``, 40% of scenes on ``backgrounds[0]``,
        the rest evenly).
    extra_colours : sequence of str
        Colours beyond ``COLOURS`` that a quarter of the objects wear, e.g.
        ``EXTRA_COLOURS`` (default none).
    p_greyscale : float
        Share of black-and-white photos, captioned with shapes but no colours (default 0).
    p_text : float
        Share of images of written words ("red circle" on a sign), captioned with what they
        say, often the bare words, as alt-text of a sign or a logo is (default 0). A model
        trained on them learns to read a little, like real CLIP.
    looks : sequence of str
        World v2: the image-wide rendering styles (``LOOKS``) a scene may take besides
        ``"photo"`` (default all of them; only used when ``p_look > 0``).
    p_look : float
        Share of scenes drawn in one of ``looks`` other than ``"photo"``, chosen evenly
        (default 0: every scene is an ordinary photo, as in world v1).
    p_look_caption : float
        Share of those scenes whose caption names the look, in one of several phrasings
        ("a blurry photo of a red circle.", "a red circle, out of focus", "pixel art of ...");
        the others get an ordinary caption, as alt-text often ignores blur or grain (default 0.6).
    p_variant : float
        Share of single-object captions that call the shape by another name from
        ``SHAPE_SYNONYMS`` ("a red disc", "a blue box"); default 0.
    photo_weight : float
        Relative weight of the "a photo of ..." phrasings among single-object captions
        (default 1). Below 1, "a photo of a {}." becomes one phrasing among many instead of the
        most common one, as on the web, so no single template is the best-trained one.
    drawing_looks : sequence of str
        Looks that are drawings, not photos (e.g. ``("sketch",)``): their ordinary captions
        never use the "a photo of ..." phrasings, as nobody calls a pencil sketch a photo.
        Default none.

    Returns
    -------
    Scene
        Draw it with ``scene.draw()``.

    Examples
    --------
    >>> scene = random_scene(0)
    >>> scene.caption  # doctest: +SKIP
    'a photo of a red square.'

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    unknown = [name for name in (*looks, *drawing_looks) if name not in LOOKS]
    if unknown:  # checked up front, not only when the dice pick it
        raise ValueError(f"Unknown look {unknown[0]!r}; choose from {LOOKS}")
    holdout = set(map(tuple, holdout))
    if p_text and rng.random() < p_text:
        return _text_scene(rng, holdout)
    styles, backgrounds = list(styles), list(backgrounds)
    background = _pick(rng, backgrounds) if rng.random() < 0.6 else backgrounds[0]
    while True:
        if rng.random() < p_single or max_objects < 2:
            colour, shape = _random_pair(rng, holdout, bias, extra_colours)
            objects = [_random_object(rng, colour, shape, (0.14, 0.42), styles)]
        else:
            n = 2 if rng.random() < 0.4 else int(rng.integers(2, max_objects + 1))
            n_kinds = int(rng.integers(1, n + 1))
            kinds = [_random_pair(rng, holdout, bias, extra_colours) for _ in range(n_kinds)]
            pairs = kinds + [kinds[int(rng.integers(n_kinds))] for _ in range(n - n_kinds)]
            top = 0.3 if n == 2 else 0.22
            objects = [_random_object(rng, c, s, (0.09, top), styles) for c, s in pairs]
        if len(objects) == 2 and rng.random() < 0.6:
            placed = _place_side_by_side(objects, rng)  # a clear left/right or above/below
        else:
            placed = _place(objects, rng)
        if placed is not None:
            break
    if p_greyscale and rng.random() < p_greyscale:  # a black-and-white photo: no colours
        caption, key = _grey_caption(placed, rng)
        return Scene(objects=placed, background=background, caption=caption, kind="greyscale",
                     key=key, seed=int(rng.integers(2**31)), greyscale=True)
    look = "photo"
    others = [name for name in looks if name != "photo"]
    if p_look and others and rng.random() < p_look:
        look = _pick(rng, others)
        if look == "sketch":
            placed = [replace(obj, style="outline") for obj in placed]
    if look != "photo" and rng.random() < p_look_caption:
        caption, kind, key = _look_caption(placed, look, background, rng, p_variant)
    else:
        weight = 0.0 if look in drawing_looks else photo_weight  # nobody calls a sketch a photo
        caption, kind, key = _caption(placed, background, rng, p_variant, weight)
    return Scene(objects=placed, background=background, caption=caption, kind=kind, key=key,
                 seed=int(rng.integers(2**31)), look=look)


def make_dataset(n: int, seed: int = 0, *, image_size: int = 64,
                 holdout: Iterable[tuple[str, str]] = HOLDOUT,
                 bias: Mapping[str, tuple[str, float]] | None = None, max_objects: int = 4,
                 p_single: float = 0.5, styles: Sequence[str] = STYLES,
                 backgrounds: Sequence[str] = BACKGROUNDS,
                 extra_colours: Sequence[str] = (), p_greyscale: float = 0.0,
                 p_text: float = 0.0, looks: Sequence[str] = LOOKS, p_look: float = 0.0,
                 p_look_caption: float = 0.6, p_variant: float = 0.0,
                 photo_weight: float = 1.0, drawing_looks: Sequence[str] = ()) -> ShapesDataset:
    """``n`` random captioned scenes: training data for a tiny CLIP.

    Parameters
    ----------
    n : int
        Number of image-caption pairs.
    seed : int
        Same seed, same images and captions.
    image_size : int
        Side of each image (the bundled model reads 64 px).
    holdout, bias, max_objects, p_single, styles, backgrounds, extra_colours, p_greyscale, p_text
        As in :func:`random_scene`.
    looks, p_look, p_look_caption, p_variant, photo_weight, drawing_looks
        World v2's knobs, as in :func:`random_scene`: the share of blurry, pixelated, grainy,
        faded and sketched images, how often captions say so, and how often a shape goes by
        another name. The defaults give world v1 (every image a plain photo); the bundled
        model's values are in ``clipcourse.train.TINY_RECIPE``.

    Returns
    -------
    ShapesDataset
        ``images`` (PIL), ``captions`` (str) and ``scenes`` (:class:`Scene` metadata).

    Examples
    --------
    >>> data = make_dataset(8, seed=0)
    >>> len(data), data.images[0].size
    (8, (64, 64))

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng, holdout=holdout, bias=bias, max_objects=max_objects,
                           p_single=p_single, styles=styles, backgrounds=backgrounds,
                           extra_colours=extra_colours, p_greyscale=p_greyscale,
                           p_text=p_text, looks=looks, p_look=p_look,
                           p_look_caption=p_look_caption, p_variant=p_variant,
                           photo_weight=photo_weight, drawing_looks=drawing_looks)
              for _ in range(n)]
    images = [scene.draw(image_size) for scene in scenes]
    return ShapesDataset(images=images, captions=[s.caption for s in scenes], scenes=scenes)


def _test_object(rng: np.random.Generator, colour: str, shape: str, styles, size_range
                 ) -> ShapeSpec:
    obj = _random_object(rng, colour, shape, size_range)
    obj = replace(obj, style=_pick(rng, list(styles)))
    return _place([obj], rng)[0]


def make_test_set(n: int, seed: int = 1, *, pairs: Iterable[tuple[str, str]] | None = None,
                  image_size: int = 64, styles: Sequence[str] = STYLES,
                  backgrounds: Sequence[str] = BACKGROUNDS,
                  looks: Sequence[str] | None = None) -> LabelledShapes:
    """``n`` single-object images labelled ``"colour shape"``, for zero-shot evaluation.

    Parameters
    ----------
    n : int
        Number of images; the pairs take turns, so each gets about ``n / len(pairs)``.
    seed : int
        Use a seed the model never trained on (the bundled model trained on seed 0's data).
    pairs : iterable of (colour, shape), optional
        Which combinations to draw (default all 24). E.g. ``shapes.HOLDOUT`` for the unseen ones.
    image_size : int
    styles, backgrounds : sequences of str
        The drawing styles and backgrounds to choose from.
    looks : sequence of str, optional
        Image-wide rendering styles from ``LOOKS``. ``None`` (default): ordinary photos only,
        the same pixels as before looks existed. ``("blurry",)``: every image blurry.
        ``LOOKS``: a mixed-style set; the looks take turns after each round of ``pairs``, so
        with ``n`` a multiple of ``len(pairs) * len(looks)`` every pair appears equally often
        in every look.

    Returns
    -------
    LabelledShapes
        ``images``, ``labels`` (e.g. ``"red circle"``), the drawn ``objects`` and each
        image's ``looks``.

    Examples
    --------
    >>> test = make_test_set(24, seed=1)
    >>> test.labels[:2]
    ['red circle', 'red square']

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    pairs = [(c, s) for c in COLOURS for s in SHAPES] if pairs is None else list(pairs)
    rng = np.random.default_rng(seed)
    images, labels, objects, image_looks = [], [], [], []
    for i in range(n):
        colour, shape = pairs[i % len(pairs)]
        look = "photo" if looks is None else looks[(i // len(pairs)) % len(looks)]
        obj = _test_object(rng, colour, shape, styles, (0.16, 0.42))
        if look == "sketch":
            obj = replace(obj, style="outline")
        background = _pick(rng, list(backgrounds))
        images.append(draw_scene([obj], background, image_size=image_size,
                                 seed=int(rng.integers(2**31)), look=look))
        labels.append(label(colour, shape))
        objects.append(obj)
        image_looks.append(look)
    return LabelledShapes(images=images, labels=labels, objects=objects, looks=image_looks)


def make_counting_set(n: int, seed: int = 2, *, max_count: int = 4, image_size: int = 64,
                      template: str = "a photo of {}.") -> ChoiceSet:
    """Images of 1 to ``max_count`` identical shapes; choose the caption with the right number.

    Each image gets ``max_count`` prompts (``"a photo of one red circle."``, ``"a photo of two
    red circles."``, ...); chance is ``1 / max_count``.

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    rng = np.random.default_rng(seed)
    images, prompts, answers = [], [], []
    while len(images) < n:
        colour, shape = _pick(rng, COLOURS), _pick(rng, SHAPES)
        count = int(rng.integers(1, max_count + 1))
        style = _pick(rng, STYLES)
        size = float(rng.uniform(0.09, 0.16))
        objects = [replace(_random_object(rng, colour, shape, (size, size)), style=style)
                   for _ in range(count)]
        placed = _place(objects, rng)
        if placed is None:
            continue
        images.append(draw_scene(placed, _pick(rng, BACKGROUNDS), image_size=image_size,
                                 seed=int(rng.integers(2**31))))
        prompts.append([template.format(f"{NUMBER_WORDS[k]} {colour} "
                                        f"{shape if k == 1 else _PLURALS[shape]}")
                        for k in range(1, max_count + 1)])
        answers.append(count - 1)
    return ChoiceSet(images=images, prompts=prompts, answers=answers)


def make_relation_set(n: int, seed: int = 3, *, image_size: int = 64,
                      template: str = "a photo of {}.") -> ChoiceSet:
    """Two objects side by side; choose between "A left of B" and "A right of B".

    Each image gets two prompts (``"a photo of a red circle to the left of a blue square."`` and
    the same with "right"); chance is 50%. The two objects always differ in colour and shape.

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    rng = np.random.default_rng(seed)
    images, prompts, answers = [], [], []
    while len(images) < n:
        (ca, cb), (sa, sb) = rng.permutation(COLOURS)[:2], rng.permutation(SHAPES)[:2]
        size = float(rng.uniform(0.12, 0.2))
        ya = float(rng.uniform(0.3, 0.7))
        xa, xb = (0.27, 0.73) if rng.random() < 0.5 else (0.73, 0.27)
        a = replace(_random_object(rng, str(ca), str(sa), (size, size)), position=(xa, ya))
        b = replace(_random_object(rng, str(cb), str(sb), (size, size)),
                    position=(xb, float(np.clip(ya + rng.normal(0, 0.05), 0.25, 0.75))))
        images.append(draw_scene([a, b], _pick(rng, BACKGROUNDS), image_size=image_size,
                                 seed=int(rng.integers(2**31))))
        pa, pb = _np(a.colour, a.shape, 1, rng), _np(b.colour, b.shape, 1, rng)
        prompts.append([template.format(f"{pa} to the left of {pb}"),
                        template.format(f"{pa} to the right of {pb}")])
        answers.append(0 if xa < xb else 1)
    return ChoiceSet(images=images, prompts=prompts, answers=answers)
