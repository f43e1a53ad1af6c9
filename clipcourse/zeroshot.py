"""Zero-shot classification: class names become prompts, prompts become a linear classifier.

For each class we embed one or more prompts (templates × name variants), normalise each prompt
embedding, average, and renormalise: that is the prompt ensemble of CLIP's paper. An image is
assigned to the class whose embedding has the highest cosine similarity; the softmax of
``logit_scale * similarity`` turns the similarities into probabilities. Without the
renormalisation (``renormalize=False``) a class's score is the mean of its prompts' cosines:
the ensemble averages scores instead of directions (lesson 04 compares the two).

Introduced in ``03_zero_shot_classification.ipynb``; ensembles in
``04_prompt_engineering_and_ensembling.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .embed import normalize
from .templates import DEFAULT_TEMPLATE, _checked

__all__ = ["build_classifier", "zero_shot", "ZeroShotResult"]


def _variants(label) -> list[str]:
    """A class is a name or a list of name variants ("corgi", "pembroke welsh corgi")."""
    variants = [label] if isinstance(label, str) else list(label)
    if not variants or not all(isinstance(v, str) and v.strip() for v in variants):
        raise ValueError(f"Each label must be a non-empty string or list of strings, got {label!r}")
    return variants


def _display_name(label) -> str:
    return _variants(label)[0]


def _checked_labels(labels) -> list:
    if isinstance(labels, str):
        raise TypeError(f"labels must be a list of class names, not a single string: write "
                        f"[{labels!r}] (and add the other classes)")
    try:
        labels = list(labels)
    except TypeError:
        raise TypeError(f"labels must be a list of class names, not {type(labels).__name__}"
                        ) from None
    if not labels:
        raise ValueError("labels is empty: pass at least one class name")
    for label in labels:
        _variants(label)
    return labels


def build_classifier(model, labels: Sequence, templates: Sequence[str] | None = None, *,
                     renormalize: bool = True) -> torch.Tensor:
    """One embedding per class: the prompt ensemble.

    Parameters
    ----------
    model : Model
    labels : sequence of str or of lists of str
        Class names. A list of strings is one class described by several name variants.
    templates : sequence of str, optional
        Prompt templates with one ``{}``; default ``["a photo of a {}."]``. Use
        ``cc.templates.IMAGENET_TEMPLATES`` for OpenAI's 80. A single str is one template.
        A template with no ``{}``, two of them, a named field or a stray brace raises a
        ``ValueError`` that names it.
    renormalize : bool
        ``True`` (default, OpenAI's recipe): each row is the mean of the class's unit prompt
        embeddings scaled back to length 1. ``False``: the mean itself, so an image's score
        for the class is the mean of its cosines with the class's prompts (averaging the
        logits). The two rank classes differently when the means have different lengths, i.e.
        when some classes' prompts disagree more than others'.

    Returns
    -------
    torch.Tensor
        ``[n_classes, embed_dim]`` float32: for each class the mean of its normalised prompt
        embeddings, renormalised to unit length unless ``renormalize=False``.

    Examples
    --------
    >>> classifier = build_classifier(model, ["red circle", "blue square"],
    ...                               ["a photo of a {}.", "a drawing of a {}."])
    >>> classifier.shape  # doctest: +SKIP
    torch.Size([2, 64])

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    templates = [DEFAULT_TEMPLATE] if templates is None else _checked(templates)
    labels = _checked_labels(labels)
    rows = []
    for label in labels:
        prompts = [t.format(v) for v in _variants(label) for t in templates]
        text_features = model.encode_texts(prompts)  # [n_prompts, embed_dim], unit rows
        mean = text_features.mean(dim=0)  # [embed_dim], length <= 1
        rows.append(normalize(mean) if renormalize else mean)
    return torch.stack(rows)  # [n_classes, embed_dim]


@dataclass
class ZeroShotResult:
    """What :func:`zero_shot` returns.

    Attributes
    ----------
    probs : torch.Tensor
        ``[n_images, n_classes]``; each row sums to 1 (softmax of ``logits_per_image``).
    labels : list of str
        The class names, in column order.
    similarity : torch.Tensor
        ``[n_images, n_classes]`` cosine similarities (with ``renormalize=False``, the mean
        cosine over each class's prompts).
    logits_per_image : torch.Tensor
        ``logit_scale * similarity``.
    image_features : torch.Tensor
        ``[n_images, embed_dim]``; pass them back in to classify again without re-encoding.
    """

    probs: torch.Tensor
    labels: list
    similarity: torch.Tensor
    logits_per_image: torch.Tensor
    image_features: torch.Tensor

    @property
    def predictions(self) -> list[str]:
        """The most probable label of each image."""
        return [self.labels[i] for i in self.probs.argmax(dim=-1).tolist()]

    def top_k(self, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each image, the ``k`` most probable ``(label, probability)`` pairs."""
        k = min(k, len(self.labels))
        values, indices = self.probs.topk(k, dim=-1)  # [n_images, k]
        return [[(self.labels[i], float(p)) for p, i in zip(vs, ix)]
                for vs, ix in zip(values.tolist(), indices.tolist())]

    def accuracy(self, targets: Sequence[str]) -> float:
        """Fraction of images whose top prediction equals ``targets[i]``."""
        if len(targets) != len(self.probs):
            raise ValueError(f"{len(targets)} targets for {len(self.probs)} images")
        return sum(p == t for p, t in zip(self.predictions, targets)) / max(len(targets), 1)

    def table(self, k: int = 3, names: Sequence[str] | None = None) -> str:
        """A readable top-``k`` table, one line per image."""
        names = names or [f"image {i}" for i in range(len(self.probs))]
        width = max(len(str(n)) for n in names) if names else 0
        lines = []
        for name, row in zip(names, self.top_k(k)):
            cells = "  ".join(f"{label} {p:6.1%}" for label, p in row)
            lines.append(f"{str(name):<{width}}  {cells}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ZeroShotResult({len(self.probs)} images × {len(self.labels)} labels)\n"
                + self.table())


def zero_shot(model, images, labels: Sequence, templates: Sequence[str] | None = None, *,
              classifier: torch.Tensor | None = None, renormalize: bool = True
              ) -> ZeroShotResult:
    """Classify images among ``labels`` with no training.

    Parameters
    ----------
    model : Model
    images : paths, PIL images, or a ``[n_images, embed_dim]`` tensor of image features
        Passing features skips re-encoding (widgets do this).
    labels : sequence of str or of lists of str
        Class names (a list of strings is one class with name variants).
    templates : sequence of str, optional
        Prompt templates; default ``["a photo of a {}."]``.
    classifier : tensor, optional
        A ready ``build_classifier`` output, to skip encoding the prompts.
    renormalize : bool
        As in :func:`build_classifier`; ``False`` averages the prompts' scores (lesson 04).

    Returns
    -------
    ZeroShotResult
        ``.probs`` ``[n_images, n_classes]`` (rows sum to 1, ``model.logit_scale`` applied),
        ``.labels``, ``.predictions``, ``.top_k(k)`` and a printable table.

    Examples
    --------
    >>> result = zero_shot(model, ["cat.png"], ["cat", "dog"])  # doctest: +SKIP
    >>> result.top_k(1)  # doctest: +SKIP
    [[('cat', 0.97)]]

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    labels = _checked_labels(labels)
    if classifier is None:
        classifier = build_classifier(model, labels, templates,
                                      renormalize=renormalize)  # [n_classes, embed_dim]
    else:
        classifier = torch.as_tensor(classifier)
        if classifier.dim() != 2 or classifier.shape[0] != len(labels):
            raise ValueError(
                f"The classifier has shape {tuple(classifier.shape)}, but {len(labels)} labels "
                f"were given: it needs one row per label, in the same order. Build it with "
                f"build_classifier(model, labels) for these labels.")
        embed_dim = getattr(model, "embed_dim", classifier.shape[1])
        if classifier.shape[1] != embed_dim:
            raise ValueError(
                f"The classifier's rows have {classifier.shape[1]} values, but "
                f"{getattr(model, 'name', 'the model')}'s embeddings have {embed_dim}: it was "
                "built with another model. Rebuild it with build_classifier(model, labels).")
    if isinstance(images, torch.Tensor) and images.dim() == 2:
        if images.shape[1] != classifier.shape[1]:
            raise ValueError(f"The image features have {images.shape[1]} values per row, but "
                             f"the classifier {classifier.shape[1]}: encode the images with the "
                             "same model.")
        image_features = normalize(images.float().cpu())  # [n_images, embed_dim]
    else:
        image_features = model.encode_images(images)  # [n_images, embed_dim]
    classifier = classifier.float().cpu()
    similarity = image_features @ classifier.T  # [n_images, n_classes]
    logits_per_image = model.logit_scale * similarity
    probs = logits_per_image.softmax(dim=-1)
    return ZeroShotResult(probs=probs, labels=[_display_name(label) for label in labels],
                          similarity=similarity, logits_per_image=logits_per_image,
                          image_features=image_features)
