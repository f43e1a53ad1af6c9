"""Prompt templates: OpenAI's 80 ImageNet templates, the 7 they selected, and shapes-world ones.

A template is a sentence with one ``{}`` where the class name goes. CLIP was trained on alt-text,
not on bare class names, so ``"a photo of a dog."`` usually classifies better than ``"dog"``,
and averaging the embeddings of many templates (a *prompt ensemble*) better still.

* ``IMAGENET_TEMPLATES``: the 80 templates of OpenAI's ``Prompt_Engineering_for_ImageNet``
  notebook (ImageNet zero-shot with ViT-B/32 rises by about 1.5 points over one template).
* ``IMAGENET_SELECTED``: the 7 of those 80 that OpenAI's notebook picked by a sequential forward
  selection; they do about as well as all 80.
* ``DEFAULT_TEMPLATE``: ``"a photo of a {}."``, what ``cc.zero_shot`` uses when given no templates.
* ``SHAPES_TEMPLATES``: a few phrasings suited to the shapes world of the bundled model.

Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["IMAGENET_TEMPLATES", "IMAGENET_SELECTED", "DEFAULT_TEMPLATE", "SHAPES_TEMPLATES",
           "fill"]

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

#: A small ensemble for the shapes world: the phrasings its alt-text uses most for one object.
SHAPES_TEMPLATES = [
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}",
    "a drawing of a {}.",
    "clip art of a {}",
]


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
    templates = [templates] if isinstance(templates, str) else list(templates)
    for template in templates:
        if "{}" not in template:
            raise ValueError(f"Template {template!r} has no '{{}}' for the class name")
    return [template.format(label) for template in templates]
