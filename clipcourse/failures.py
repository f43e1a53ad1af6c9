"""Small, measurable experiments on where CLIP fails: stimuli you can change, numbers you can print.

The course text lists CLIP's rough edges (counting, relations, abstract concepts, text in
images, biased data, no "I don't know"). Each one here is an experiment: a stimulus maker that
draws controlled images in the shapes world (:mod:`clipcourse.shapes`) with the right answer
known, and a measurement that returns plain numbers.

Stimuli
    :func:`counting_set` (``k`` identical shapes, prompts "one" ... "four"),
    :func:`relation_pairs` (an image and its mirror image, captions with the objects swapped),
    :func:`negation_set` ("a square that is not red" vs "... not blue", and the same without
    "not"), :func:`write_word` (a typographic attack at a chosen size and opacity),
    :func:`ood_images` (noise, empty backgrounds, drawn digits).
Measurements
    :func:`entropy_bits`, :func:`top2_margin`, :func:`flatness`, :func:`accuracy`,
    :func:`flip_rate`, :func:`coverage_precision`, :func:`threshold_for_recall`.
Experiments
    :func:`score_choices` (multiple choice, returns a :class:`ChoiceResult`),
    :func:`typographic_sweep`, :func:`confidence_report`, :func:`abstention`,
    :func:`shape_captions` with :func:`shape_bias` (a spurious correlation).

Everything is deterministic given its ``seed`` and touches no global random state.

References
----------
- Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision",
  sections 6 and 7 (limitations, bias) and OpenAI's CLIP model card.
- Goh et al. 2021, "Multimodal Neurons in Artificial Neural Networks", Distill (typographic
  attacks: an apple labelled "iPod").
- Yuksekgonul et al. 2023, "When and why vision-language models behave like bags-of-words, and
  what to do about it?", ICLR (word order and relations).

Introduced in ``05_failure_modes_lab.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from . import shapes
from .embed import normalize
from .zeroshot import build_classifier

__all__ = [
    # stimuli
    "ChoiceStimuli", "NegationSet", "counting_set", "relation_pairs", "negation_set",
    "write_word", "ood_images",
    # measurements
    "entropy_bits", "top2_margin", "flatness", "accuracy", "flip_rate", "coverage_precision",
    "threshold_for_recall",
    # experiments
    "ChoiceResult", "score_choices", "typographic_sweep", "confidence_report", "abstention",
    "shape_captions", "shape_bias",
]

_TEMPLATE = "a photo of {}."


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _noun_phrase(colour: str, shape: str) -> str:
    """"a red circle", "an orange star"."""
    return f"{_article(colour)} {colour} {shape}"


def _counted(colour: str, shape: str, count: int) -> str:
    """"one red circle", "two red circles" (every shape of the world takes a plain -s plural)."""
    return f"{shapes.NUMBER_WORDS[count]} {colour} {shape}{'s' if count > 1 else ''}"


# ---------------------------------------------------------------------------------------------
# Stimuli
# ---------------------------------------------------------------------------------------------
@dataclass
class ChoiceStimuli(shapes.ChoiceSet):
    """A multiple-choice test: ``prompts[i][answers[i]]`` is the true caption of ``images[i]``.

    A :class:`clipcourse.shapes.ChoiceSet` plus ``objects[i]``, the
    :class:`~clipcourse.shapes.ShapeSpec` list drawn in ``images[i]``, and ``groups[i]``, what
    the image tests (the object count, "original"/"mirror", the colour...).

    Introduced in ``05_failure_modes_lab.ipynb``.
    """

    objects: list
    groups: list


class NegationSet(NamedTuple):
    """The same images asked two ways (see :func:`negation_set`).

    Attributes
    ----------
    affirmed : ChoiceStimuli
        ``"a photo of a square that is red."`` vs ``"... that is blue."``
    negated : ChoiceStimuli
        ``"a photo of a square that is not blue."`` vs ``"... that is not red."``: the same
        sentences with ``not`` added, so the right answer is the *other* one.

    Introduced in ``05_failure_modes_lab.ipynb``.
    """

    affirmed: ChoiceStimuli
    negated: ChoiceStimuli


def counting_set(n: int, seed: int = 0, *, counts: Sequence[int] = (1, 2, 3, 4),
                 image_size: int = 64, template: str = _TEMPLATE) -> ChoiceStimuli:
    """``n`` images of ``k`` identical shapes, ``k`` from ``counts``; pick the caption with ``k``.

    The counts take turns (``counts[i % len(counts)]``), so every count is equally common and
    chance is ``1 / len(counts)``. Objects sit in distinct cells of a 3 × 3 grid, jittered, so
    they never overlap; colour, shape, size, style and background are random per image.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int
        Same seed, same images.
    counts : sequence of int
        The counts to test, each from 1 to 6 (``(2, 3)`` for "two vs three").
    image_size : int
        Side in pixels; use ``model.input_resolution`` to avoid resizing.
    template : str
        Prompt template with one ``{}`` for the noun phrase (``"two red circles"``).

    Returns
    -------
    ChoiceStimuli
        ``prompts[i]`` has one caption per count (in ``counts`` order); ``groups[i]`` is the
        true count and ``len(objects[i]) == groups[i]``.

    Examples
    --------
    >>> stimuli = counting_set(4, counts=(2, 3))
    >>> stimuli.groups, [len(objects) for objects in stimuli.objects]
    ([2, 3, 2, 3], [2, 3, 2, 3])
    >>> stimuli.prompts[0]
    ['a photo of two purple triangles.', 'a photo of three purple triangles.']

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    counts = [int(k) for k in counts]
    if not counts or min(counts) < 1 or max(counts) > 6:
        raise ValueError(f"counts must be from 1 to 6 (the world's number words), got {counts}")
    rng = np.random.default_rng(seed)
    cells = [(x, y) for y in (0.2, 0.5, 0.8) for x in (0.2, 0.5, 0.8)]
    images, prompts, answers, objects, groups = [], [], [], [], []
    for i in range(n):
        count = counts[i % len(counts)]
        colour, shape = shapes.COLOURS[rng.integers(6)], shapes.SHAPES[rng.integers(4)]
        style = shapes.STYLES[rng.integers(3)]
        size = float(rng.uniform(0.07, 0.11))
        chosen = rng.choice(len(cells), size=count, replace=False)
        objs = [shapes.ShapeSpec(colour, shape, size=size, style=style,
                                 position=(cells[c][0] + float(rng.uniform(-0.03, 0.03)),
                                           cells[c][1] + float(rng.uniform(-0.03, 0.03))),
                                 rotation=0.0 if shape == "circle" else float(rng.normal(0, 10)))
                for c in chosen]
        background = shapes.BACKGROUNDS[rng.integers(3)]
        images.append(shapes.draw_scene(objs, background, image_size=image_size,
                                        seed=int(rng.integers(2**31))))
        prompts.append([template.format(_counted(colour, shape, k)) for k in counts])
        answers.append(counts.index(count))
        objects.append(objs)
        groups.append(count)
    return ChoiceStimuli(images, prompts, answers, objects, groups)


def relation_pairs(n: int, seed: int = 0, *, image_size: int = 64,
                   template: str = _TEMPLATE) -> ChoiceStimuli:
    """``n`` scenes of two objects side by side, each followed by its mirror image.

    Both images of a pair get the same two captions, which use the same words in a different
    order: ``"a photo of a red circle to the left of a blue square."`` and ``"a photo of a
    blue square to the left of a red circle."``. The first is true of the original, the second
    of the mirror image. A model that only knows *which* objects are present (a "bag of
    words") cannot tell them apart: it gets one image of each pair right, 50%.

    Parameters
    ----------
    n : int
        Number of pairs (``2 n`` images).
    seed : int
    image_size : int
    template : str
        With one ``{}`` for the relation phrase.

    Returns
    -------
    ChoiceStimuli
        ``images[2 j]`` is an original, ``images[2 j + 1]`` its left-right mirror
        (``groups`` says ``"original"`` or ``"mirror"``); the two objects always differ in
        colour and in shape.

    Examples
    --------
    >>> pairs = relation_pairs(1)
    >>> pairs.groups, pairs.answers
    (['original', 'mirror'], [0, 1])

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    rng = np.random.default_rng(seed)
    images, prompts, answers, objects, groups = [], [], [], [], []
    for _ in range(n):
        colours = rng.permutation(shapes.COLOURS)[:2]
        kinds = rng.permutation(shapes.SHAPES)[:2]
        size = float(rng.uniform(0.13, 0.19))
        y = float(rng.uniform(0.35, 0.65))
        style = shapes.STYLES[rng.integers(3)]
        left = shapes.ShapeSpec(str(colours[0]), str(kinds[0]), size=size, style=style,
                                position=(0.27, y))
        right = shapes.ShapeSpec(str(colours[1]), str(kinds[1]), size=size, style=style,
                                 position=(0.73, float(np.clip(y + rng.normal(0, 0.04), 0.3, 0.7))))
        image = shapes.draw_scene([left, right], shapes.BACKGROUNDS[rng.integers(3)],
                                  image_size=image_size, seed=int(rng.integers(2**31)))
        a = _noun_phrase(left.colour, left.shape)
        b = _noun_phrase(right.colour, right.shape)
        captions = [template.format(f"{a} to the left of {b}"),
                    template.format(f"{b} to the left of {a}")]
        mirrored = [shapes.ShapeSpec(o.colour, o.shape, size=o.size, style=o.style,
                                     position=(1 - o.position[0], o.position[1]))
                    for o in (left, right)]
        images += [image, ImageOps.mirror(image)]
        prompts += [captions, captions]
        answers += [0, 1]
        objects += [[left, right], mirrored]
        groups += ["original", "mirror"]
    return ChoiceStimuli(images, prompts, answers, objects, groups)


def negation_set(n: int, seed: int = 0, *, image_size: int = 64,
                 template: str = _TEMPLATE) -> NegationSet:
    """Single shapes asked about their colour twice: plainly, and with ``not``.

    For a red square and a decoy colour (say blue) the affirmed prompts are ``"a photo of a
    square that is red."`` / ``"... that is blue."`` (right answer: red) and the negated ones
    ``"a photo of a square that is not red."`` / ``"... that is not blue."`` (right answer:
    *not blue*). The sentences differ from their affirmed twins only by the word ``not``, so a
    model that ignores it picks the true colour's sentence in both, and its negated accuracy
    is about ``1 -`` its affirmed accuracy: far *below* the 50% chance level.

    Parameters
    ----------
    n : int
        Number of images (drawn by :func:`clipcourse.shapes.make_test_set`, all 24 pairs in turn).
    seed : int
        Seeds the images and the decoy colours.
    image_size : int
    template : str
        With one ``{}`` for ``"a square that is (not) red"``.

    Returns
    -------
    NegationSet
        ``.affirmed`` and ``.negated``, two :class:`ChoiceStimuli` over the same images; the
        order of the two prompts is random per image, ``groups`` holds the true colour.

    Examples
    --------
    >>> test = negation_set(1)
    >>> test.negated.prompts[0][test.negated.answers[0]]
    'a photo of a circle that is not purple.'

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    rng = np.random.default_rng(seed)
    test = shapes.make_test_set(n, seed=seed, image_size=image_size)
    affirmed = ChoiceStimuli([], [], [], [], [])
    negated = ChoiceStimuli([], [], [], [], [])
    for image, obj in zip(test.images, test.objects):
        decoy = str(rng.choice([c for c in shapes.COLOURS if c != obj.colour]))
        flip = int(rng.integers(2))  # where the true-colour sentence goes
        order = [obj.colour, decoy] if flip == 0 else [decoy, obj.colour]
        for stimuli, word, answer in ((affirmed, "", flip), (negated, "not ", 1 - flip)):
            stimuli.images.append(image)
            stimuli.prompts.append([template.format(f"{_article(obj.shape)} {obj.shape} that is "
                                                    f"{word}{colour}") for colour in order])
            stimuli.answers.append(answer)
            stimuli.objects.append([obj])
            stimuli.groups.append(obj.colour)
    return NegationSet(affirmed, negated)


def write_word(image: Image.Image, word: str, *, height: float = 0.25, opacity: float = 1.0,
               position: tuple[float, float] = (0.5, 0.5),
               box: tuple[int, int, int] | None = (255, 255, 255)) -> Image.Image:
    """Write ``word`` onto a copy of ``image`` (a typographic attack), with a chosen opacity.

    Draws with :func:`clipcourse.shapes.draw_text` (black letters on a white label by default)
    and blends the result with the original: ``opacity=0`` returns the image unchanged,
    ``opacity=1`` a fully opaque label.

    Parameters
    ----------
    image : PIL.Image.Image
    word : str
    height : float
        Letter height as a fraction of the image side.
    opacity : float
        From 0 (invisible) to 1 (opaque).
    position : (float, float)
        Centre of the word, as fractions of the image side.
    box : RGB or None
        The label behind the letters; ``None`` writes straight onto the picture.

    Returns
    -------
    PIL.Image.Image
        A new RGB image of the same size.

    Examples
    --------
    >>> red_circle = shapes.draw_scene([shapes.ShapeSpec("red", "circle")])
    >>> write_word(red_circle, "blue", height=0.3).size
    (64, 64)

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    image = image.convert("RGB")
    attacked = shapes.draw_text(image, word, position=position, height=height, box=box)
    return Image.blend(image, attacked, float(opacity))


def _digit_image(digit: int, size: int, rng: np.random.Generator) -> Image.Image:
    light = int(rng.integers(215, 256))
    ink = int(rng.integers(0, 60))
    image = Image.new("RGB", (size, size), (light,) * 3)
    font = ImageFont.load_default(size=max(8, round(size * rng.uniform(0.55, 0.8))))
    centre = (size * rng.uniform(0.42, 0.58), size * rng.uniform(0.42, 0.58))
    ImageDraw.Draw(image).text(centre, str(digit), fill=(ink,) * 3, font=font, anchor="mm")
    return image


def ood_images(n: int = 16, seed: int = 0, *, image_size: int = 64,
               kinds: Sequence[str] = ("noise", "empty", "digits")) -> dict[str, list]:
    """Inputs that are none of the shapes world's 24 classes, ``n`` of each kind.

    Parameters
    ----------
    n : int
        Images per kind.
    seed : int
    image_size : int
    kinds : sequence of str
        ``"noise"`` (uniform random RGB pixels), ``"empty"`` (a shapes-world background with no
        object: :func:`clipcourse.shapes.draw_scene` with no objects) and ``"digits"`` (a digit
        0-9 drawn in a dark colour on a light background with PIL's default font).

    Returns
    -------
    dict of str to list of PIL images
        In the order of ``kinds``. The ``"digits"`` images show ``i % 10`` for image ``i``.

    Examples
    --------
    >>> inputs = ood_images(2)
    >>> list(inputs), len(inputs["noise"])
    (['noise', 'empty', 'digits'], 2)

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    makers = {
        "noise": lambda i, rng: Image.fromarray(
            rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)),
        "empty": lambda i, rng: shapes.draw_scene(
            [], shapes.BACKGROUNDS[i % 3], image_size=image_size, seed=int(rng.integers(2**31))),
        "digits": lambda i, rng: _digit_image(i % 10, image_size, rng),
    }
    unknown = [k for k in kinds if k not in makers]
    if unknown:
        raise ValueError(f"Unknown kinds {unknown}; choose from {list(makers)}")
    out = {}
    for k, kind in enumerate(kinds):
        rng = np.random.default_rng([seed, k])
        out[kind] = [makers[kind](i, rng) for i in range(n)]
    return out


# ---------------------------------------------------------------------------------------------
# Measurements (plain numbers from probabilities, predictions and scores)
# ---------------------------------------------------------------------------------------------
def _array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def entropy_bits(probs: Any) -> np.ndarray:
    """Entropy of each row of probabilities, in bits (``0 log 0 = 0``).

    A one-hot row has 0 bits; a uniform row over ``n`` labels has the maximum, ``log2(n)``.

    Parameters
    ----------
    probs : tensor or array ``[n_images, n_labels]`` or ``[n_labels]``

    Returns
    -------
    numpy.ndarray
        ``[n_images]`` (a 0-d array for one row).

    Examples
    --------
    >>> float(entropy_bits([0.25, 0.25, 0.25, 0.25]))
    2.0

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    p = _array(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1) + 0.0  # + 0.0 turns -0.0 into 0.0


def top2_margin(probs: Any) -> np.ndarray:
    """Best minus second-best probability of each row: how decisive the winner is.

    Examples
    --------
    >>> top2_margin([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]).round(2)
    array([0.5, 0. ])

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    p = _array(probs)
    if p.shape[-1] < 2:
        raise ValueError("top2_margin needs at least two labels")
    ordered = np.sort(p, axis=-1)
    return ordered[..., -1] - ordered[..., -2]


def flatness(probs: Any) -> dict:
    """How flat a set of probability rows is, summarised in a few numbers.

    Returns
    -------
    dict
        ``"n_labels"``; ``"entropy_bits"`` (mean per row) and ``"max_bits"`` (``log2(n_labels)``,
        the uniform maximum); ``"entropy_share"`` (their ratio: 1.0 is perfectly flat);
        ``"top2_margin"`` (mean); ``"top_prob"`` (mean winning probability) and ``"uniform"``
        (``1 / n_labels``).

    Examples
    --------
    >>> flatness([[0.5, 0.5], [0.5, 0.5]])["entropy_share"]
    1.0

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    p = _array(probs)
    p = p[None, :] if p.ndim == 1 else p
    n_labels = p.shape[-1]
    max_bits = math.log2(n_labels)
    entropy = float(entropy_bits(p).mean())
    return {"n_labels": n_labels, "entropy_bits": entropy, "max_bits": max_bits,
            "entropy_share": entropy / max_bits if max_bits > 0 else float("nan"),
            "top2_margin": float(top2_margin(p).mean()), "top_prob": float(p.max(-1).mean()),
            "uniform": 1.0 / n_labels}


def accuracy(predictions: Sequence, targets: Sequence) -> float:
    """Share of ``predictions`` equal to ``targets`` (labels, indices, anything comparable).

    Examples
    --------
    >>> accuracy(["red", "blue", "red"], ["red", "red", "red"])
    0.6666666666666666

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    predictions, targets = list(predictions), list(targets)
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    if not targets:
        return float("nan")
    return sum(p == t for p, t in zip(predictions, targets)) / len(targets)


def flip_rate(before: Sequence, after: Sequence, target: Sequence | None = None) -> float:
    """How often a change to the input changed the prediction.

    Parameters
    ----------
    before, after : sequences of labels
        Predictions on the clean and on the changed inputs.
    target : sequence of labels, optional
        When given, count only flips *to* ``target[i]`` (the label an attacker wrote), rather
        than any change.

    Returns
    -------
    float
        The share of inputs that flipped (NaN when there are none).

    Examples
    --------
    >>> flip_rate(["cat", "cat", "dog"], ["cat", "ipod", "cat"])
    0.6666666666666666
    >>> flip_rate(["cat", "cat", "dog"], ["cat", "ipod", "cat"], target=["ipod"] * 3)
    0.3333333333333333

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    before, after = list(before), list(after)
    if len(before) != len(after) or (target is not None and len(target) != len(after)):
        raise ValueError("before, after (and target) must have the same length")
    if not after:
        return float("nan")
    if target is None:
        return sum(b != a for b, a in zip(before, after)) / len(after)
    return sum(b != t and a == t for b, a, t in zip(before, after, target)) / len(after)


def coverage_precision(scores: Any, correct: Sequence[bool], threshold: float) -> dict:
    """Answer only when the score reaches ``threshold``: how much is answered, and how well.

    Parameters
    ----------
    scores : array or tensor ``[n]``
        Each input's best cosine similarity (or any confidence score).
    correct : sequence of bool ``[n]``
        Whether answering that input would be right (False for out-of-distribution inputs).
    threshold : float

    Returns
    -------
    dict
        ``"threshold"``, ``"n"``, ``"answered"`` (count), ``"coverage"`` (share answered),
        ``"precision"`` (share of answers that are right; NaN if none) and ``"recall"`` (share
        of the right answers kept). Same numbers as ``cc.widgets.threshold_stats`` with the
        right ones as ``matched``.

    Examples
    --------
    >>> stats = coverage_precision([0.30, 0.28, 0.22, 0.21, 0.18], [1, 1, 1, 0, 0], 0.25)
    >>> stats["coverage"], stats["precision"]
    (0.4, 1.0)

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    s = _array(scores).ravel()
    ok = np.asarray(correct, dtype=bool).ravel()
    if s.shape != ok.shape:
        raise ValueError(f"{s.size} scores for {ok.size} correctness flags")
    answered = s >= threshold
    n_answered = int(answered.sum())
    return {"threshold": float(threshold), "n": int(s.size), "answered": n_answered,
            "coverage": n_answered / s.size if s.size else float("nan"),
            "precision": float(ok[answered].mean()) if n_answered else float("nan"),
            "recall": float(answered[ok].mean()) if ok.any() else float("nan")}


def threshold_for_recall(scores: Any, recall: float = 0.95) -> float:
    """The highest threshold that still keeps ``recall`` of ``scores`` (those of right answers).

    Examples
    --------
    >>> threshold_for_recall([0.1, 0.2, 0.3, 0.4], recall=0.75)
    0.2

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    s = np.sort(_array(scores).ravel())[::-1]
    if s.size == 0 or not 0 < recall <= 1:
        raise ValueError("need at least one score and 0 < recall <= 1")
    return float(s[max(1, math.ceil(recall * s.size)) - 1])


# ---------------------------------------------------------------------------------------------
# Experiments (a model in, plain numbers out)
# ---------------------------------------------------------------------------------------------
def _wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (sane at 0% and 100%, unlike mean ± 2 SE)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ChoiceResult:
    """What :func:`score_choices` returns.

    Attributes
    ----------
    similarity : torch.Tensor
        ``[n_images, n_choices]`` cosine similarity of each image with each of its own prompts.
    probs : torch.Tensor
        ``[n_images, n_choices]``, softmax of ``logit_scale * similarity``.
    answers : list of int
        Index of the true prompt of each image.
    groups : list
        What each image tests (the count, "mirror"...), from the stimuli.

    Introduced in ``05_failure_modes_lab.ipynb``.
    """

    similarity: torch.Tensor
    probs: torch.Tensor
    answers: list
    groups: list

    @property
    def predictions(self) -> list[int]:
        """Index of the most similar prompt, per image."""
        return self.similarity.argmax(dim=-1).tolist()

    @property
    def correct(self) -> np.ndarray:
        """``[n_images]`` bool: was the true prompt the most similar?"""
        return np.array(self.predictions) == np.array(self.answers)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def chance(self) -> float:
        """Accuracy of guessing: ``1 / n_choices``."""
        return 1.0 / self.similarity.shape[1]

    @property
    def p_true(self) -> float:
        """Mean probability the model gives the true prompt."""
        return float(self.probs[torch.arange(len(self.answers)), torch.tensor(self.answers)].mean())

    def summary(self) -> str:
        """One line: accuracy with its 95% interval (Wilson), the number of images, chance.

        With 100 images an accuracy is only known to about ±10 points; compare the interval,
        not the single number, with the chance level.
        """
        n = len(self.answers)
        low, high = _wilson(int(self.correct.sum()), n)
        return (f"accuracy {self.accuracy:.0%} (95% interval {low:.0%}-{high:.0%}, n = {n}), "
                f"chance {self.chance:.0%}")

    def accuracy_by_group(self) -> dict:
        """``{group: accuracy}`` in order of first appearance."""
        correct = self.correct
        out = {}
        for group in dict.fromkeys(self.groups):
            mask = np.array([g == group for g in self.groups])
            out[group] = float(correct[mask].mean())
        return out

    def confusion(self) -> np.ndarray:
        """``[n_choices, n_choices]`` counts: row = true prompt, column = chosen prompt."""
        k = self.similarity.shape[1]
        table = np.zeros((k, k), dtype=int)
        for answer, prediction in zip(self.answers, self.predictions):
            table[answer, prediction] += 1
        return table


def score_choices(model, stimuli) -> ChoiceResult:
    """Ask ``model`` which of each image's prompts describes it.

    Parameters
    ----------
    model : clipcourse.Model
    stimuli : ChoiceStimuli or clipcourse.shapes.ChoiceSet
        Anything with ``images``, ``prompts`` (the same number per image) and ``answers``;
        ``groups`` is used when present.

    Returns
    -------
    ChoiceResult
        ``.accuracy``, ``.chance``, ``.summary()`` (with a 95% interval), ``.p_true``,
        ``.accuracy_by_group()``, ``.confusion()``.

    Examples
    --------
    >>> result = score_choices(model, counting_set(40, counts=(2, 3)))  # doctest: +SKIP
    >>> result.accuracy, result.chance  # doctest: +SKIP
    (0.55, 0.5)

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    n_choices = {len(p) for p in stimuli.prompts}
    if len(n_choices) != 1:
        raise ValueError(f"every image needs the same number of prompts, got {sorted(n_choices)}")
    image_features = model.encode_images(list(stimuli.images), progress=False)  # [n, embed_dim]
    unique = list(dict.fromkeys(p for prompts in stimuli.prompts for p in prompts))
    text_features = model.encode_texts(unique)  # [n_unique, embed_dim]
    row = {p: i for i, p in enumerate(unique)}
    index = torch.tensor([[row[p] for p in prompts] for prompts in stimuli.prompts])  # [n, k]
    similarity = torch.einsum("nd,nkd->nk", image_features, text_features[index])  # [n, k]
    probs = (model.logit_scale * similarity).softmax(dim=-1)
    groups = list(getattr(stimuli, "groups", None) or [None] * len(stimuli.images))
    return ChoiceResult(similarity=similarity, probs=probs, answers=list(stimuli.answers),
                        groups=groups)


def _predict(model, images: Sequence, classifier: torch.Tensor, labels: Sequence[str]
             ) -> list[str]:
    image_features = model.encode_images(list(images), progress=False)  # [n_images, embed_dim]
    return [labels[i] for i in (image_features @ classifier.T).argmax(dim=-1).tolist()]


def typographic_sweep(model, images: Sequence, labels: Sequence[str], true_labels: Sequence[str],
                      words: Sequence[str], targets: Sequence[str], *,
                      heights: Sequence[float] = (0.15, 0.25, 0.35),
                      opacities: Sequence[float] = (0.5, 1.0),
                      templates: Sequence[str] | None = None,
                      position: tuple[float, float] = (0.5, 0.5)) -> list[dict]:
    """Write ``words[i]`` on ``images[i]`` at every size × opacity; measure how often it wins.

    Parameters
    ----------
    model : clipcourse.Model
    images : sequence of PIL images
    labels : sequence of str
        The zero-shot classes (e.g. all 24 ``"red circle"`` labels).
    true_labels : sequence of str
        The right class of each image.
    words : sequence of str
        The word written on each image (e.g. ``"blue"`` on a red circle).
    targets : sequence of str
        The class that word stands for (``"blue circle"``): a flip *to target* is the attack
        succeeding.
    heights, opacities : sequences of float
        The grid of letter heights (fraction of the side) and opacities to sweep.
    templates : sequence of str, optional
        Prompt templates for the classifier (default ``["a photo of a {}."]``).
    position : (float, float)
        Where the word goes.

    Returns
    -------
    list of dict
        One row per condition, the clean images first (height and opacity 0):
        ``"height"``, ``"opacity"``, ``"accuracy"``, ``"changed"`` (share whose prediction
        differs from the clean one) and ``"to_target"`` (share that flipped to ``targets[i]``).

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    n = len(images)
    if not (len(true_labels) == len(words) == len(targets) == n):
        raise ValueError("images, true_labels, words and targets must have the same length")
    labels = list(labels)
    classifier = build_classifier(model, labels, templates)  # [n_classes, embed_dim]
    clean = _predict(model, images, classifier, labels)
    rows = [{"height": 0.0, "opacity": 0.0, "accuracy": accuracy(clean, true_labels),
             "changed": 0.0, "to_target": flip_rate(clean, clean, targets)}]
    for height in heights:
        for opacity in opacities:
            attacked = [write_word(im, w, height=height, opacity=opacity, position=position)
                        for im, w in zip(images, words)]
            predicted = _predict(model, attacked, classifier, labels)
            rows.append({"height": float(height), "opacity": float(opacity),
                         "accuracy": accuracy(predicted, true_labels),
                         "changed": flip_rate(clean, predicted),
                         "to_target": flip_rate(clean, predicted, targets)})
    return rows


def confidence_report(model, images_by_group: Mapping[str, Sequence], labels: Sequence[str], *,
                      templates: Sequence[str] | None = None) -> dict[str, dict]:
    """How sure zero-shot classification looks on each group of images.

    Parameters
    ----------
    model : clipcourse.Model
    images_by_group : mapping of str to images
        E.g. ``{"shapes": test.images, **ood_images(16)}``.
    labels : sequence of str
        The classes (a list of strings is one class with name variants, as in ``cc.zero_shot``).
    templates : sequence of str, optional

    Returns
    -------
    dict of str to dict
        Per group: ``"n"``, ``"top_prob"`` (mean winning probability), ``"confident"`` (share
        whose winning probability is at least 0.5), ``"entropy_share"`` (mean entropy over its
        maximum, as in :func:`flatness`), ``"best_cosine"`` (per image, a numpy array of its
        best cosine similarity) and ``"predictions"`` (winning label per image).

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    classifier = build_classifier(model, labels, templates)  # [n_classes, embed_dim]
    names = [label if isinstance(label, str) else label[0] for label in labels]
    report = {}
    for group, images in images_by_group.items():
        image_features = model.encode_images(list(images), progress=False)  # [n_images, embed_dim]
        similarity = image_features @ classifier.T  # [n_images, n_classes]
        probs = (model.logit_scale * similarity).softmax(dim=-1)
        top = probs.max(dim=-1).values
        report[group] = {"n": len(images), "top_prob": float(top.mean()),
                         "confident": float((top >= 0.5).float().mean()),
                         "entropy_share": flatness(probs)["entropy_share"],
                         "best_cosine": similarity.max(dim=-1).values.numpy().astype(np.float64),
                         "predictions": [names[i] for i in probs.argmax(dim=-1).tolist()]}
    return report


def abstention(model, images_by_group: Mapping[str, Sequence], labels: Sequence[str],
               none_prompts: Sequence[str] = ("a photo of something else.",), *,
               templates: Sequence[str] | None = None,
               targets: Mapping[str, Sequence[str]] | None = None) -> dict[str, dict]:
    """Add "none of the above" prompts as extra classes: who picks them, and at what cost?

    Parameters
    ----------
    model : clipcourse.Model
    images_by_group : mapping of str to images
    labels : sequence of str
        The real classes (templated with ``templates``).
    none_prompts : sequence of str
        Complete prompts (not templated), each an extra class; picking any of them counts as
        abstaining ("I don't know").
    templates : sequence of str, optional
    targets : mapping of str to labels, optional
        True labels for the in-distribution groups, to measure the accuracy cost.

    Returns
    -------
    dict of str to dict
        Per group: ``"n"``, ``"abstained"`` (share that picked a none prompt) and, for groups
        in ``targets``, ``"accuracy_without"`` (no none prompts) and ``"accuracy_with"``
        (an abstention counts as wrong).

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    labels = list(labels)
    classifier = build_classifier(model, labels, templates)  # [n_classes, embed_dim]
    extra = model.encode_texts(list(none_prompts))  # [n_none, embed_dim], unit rows
    with_none = torch.cat([classifier, normalize(extra)])  # [n_classes + n_none, embed_dim]
    n_classes = len(labels)
    report = {}
    for group, images in images_by_group.items():
        image_features = model.encode_images(list(images), progress=False)  # [n_images, embed_dim]
        choice = (image_features @ with_none.T).argmax(dim=-1)  # [n_images]
        row = {"n": len(images), "abstained": float((choice >= n_classes).float().mean())}
        if targets is not None and group in targets:
            plain = (image_features @ classifier.T).argmax(dim=-1).tolist()
            truth = list(targets[group])
            row["accuracy_without"] = accuracy([labels[i] for i in plain], truth)
            row["accuracy_with"] = accuracy(
                [labels[i] if i < n_classes else None for i in choice.tolist()], truth)
        report[group] = row
    return report


def shape_captions(data: shapes.ShapesDataset, template: str = _TEMPLATE
                   ) -> shapes.ShapesDataset:
    """The same images, captioned by their shape alone: ``"a photo of a triangle."``.

    Alt-text names what its writer cares about and leaves the rest to the pixels. Here the
    colour is left out of every caption, so a colour that goes with a shape in the data is
    never *named*, only seen: the setting in which a correlation turns into a shortcut.

    Parameters
    ----------
    data : ShapesDataset
        One object per scene (``cc.shapes.make_dataset(..., p_single=1.0)``).
    template : str
        With one ``{}`` for ``"a triangle"``.

    Returns
    -------
    ShapesDataset
        Same images; new captions; each scene's ``key`` (what training counts as "the same
        content") becomes ``("shape", shape)``.

    Examples
    --------
    >>> world = shapes.make_dataset(2, seed=0, p_single=1.0)
    >>> shape_captions(world).captions
    ['a photo of a square.', 'a photo of a square.']

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    captions, scenes = [], []
    for scene in data.scenes:
        if len(scene.objects) != 1:
            raise ValueError("shape_captions needs one object per scene: make the data with "
                             "cc.shapes.make_dataset(..., p_single=1.0)")
        shape = scene.objects[0].shape
        caption = template.format(f"{_article(shape)} {shape}")
        captions.append(caption)
        scenes.append(replace(scene, caption=caption, kind="partial", key=("shape", shape)))
    return shapes.ShapesDataset(images=list(data.images), captions=captions, scenes=scenes)


def shape_bias(model, shape: str = "triangle", colour: str = "red", *, n: int = 480,
               seed: int = 7, templates: Sequence[str] | None = None,
               exclude: Sequence[tuple[str, str]] = shapes.HOLDOUT) -> dict:
    """Who gets called a ``shape``? Shape classification split by ``colour`` and shape.

    Draws single shapes in which ``colour`` makes up half of each shape's images (the other
    colours share the other half), classifies their *shape* among the four shape names
    (``"a photo of a triangle."``...), and reports how often each of four groups is called
    ``shape``. An unbiased model's answer depends on the shape only; a model that learned
    the shortcut "``colour`` means ``shape``" calls ``colour`` objects ``shape`` more often,
    and misses ``shape`` objects of other colours.

    Parameters
    ----------
    model : clipcourse.Model
    shape, colour : str
        The correlated pair, as in the shapes world's ``bias={shape: (colour, p)}``.
    n : int
        Test images (with the default ``exclude``, a multiple of 32 keeps the groups exactly
        balanced).
    seed : int
    templates : sequence of str, optional
        Prompt templates for the shape names (default ``["a photo of a {}."]``).
    exclude : sequence of (colour, shape)
        Pairs left out of the test (default: the pairs the bundled model never saw, so that
        "never seen" does not mix with "biased").

    Returns
    -------
    dict
        ``"called"``: ``{group: share called shape}`` and ``"n"``: ``{group: images}`` for the
        groups ``"red triangles"``, ``"other triangles"``, ``"red non-triangles"`` and
        ``"other non-triangles"`` (for ``shape="triangle", colour="red"``);
        ``"shape_accuracy"``: the share of all images whose shape is named right.

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    if shape not in shapes.SHAPES or colour not in shapes.COLOURS:
        raise ValueError(f"shape must be one of {shapes.SHAPES} and colour one of {shapes.COLOURS}")
    exclude = {tuple(pair) for pair in exclude}
    pairs = []
    for s in shapes.SHAPES:
        others = [c for c in shapes.COLOURS if c != colour and (c, s) not in exclude]
        pairs += [(c, s) for c in [colour] * len(others) + others]
    test = shapes.make_test_set(n, seed=seed, pairs=pairs, image_size=model.input_resolution)
    names = list(shapes.SHAPES)
    classifier = build_classifier(model, names, templates)  # [4, embed_dim]
    predicted = _predict(model, test.images, classifier, names)
    groups = {f"{colour} {shape}s": lambda o: o.colour == colour and o.shape == shape,
              f"other {shape}s": lambda o: o.colour != colour and o.shape == shape,
              f"{colour} non-{shape}s": lambda o: o.colour == colour and o.shape != shape,
              f"other non-{shape}s": lambda o: o.colour != colour and o.shape != shape}
    called, counts = {}, {}
    for name, member in groups.items():
        rows = [i for i, o in enumerate(test.objects) if member(o)]
        counts[name] = len(rows)
        called[name] = accuracy([predicted[i] for i in rows], [shape] * len(rows))
    return {"called": called, "n": counts,
            "shape_accuracy": accuracy(predicted, [o.shape for o in test.objects])}
