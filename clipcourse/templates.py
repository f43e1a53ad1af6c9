"""Prompt templates: OpenAI's 80 ImageNet templates, the 7 they selected, and shapes-world ones.

A template is a sentence with one ``{}`` where the class name goes. CLIP was trained on alt-text,
not on bare class names, so ``"a photo of a dog."`` usually classifies better than ``"dog"``,
and averaging the embeddings of many templates (a *prompt ensemble*) better still.

* ``IMAGENET_TEMPLATES``: the 80 templates of OpenAI's ``Prompt_Engineering_for_ImageNet``
  notebook (ImageNet zero-shot with ViT-B/32 rises by about 1.5 points over one template).
* ``IMAGENET_SELECTED``: the 7 of those 80 that OpenAI's notebook picked by a sequential forward
  selection; they do about as well as all 80.
* ``DEFAULT_TEMPLATE``: ``"a photo of a {}."``, what ``cc.zero_shot`` uses when given no templates.
* ``SHAPES_TEMPLATES``: an ensemble for the shapes world of the bundled model, one template per
  rendering style (``STYLE_TEMPLATES``: look -> the template that names it).
* ``SHAPE_NAME_VARIANTS``: the names the shapes world's captions use for each shape ("disc",
  "box", ...); ``UNKNOWN_SHAPE_NAMES``: names its captions never use.

Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
"""

from __future__ import annotations

import string
from typing import Sequence

__all__ = ["IMAGENET_TEMPLATES", "IMAGENET_SELECTED", "DEFAULT_TEMPLATE", "SHAPES_TEMPLATES",
           "STYLE_TEMPLATES", "SHAPE_NAME_VARIANTS", "UNKNOWN_SHAPE_NAMES", "fill"]

#: The zero-shot default: ``cc.zero_shot(..., templates=None)`` uses this one template.
DEFAULT_TEMPLATE = "a photo of a {}."

#: OpenAI's 80 ImageNet prompt templates, in the order of their notebook.
IMAGENET_TEMPLATES = [
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
]

#: The 7 templates OpenAI's notebook selected from the 80 ("itap" = "I took a picture").
IMAGENET_SELECTED = [
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
]

#: One template per look of the shapes world (``shapes.LOOKS``): the phrasing its captions use
#: most for that rendering style. Each alone suits its own style best.
STYLE_TEMPLATES = {
    "photo": "a photo of a {}.",
    "sketch": "a sketch of a {}.",
    "blurry": "a blurry photo of a {}.",
    "pixelated": "a pixelated photo of a {}.",
    "grainy": "a grainy photo of a {}.",
    "faded": "a faded photo of a {}.",
}

#: A small ensemble for the shapes world: one template per look (``STYLE_TEMPLATES``), so the
#: average covers every rendering style its alt-text describes.
SHAPES_TEMPLATES = list(STYLE_TEMPLATES.values())

#: Names the shapes world's captions use for each shape (``shapes.SHAPE_SYNONYMS``), the usual
#: one first: an ensemble over them averages "a red circle", "a red disc" and "a red dot".
SHAPE_NAME_VARIANTS = {
    "circle": ("circle", "disc", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge"),
    "star": ("star", "starburst"),
}

#: Other names for each shape that no caption of the shapes world ever uses: words the bundled
#: model never learned ("a red orb" is as good as nonsense to it).
UNKNOWN_SHAPE_NAMES = {"circle": "orb", "square": "tile", "triangle": "pyramid", "star": "asterisk"}


def fill(templates: str | Sequence[str], label: str) -> list[str]:
    """Put ``label`` into each template: the prompts one class contributes to an ensemble.

    Parameters
    ----------
    templates : str or sequence of str
        Templates with one ``{}`` each (a single string counts as one template).
    label : str
        The class name, e.g. ``"red circle"``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> fill(["a photo of a {}.", "art of the {}."], "red circle")
    ['a photo of a red circle.', 'art of the red circle.']

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    templates = _checked(templates)
    return [template.format(label) for template in templates]


def _checked(templates) -> list[str]:
    """``templates`` as a list of valid templates, or a ValueError/TypeError naming the bad one.

    A valid template is a str with exactly one ``{}`` (or ``{0}``) field and no other braces
    except doubled ones (``{{`` and ``}}`` print a literal brace). A single str is one template.
    """
    if isinstance(templates, str):
        templates = [templates]
    elif templates is None or not hasattr(templates, "__iter__"):
        raise TypeError(f"templates must be a list of strings such as ['a photo of a {{}}.'], "
                        f"not {type(templates).__name__}")
    templates = list(templates)
    if not templates:
        raise ValueError("templates is empty: pass at least one, e.g. ['a photo of a {}.']")
    for template in templates:
        if not isinstance(template, str):
            raise TypeError(f"Each template must be a str, not {type(template).__name__}: "
                            f"{template!r}")
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion
                      in string.Formatter().parse(template) if name is not None]
        except ValueError as err:
            raise ValueError(
                f"Template {template!r} has a stray brace ({err}). Its one '{{}}' marks where the "
                "class name goes; write '{{' or '}}' for a literal brace.") from None
        if not fields:
            raise ValueError(f"Template {template!r} has no '{{}}' for the class name; write e.g. "
                             "'a photo of a {}.'")
        if len(fields) > 1:
            raise ValueError(
                f"Template {template!r} has {len(fields)} fields; a template takes exactly one "
                "'{}', where the class name goes. For a class named by two things, put both in "
                "the label (e.g. 'red circle') or use a list of name variants.")
        name, spec, conversion = fields[0]
        if name not in ("", "0"):
            raise ValueError(
                f"Template {template!r} has the field {{{name}}}; only '{{}}' is filled (with "
                "the class name). Write '{}' there, or '{{' and '}}' for literal braces.")
        try:
            template.format("x")
        except (ValueError, TypeError) as err:
            raise ValueError(f"Template {template!r} cannot be filled with a class name ({err}). "
                             "Use a plain '{}'.") from None
    return templates
