"""The interactive pieces of the lessons: sliders, an upload box, the prompt comparator, search.

Every widget is a plain, testable function (the maths) plus a small ``ipywidgets.VBox``
subclass that wires controls to it. Observers never print into a ``with output:`` block: that
captures nothing when no front end is attached (ipywidgets#2377), which would make the widgets
untestable. Instead they *replace* ``output.outputs`` with one rendered HTML display, so a test
can set ``widget.prompts.value = ...`` and read the result back from ``widget.output.outputs``,
exactly what a browser shows.

========================  ====================  ===============================================
factory                   pure function         introduced in
========================  ====================  ===============================================
``temperature_explorer``  ``scaled_softmax``    ``02_cosine_similarity.ipynb``
``upload_classifier``     ``classify_upload``   ``03_zero_shot_classification.ipynb``
``prompt_comparator``     ``compare_prompts``   ``04_prompt_engineering_and_ensembling.ipynb``
``threshold_explorer``    ``threshold_stats``   ``05_failure_modes_lab.ipynb``
``search_box``            ``index.search``      ``07_image_search.ipynb``
========================  ====================  ===============================================

The prompt comparator is the one that must feel instant: image features are encoded once when
it is built, ``Model.encode_texts`` remembers every prompt it has seen (so an edit encodes only
the line that changed), and the refresh renders an HTML table with inline bars, no matplotlib.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from ._report import warn as _warn
from .embed import normalize
from .images import load_image
from .models import TruncationWarning
from .zeroshot import ZeroShotResult, zero_shot

__all__ = [
    "temperature_explorer", "TemperatureExplorer", "scaled_softmax",
    "upload_classifier", "UploadClassifier", "classify_upload",
    "prompt_comparator", "PromptComparator", "PromptComparison", "compare_prompts",
    "render_comparison",
    "threshold_explorer", "ThresholdExplorer", "ThresholdStats", "threshold_stats",
    "search_box", "SearchBox",
]

#: CLIP's learned ``logit_scale`` ends training at its clamp, 100 (a temperature of 0.01).
CLIP_LOGIT_SCALE = 100.0

_BEST = "#f28e2b"   # the winning cell's bar (matplotlib's tab:orange, as in plots.plot_probs)
_OTHER = "#4e79a7"  # every other bar (tab:blue)
_BAD = "#b3261e"    # warnings and errors


# -- shared rendering helpers ------------------------------------------------------------------
def _show(output: widgets.Output, markup: str, text: str) -> None:
    """Replace what ``output`` shows with one HTML display (plain text for other front ends)."""
    output.outputs = ({"output_type": "display_data",
                       "data": {"text/html": markup, "text/plain": text},
                       "metadata": {}},)


def _shown_html(output: widgets.Output) -> str:
    """The HTML an ``Output`` currently shows (what tests and benchmarks read back)."""
    return "".join(o.get("data", {}).get("text/html", "") for o in output.outputs)


def _bar(value: float, best: bool, width_px: int = 60) -> str:
    """An inline bar of ``value`` in [0, 1] followed by the number, kept on one line."""
    width = max(0.0, min(1.0, value)) * width_px
    colour = _BEST if best else _OTHER
    weight = "font-weight:bold;" if best else ""
    return (f'<span class="cc-bar" style="white-space:nowrap">'
            f'<span style="display:inline-block;width:{width:.0f}px;height:0.75em;'
            f'background:{colour};margin-right:4px;vertical-align:middle"></span>'
            f'<span style="{weight}font-variant-numeric:tabular-nums">{value:.3f}</span></span>')


def _small_style(warning: bool) -> str:
    return f"color:{_BAD}" if warning else "opacity:0.75"  # readable on light and dark themes


def _error_html(message: str) -> str:
    return (f'<div class="cc-error" style="color:{_BAD};border-left:3px solid {_BAD};'
            f'padding:4px 8px"><b>Error:</b> {html.escape(message)}</div>')


def _note_html(message: str) -> str:
    return f'<div style="opacity:0.75;padding:4px 0">{html.escape(message)}</div>'


def _thumbnail_uri(image: Any, max_px: int = 64) -> str:
    """A small PNG or JPEG (whichever is smaller) of ``image`` as a ``data:`` URI."""
    picture = load_image(image)
    picture.thumbnail((max_px, max_px), Image.Resampling.BICUBIC)
    encoded = {}
    for kind, options in (("png", {"optimize": True}), ("jpeg", {"quality": 85})):
        buffer = io.BytesIO()
        picture.save(buffer, format=kind.upper(), **options)
        encoded[kind] = buffer.getvalue()
    kind = min(encoded, key=lambda k: len(encoded[k]))  # flat drawings: PNG; photos: JPEG
    return f"data:image/{kind};base64," + base64.b64encode(encoded[kind]).decode("ascii")


def _as_image_and_name(item: Any, position: int) -> tuple[Any, str]:
    """Accept ``cc.SampleImage``-like objects (``.image`` and ``.name``), paths and images."""
    if hasattr(item, "image") and hasattr(item, "name"):
        return item.image, str(item.name)
    if isinstance(item, (str, os.PathLike)):
        return item, Path(item).name
    return item, f"image {position}"


# -- lesson 02: temperature ----------------------------------------------------------------------
#: The temperature slider's step in log10(logit_scale): fine enough that the value the browser
#: snaps to reads out (one decimal) as the model's own logit_scale.
_LOG_STEP = 0.0001


def _snapped(value: float, step: float = _LOG_STEP) -> float:
    """The value a ``FloatLogSlider`` (base 10) shows for ``value``: its exponent rounded to
    ``step``."""
    return 10 ** (round(math.log10(value) / step) * step)


def scaled_softmax(similarity, logit_scale: float) -> np.ndarray:
    """Probabilities ``softmax(logit_scale * similarity)`` over the last axis.

    ``logit_scale`` is the inverse temperature: CLIP multiplies cosine similarities by it
    before the softmax. Large values sharpen the distribution, small ones flatten it.

    Parameters
    ----------
    similarity : array or tensor ``[n_labels]`` or ``[n_images, n_labels]``
        Cosine similarities.
    logit_scale : float
        Must be positive.

    Returns
    -------
    numpy.ndarray
        Same shape as ``similarity``; the last axis sums to 1.

    Examples
    --------
    >>> scaled_softmax([0.30, 0.25], 100.0).round(3)
    array([0.993, 0.007])
    >>> scaled_softmax([0.30, 0.25], 1.0).round(3)
    array([0.512, 0.488])

    Introduced in ``02_cosine_similarity.ipynb``.
    """
    if not logit_scale > 0:
        raise ValueError(f"logit_scale must be positive, not {logit_scale}")
    values = torch.as_tensor(np.asarray(similarity, dtype=np.float64))
    return (logit_scale * values).softmax(dim=-1).numpy()


class TemperatureExplorer(widgets.VBox):
    """A log-scale slider over ``logit_scale`` and the softmax it gives (see
    :func:`temperature_explorer`).

    Attributes
    ----------
    slider : ipywidgets.FloatLogSlider
    output : ipywidgets.Output
    similarity : numpy.ndarray ``[n_labels]``
    labels : list of str
    """

    def __init__(self, similarity, labels: Sequence[str], logit_scale: float = CLIP_LOGIT_SCALE,
                 *, title: str | None = None):
        similarity = np.asarray(torch.as_tensor(similarity).detach().float().cpu(),
                                dtype=np.float64)
        if similarity.ndim == 2 and similarity.shape[0] == 1:
            similarity = similarity[0]
        if similarity.ndim != 1:
            raise ValueError(
                f"temperature_explorer shows one image: pass its similarities as [n_labels], "
                f"e.g. similarity[0], not shape {tuple(similarity.shape)}")
        if len(labels) != len(similarity):
            raise ValueError(f"{len(labels)} labels for {len(similarity)} similarities")
        self.similarity = similarity
        self.labels = [str(label) for label in labels]
        self.marked = float(logit_scale)
        self.title = title
        top = max(CLIP_LOGIT_SCALE, self.marked)
        # The browser snaps the slider to a multiple of `step` in log10 space; at 0.01 the
        # bundled model's 17.73 became 17.78, read out as 17.8 beside a text saying 17.7.
        self.slider = widgets.FloatLogSlider(
            value=_snapped(min(max(self.marked, 1.0), top)), base=10, min=0.0,
            max=math.log10(top),
            step=_LOG_STEP, description="logit_scale", readout_format=".1f",
            continuous_update=True, style={"description_width": "initial"},
            layout=widgets.Layout(width="480px"))
        self.output = widgets.Output()
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        super().__init__([self.slider, self.output])
        self.add_class("cc-temperature-explorer")
        self.update(self.slider.value)

    def update(self, logit_scale: float) -> np.ndarray:
        """Redraw the table for ``logit_scale``; returns the probabilities ``[n_labels]``."""
        probs = scaled_softmax(self.similarity, logit_scale)
        best = int(np.argmax(probs))
        entropy = float(-(probs * np.log2(np.clip(probs, 1e-300, None))).sum())
        marks = [f"CLIP's learned value is {CLIP_LOGIT_SCALE:g} (its clamp)"]
        if not math.isclose(self.marked, CLIP_LOGIT_SCALE, rel_tol=1e-3):
            # as the slider shows it at its start (snapped to its step), to the same decimal
            marks.append(f"this model's is {_snapped(self.marked):.1f}")
        rows = "".join(
            f"<tr><td>{html.escape(label)}</td>"
            f'<td style="text-align:right">{cos:+.3f}</td>'
            f'<td style="text-align:right">{logit_scale * cos:+.2f}</td>'
            f"<td>{_bar(float(p), i == best, 120)}</td></tr>"
            for i, (label, cos, p) in enumerate(zip(self.labels, self.similarity, probs)))
        heading = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        markup = (
            f'<div class="cc-temperature-output">{heading}'
            f"logit_scale = <b>{logit_scale:.1f}</b> (temperature {1 / logit_scale:.3f}); "
            f"top probability <b>{probs[best]:.3f}</b>; entropy {entropy:.2f} bits "
            f"(uniform: {math.log2(len(probs)):.2f}). {'; '.join(marks)}."
            '<table style="border-collapse:collapse;margin-top:4px"><tr><th>label</th>'
            "<th>cosine</th><th>logit = scale × cosine</th><th>probability</th></tr>"
            f"{rows}</table></div>")
        text = "\n".join(f"{label}: cos {cos:+.3f}  p {p:.3f}"
                         for label, cos, p in zip(self.labels, self.similarity, probs))
        _show(self.output, markup, f"logit_scale={logit_scale:.1f}\n{text}")
        return probs


def temperature_explorer(similarity, labels: Sequence[str],
                         logit_scale: float = CLIP_LOGIT_SCALE, *,
                         title: str | None = None) -> TemperatureExplorer:
    """Slide the temperature and watch one image's softmax sharpen or flatten.

    The slider runs over ``logit_scale`` (the inverse temperature) on a log scale from 1 to 100,
    CLIP's learned value (training clamps it at 100). For each label the table shows the cosine
    similarity, the logit ``logit_scale * cosine`` and the softmax probability as a bar.

    Parameters
    ----------
    similarity : tensor or array ``[n_labels]`` (or ``[1, n_labels]``)
        One image's cosine similarities with the label prompts.
    labels : sequence of str
    logit_scale : float
        Where the slider starts and the value it marks, e.g. ``model.logit_scale``. Values above
        100 extend the slider.
    title : str, optional
        A line above the table, e.g. the image's name.

    Returns
    -------
    TemperatureExplorer
        Displays as the widget; ``.slider``, ``.output`` and ``.update(logit_scale)`` for tests.

    Examples
    --------
    >>> cc.widgets.temperature_explorer(similarity[0], labels, model.logit_scale)  # doctest: +SKIP

    Introduced in ``02_cosine_similarity.ipynb``.
    """
    return TemperatureExplorer(similarity, labels, logit_scale, title=title)


# -- lesson 03: classify your own photo -----------------------------------------------------------
def classify_upload(model, content, labels: Sequence, templates: Sequence[str] | None = None,
                    *, name: str | None = None) -> ZeroShotResult:
    """Zero-shot classify one uploaded file (its bytes) among ``labels``.

    Parameters
    ----------
    model : Model
    content : bytes, memoryview, path or PIL image
        What an ``ipywidgets.FileUpload`` holds in ``value[0]["content"]``.
    labels : sequence of str
    templates : sequence of str, optional
        Prompt templates (default: ``"a photo of a {}."``).
    name : str, optional
        The file's name, used in error messages.

    Returns
    -------
    ZeroShotResult

    Raises
    ------
    clipcourse.ImageLoadError
        The file is not a readable image (the message says why).
    ValueError
        No labels, or an empty label.

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    image = load_image(content, name=name)  # name only labels bytes in error messages
    return zero_shot(model, [image], list(labels), templates)


def _parse_labels(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


class UploadClassifier(widgets.VBox):
    """An upload button, a label box and the top-k answer (see :func:`upload_classifier`).

    Attributes
    ----------
    upload : ipywidgets.FileUpload
    labels : ipywidgets.Text
        Comma-separated class names; editing them re-classifies the last image.
    output : ipywidgets.Output
    result : ZeroShotResult or None
        The last successful classification.
    """

    def __init__(self, model, labels: Sequence[str], templates: Sequence[str] | None = None,
                 k: int = 5):
        self.model = model
        self.templates = templates
        self.k = k
        self.result: ZeroShotResult | None = None
        self._image = None  # the last uploaded image, RGB
        self._name = ""
        self._thumbnail = ""
        # The default button width (148 px) cuts "Upload a photo (1)" to "Upload a phot…"
        self.upload = widgets.FileUpload(accept="image/*", multiple=False,
                                         description="Upload a photo",
                                         layout=widgets.Layout(width="auto"))
        self.labels = widgets.Text(value=", ".join(map(str, labels)), description="Labels",
                                   continuous_update=False,
                                   layout=widgets.Layout(width="600px"))
        self.output = widgets.Output()
        self.upload.observe(self._on_upload, names="value")
        self.labels.observe(lambda change: self._classify(), names="value")
        super().__init__([widgets.HBox([self.upload]), self.labels, self.output])
        self.add_class("cc-upload-classifier")
        _show(self.output, _note_html("Upload an image (PNG, JPEG, GIF, WebP...) to classify it."),
              "Upload an image to classify it.")

    def _on_upload(self, change) -> None:
        files = change["new"]
        if isinstance(files, dict):  # ipywidgets 7 kept a dict keyed by file name
            files = list(files.values())
        if not files:
            return
        file = files[-1]
        self.classify(file["content"], name=file.get("name") or "upload")

    def classify(self, content, name: str = "upload") -> ZeroShotResult | None:
        """Classify ``content`` (bytes, path or image) and show the answer, or the error."""
        self._name = name
        try:
            self._image = load_image(content, name=name)
        except (ValueError, FileNotFoundError) as err:  # ImageLoadError is a ValueError
            self._image = None
            self.result = None
            _show(self.output, _error_html(f"could not read {name!r} as an image. {err}"),
                  f"Error: could not read {name!r} as an image. {err}")
            return None
        self._thumbnail = _thumbnail_uri(self._image, 160)
        return self._classify()

    def _classify(self) -> ZeroShotResult | None:
        if self._image is None:
            return None
        labels = _parse_labels(self.labels.value)
        if not labels:
            _show(self.output, _error_html("type at least one label (comma-separated)."),
                  "Error: type at least one label.")
            return None
        try:
            result = zero_shot(self.model, [self._image], labels, self.templates)
        except ValueError as err:
            _show(self.output, _error_html(str(err)), f"Error: {err}")
            return None
        self.result = result
        top = result.top_k(self.k)[0]
        best_cos = float(result.similarity[0].max())
        rows = "".join(f"<tr><td>{html.escape(label)}</td><td>{_bar(p, i == 0, 160)}</td></tr>"
                       for i, (label, p) in enumerate(top))
        markup = (
            '<div class="cc-upload-output" style="display:flex;gap:16px;align-items:flex-start">'
            f'<img src="{self._thumbnail}" alt="{html.escape(self._name)}" '
            'style="max-width:160px;max-height:160px">'
            f"<div><b>{html.escape(self._name)}</b>: top {len(top)} of {len(labels)} labels "
            f"(softmax with logit_scale {self.model.logit_scale:.1f})"
            f'<table style="border-collapse:collapse">{rows}</table>'
            f'<small>Best cosine similarity: {best_cos:.3f}. The probabilities always sum to 1, '
            "even for a photo that matches none of the labels.</small></div></div>")
        text = "\n".join(f"{label}: {p:.3f}" for label, p in top)
        _show(self.output, markup, f"{self._name}\n{text}")
        return result


def upload_classifier(model, labels: Sequence[str], templates: Sequence[str] | None = None,
                      k: int = 5) -> UploadClassifier:
    """Classify your own photo: upload it, type labels, see the top-k probabilities.

    The upload goes through :func:`clipcourse.load_image` (EXIF rotation, transparency, odd
    modes), then :func:`clipcourse.zero_shot`. A file that is not an image shows a clear error
    message in the output instead of a traceback.

    Parameters
    ----------
    model : Model
    labels : sequence of str
        The starting labels; the learner can edit them (comma-separated) in the text box, which
        re-classifies the last upload when it loses focus or on Enter.
    templates : sequence of str, optional
        Prompt templates (default ``"a photo of a {}."``).
    k : int
        How many labels to show.

    Returns
    -------
    UploadClassifier
        Displays as the widget; ``.upload``, ``.labels``, ``.output``, ``.classify(bytes)``.

    Examples
    --------
    >>> cc.widgets.upload_classifier(model, ["cat", "dog", "corgi"])  # doctest: +SKIP

    Introduced in ``03_zero_shot_classification.ipynb``.
    """
    return UploadClassifier(model, labels, templates, k)


# -- lesson 04: the prompt comparator -----------------------------------------------------------
@dataclass
class PromptComparison:
    """What :func:`compare_prompts` returns: the numbers behind the comparator's table.

    Attributes
    ----------
    prompts : list of str
        The prompts, in column order (blank lines and repeats removed).
    similarity : torch.Tensor ``[n_images, n_prompts]``
        Cosine similarities.
    probs : torch.Tensor ``[n_images, n_prompts]``
        ``softmax(logit_scale * similarity)`` over the prompts of each image (rows sum to 1).
    token_counts : list of int
        Tokens per prompt, counting the start and end tokens.
    context_length : int
        The model's limit; longer prompts were truncated.
    logit_scale : float
    """

    prompts: list
    similarity: torch.Tensor
    probs: torch.Tensor
    token_counts: list
    context_length: int
    logit_scale: float

    @property
    def truncated(self) -> list[bool]:
        """For each prompt, whether it is longer than the model reads."""
        return [n > self.context_length for n in self.token_counts]


def _parse_prompts(prompts: str | Sequence[str]) -> list[str]:
    """One prompt per line; blank lines and repeated prompts are dropped (order kept)."""
    lines = prompts.splitlines() if isinstance(prompts, str) else list(prompts)
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def compare_prompts(model, image_features: torch.Tensor,
                    prompts: str | Sequence[str]) -> PromptComparison:
    """Softmax over ``prompts`` for each image: which prompt does each image pick, how surely?

    Only prompts the model has not seen before are encoded (``Model.encode_texts`` remembers
    the others), so after an edit of one line this costs one short text-encoder pass plus a
    ``[n_images, n_prompts]`` matrix product.

    Parameters
    ----------
    model : Model
    image_features : torch.Tensor ``[n_images, embed_dim]``
        Unit-norm image embeddings (``model.encode_images(images)``).
    prompts : str or sequence of str
        A string is split into lines, one prompt per line. Blank lines and repeats are dropped.

    Returns
    -------
    PromptComparison
        ``.probs`` ``[n_images, n_prompts]`` (rows sum to 1), ``.similarity``,
        ``.token_counts`` and ``.truncated`` per prompt.

    Examples
    --------
    >>> image_features = model.encode_images(images)  # doctest: +SKIP
    >>> cc.widgets.compare_prompts(model, image_features, ["red circle", "a red circle."]).probs
    ... # doctest: +SKIP

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    prompts = _parse_prompts(prompts)
    token_counts = [model.token_count(p) for p in prompts]
    logit_scale = model.logit_scale
    if not prompts:
        empty = torch.empty(len(image_features), 0)
        return PromptComparison([], empty, empty, [], model.context_length, logit_scale)
    with warnings.catch_warnings():  # the comparator shows its own, visible, warning
        warnings.simplefilter("ignore", TruncationWarning)
        text_features = model.encode_texts(prompts)  # [n_prompts, embed_dim]
    similarity = image_features @ text_features.T  # [n_images, n_prompts]
    probs = (logit_scale * similarity).softmax(dim=-1)  # [n_images, n_prompts]
    return PromptComparison(prompts, similarity, probs, token_counts, model.context_length,
                            logit_scale)


def render_comparison(comparison: PromptComparison, names: Sequence[str],
                      thumbnails: Sequence[str] | None = None, model_name: str = "") -> str:
    """The comparator's HTML: one row per image, one column per prompt, bars for probabilities.

    Each row's most probable prompt is drawn in orange and bold. Each column header shows the
    prompt and its token count, and a prompt longer than the model's context carries a warning
    (also listed above the table). Hover a cell for its cosine similarity.

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    if not comparison.prompts:
        return _note_html("Type at least one prompt, one per line.")
    limit = comparison.context_length
    model_name = model_name or "the model"
    parts = []
    for n, (prompt, count) in enumerate(zip(comparison.prompts, comparison.token_counts), 1):
        if count > limit:
            parts.append(
                f'<div class="cc-truncation-warning" style="color:{_BAD}">⚠ Prompt {n} has '
                f"{count} tokens; {html.escape(model_name)} reads at most {limit}, so it will be "
                f"truncated: the words after token {limit} are ignored.</div>")
    # A header shows at most 3 lines of its prompt (all of it on hover), so a long prompt
    # does not make the table tens of lines tall; the token count stays visible below it.
    header = "".join(
        f'<th style="text-align:left;vertical-align:bottom;padding:2px 8px;min-width:120px;'
        f'max-width:220px" title="{html.escape(prompt)}">'
        f'<div class="cc-prompt-header" style="display:-webkit-box;-webkit-box-orient:vertical;'
        f'-webkit-line-clamp:3;line-clamp:3;overflow:hidden;overflow-wrap:anywhere">'
        f"{html.escape(prompt)}</div>"
        f'<small style="font-weight:normal;{_small_style(count > limit)}">'
        f"{count} tokens{' ⚠ truncated' if count > limit else ''}</small></th>"
        for prompt, count in zip(comparison.prompts, comparison.token_counts))
    probs = comparison.probs.tolist()
    similarity = comparison.similarity.tolist()
    best = comparison.probs.argmax(dim=-1).tolist()
    rows = []
    for i, name in enumerate(names):
        picture = (f'<img src="{thumbnails[i]}" style="height:40px;vertical-align:middle;'
                   f'margin-right:6px">' if thumbnails else "")
        cells = "".join(
            f'<td style="padding:2px 8px" title="cosine {s:.3f}">{_bar(p, j == best[i])}</td>'
            for j, (p, s) in enumerate(zip(probs[i], similarity[i])))
        rows.append(f'<tr><td style="padding:2px 8px;white-space:nowrap">{picture}'
                    f"{html.escape(name)}</td>{cells}</tr>")
    parts.append(  # in a column narrower than the table, the table scrolls sideways
        '<div style="overflow-x:auto"><table style="border-collapse:collapse"><tr>'
        '<th style="text-align:left;vertical-align:bottom;padding:2px 8px">'
        f"image</th>{header}</tr>{''.join(rows)}</table></div>"
        f'<small style="opacity:0.75">Each row: softmax over the prompts with logit_scale '
        f"{comparison.logit_scale:.1f}; hover a cell for its cosine similarity.</small>")
    return "".join(parts)


def _comparison_text(comparison: PromptComparison, names: Sequence[str]) -> str:
    if not comparison.prompts:
        return "Type at least one prompt, one per line."
    limit = comparison.context_length
    header = [f"{p} ({n} tokens{', TRUNCATED' if n > limit else ''})"
              for p, n in zip(comparison.prompts, comparison.token_counts)]
    lines = [" | ".join(["image"] + header)]
    for name, row in zip(names, comparison.probs.tolist()):
        lines.append(" | ".join([name] + [f"{p:.3f}" for p in row]))
    return "\n".join(lines)


class PromptComparator(widgets.VBox):
    """A prompt box and a live probability table (see :func:`prompt_comparator`).

    Attributes
    ----------
    prompts : ipywidgets.Textarea
        One prompt per line (CSS class ``cc-prompt-input``).
    output : ipywidgets.Output
        The table (CSS class ``cc-comparator-output``).
    image_features : torch.Tensor ``[n_images, embed_dim]``
        Encoded once, when the comparator is built.
    names : list of str
    comparison : PromptComparison
        The numbers currently shown.
    """

    def __init__(self, model, images: Sequence, prompts: str | Sequence[str], *,
                 names: Sequence[str] | None = None, image_features: torch.Tensor | None = None,
                 continuous_update: bool = True, thumbnails: bool = True):
        items = [_as_image_and_name(item, i) for i, item in enumerate(images)]
        if not items:
            raise ValueError("prompt_comparator needs at least one image")
        pictures = [picture for picture, _ in items]
        self.model = model
        self.names = list(names) if names is not None else [name for _, name in items]
        if len(self.names) != len(items):
            raise ValueError(f"{len(self.names)} names for {len(items)} images")
        if image_features is None:
            image_features = model.encode_images(pictures)  # [n_images, embed_dim], once
        self.image_features = normalize(torch.as_tensor(image_features).float().cpu())
        self._thumbnails = [_thumbnail_uri(p, 80) for p in pictures] if thumbnails else None
        text = prompts if isinstance(prompts, str) else "\n".join(prompts)
        self.prompts = widgets.Textarea(
            value=text, continuous_update=continuous_update,
            placeholder="one prompt per line", description="Prompts",
            rows=max(3, text.count("\n") + 2), layout=widgets.Layout(width="600px"))
        self.prompts.add_class("cc-prompt-input")
        self.output = widgets.Output()
        self.output.add_class("cc-comparator-output")
        self.prompts.observe(lambda change: self.update(change["new"]), names="value")
        super().__init__([self.prompts, self.output])
        self.add_class("cc-prompt-comparator")
        self.comparison: PromptComparison
        self.update(text)

    def update(self, text: str | Sequence[str]) -> PromptComparison:
        """Recompute and redraw the table for ``text`` (one prompt per line).

        This is the whole refresh path of an edit; benchmarks time it.
        """
        comparison = compare_prompts(self.model, self.image_features, text)
        markup = render_comparison(comparison, self.names, self._thumbnails,
                                   getattr(self.model, "name", ""))
        _show(self.output, markup, _comparison_text(comparison, self.names))
        self.comparison = comparison
        return comparison


def prompt_comparator(model, images: Sequence, prompts: str | Sequence[str], *,
                      names: Sequence[str] | None = None,
                      image_features: torch.Tensor | None = None,
                      continuous_update: bool = True) -> PromptComparator:
    """Edit prompts and watch every image's probabilities change as you type.

    A text box with one prompt per line, and a table with one row per image and one column per
    prompt: the softmax over the prompts (``model.logit_scale`` applied) as inline bars, each
    prompt's token count, and a visible warning for a prompt longer than
    ``model.context_length`` (CLIP would truncate it).

    The images are encoded once, here. Each edit goes through :func:`compare_prompts`, where
    ``Model.encode_texts`` re-encodes only prompts it has not seen, so typing in one line costs
    one short text-encoder pass.

    Parameters
    ----------
    model : Model
    images : sequence of paths, PIL images or ``cc.SampleImage``
        The rows. ``SampleImage``-like items (with ``.image`` and ``.name``) name their row.
    prompts : str or sequence of str
        The starting prompts (a string: one per line).
    names : sequence of str, optional
        Row names (default: sample names, file names, or "image 0", "image 1"...).
    image_features : tensor ``[n_images, embed_dim]``, optional
        Already encoded images, to skip encoding them again.
    continuous_update : bool
        ``True`` (default): the table refreshes on every keystroke. ``False``: it refreshes
        when the box loses focus (click outside it); Enter only adds a line.

    Returns
    -------
    PromptComparator
        Displays as the widget; ``.prompts`` (the ``Textarea``, CSS class
        ``cc-prompt-input``), ``.output`` (CSS class ``cc-comparator-output``),
        ``.update(text)`` and ``.comparison``.

    Examples
    --------
    >>> cc.widgets.prompt_comparator(model, samples, ["cat", "a photo of a cat."])  # doctest: +SKIP

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    return PromptComparator(model, images, prompts, names=names, image_features=image_features,
                            continuous_update=continuous_update)


# -- lesson 05: an "I don't know" threshold -----------------------------------------------------
@dataclass
class ThresholdStats:
    """What answering only above a similarity threshold gives (see :func:`threshold_stats`).

    Attributes
    ----------
    threshold : float
    n_matched, n_unmatched : int
        How many scores of each kind there are.
    matched_answered, unmatched_answered : int
        How many of each are at or above the threshold.
    coverage : float
        Fraction of all images answered (score at or above the threshold).
    precision : float
        Fraction of the answered ones that are matched (correct); NaN if none is answered.
    matched_kept : float
        Fraction of matched images still answered (recall).
    unmatched_rejected : float
        Fraction of unmatched images turned into "I don't know".
    """

    threshold: float
    n_matched: int
    n_unmatched: int
    matched_answered: int
    unmatched_answered: int

    @property
    def answered(self) -> int:
        return self.matched_answered + self.unmatched_answered

    @property
    def coverage(self) -> float:
        total = self.n_matched + self.n_unmatched
        return self.answered / total if total else float("nan")

    @property
    def precision(self) -> float:
        return self.matched_answered / self.answered if self.answered else float("nan")

    @property
    def matched_kept(self) -> float:
        return self.matched_answered / self.n_matched if self.n_matched else float("nan")

    @property
    def unmatched_rejected(self) -> float:
        return 1 - self.unmatched_answered / self.n_unmatched if self.n_unmatched else float("nan")


def _scores(values) -> np.ndarray:
    return np.asarray(torch.as_tensor(values).detach().float().cpu(), dtype=np.float64).ravel()


def threshold_stats(matched, unmatched, threshold: float) -> ThresholdStats:
    """Coverage and precision of answering only when the similarity reaches ``threshold``.

    CLIP's softmax always sums to 1, so it never says "I don't know". One remedy is to answer
    only when the best cosine similarity is at least a threshold. Give each image's best score,
    split by whether the answer would be right (``matched``: e.g. in-distribution images with
    a correct top label) or not (``unmatched``: wrong answers, or images none of the labels
    describe).

    Parameters
    ----------
    matched, unmatched : array or tensor of float
        Cosine similarities.
    threshold : float

    Returns
    -------
    ThresholdStats
        ``.coverage`` (fraction answered), ``.precision`` (fraction of answers that are right),
        ``.matched_kept``, ``.unmatched_rejected``.

    Examples
    --------
    >>> stats = threshold_stats([0.30, 0.28, 0.22], [0.21, 0.18], 0.25)
    >>> stats.coverage, stats.precision
    (0.4, 1.0)

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    matched, unmatched = _scores(matched), _scores(unmatched)
    return ThresholdStats(float(threshold), len(matched), len(unmatched),
                          int((matched >= threshold).sum()), int((unmatched >= threshold).sum()))


def _histogram_svg(matched: np.ndarray, unmatched: np.ndarray, low: float, high: float,
                   threshold: float, bins: int = 30) -> str:
    """Two overlaid histograms and a vertical threshold line, as inline SVG."""
    width, height, pad = 480, 120, 14
    edges = np.linspace(low, high, bins + 1)
    counts = [np.histogram(values, edges)[0] for values in (matched, unmatched)]
    peak = max(1, max(int(c.max()) if len(c) else 0 for c in counts))
    bar_w = width / bins
    shapes = []
    for c, colour in zip(counts, (_OTHER, _BEST)):
        for i, n in enumerate(c):
            if n:
                h = (height - pad) * n / peak
                shapes.append(f'<rect x="{i * bar_w:.1f}" y="{height - h:.1f}" '
                              f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{colour}" '
                              'fill-opacity="0.55"/>')
    x = (threshold - low) / (high - low) * width if high > low else 0
    shapes.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="{_BAD}" '
                  'stroke-width="2"/>')
    shapes.append(f'<text x="2" y="{height + 12}" font-size="10">{low:.2f}</text>'
                  f'<text x="{width - 30}" y="{height + 12}" font-size="10">{high:.2f}</text>')
    return (f'<svg width="{width}" height="{height + 16}" xmlns="http://www.w3.org/2000/svg">'
            f"{''.join(shapes)}</svg>")


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1%}"


class ThresholdExplorer(widgets.VBox):
    """A threshold slider over two score histograms (see :func:`threshold_explorer`).

    Attributes
    ----------
    slider : ipywidgets.FloatSlider
    output : ipywidgets.Output
    stats : ThresholdStats
        The numbers currently shown.
    """

    def __init__(self, matched, unmatched, threshold: float | None = None, *,
                 matched_name: str = "matched", unmatched_name: str = "unmatched"):
        self.matched, self.unmatched = _scores(matched), _scores(unmatched)
        everything = np.concatenate([self.matched, self.unmatched])
        if everything.size == 0:
            raise ValueError("threshold_explorer needs at least one score")
        self.matched_name, self.unmatched_name = matched_name, unmatched_name
        self.low = math.floor(everything.min() * 100) / 100
        self.high = math.ceil(everything.max() * 100) / 100
        if self.high <= self.low:
            self.high = self.low + 0.01
        if threshold is None:
            threshold = round((self.low + self.high) / 2, 3)
        self.slider = widgets.FloatSlider(
            value=threshold, min=self.low, max=self.high, step=0.001, readout_format=".3f",
            description="threshold", continuous_update=True,
            layout=widgets.Layout(width="480px"))
        self.output = widgets.Output()
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        super().__init__([self.slider, self.output])
        self.add_class("cc-threshold-explorer")
        self.update(self.slider.value)

    def update(self, threshold: float) -> ThresholdStats:
        """Redraw for ``threshold``; returns the :class:`ThresholdStats`."""
        stats = threshold_stats(self.matched, self.unmatched, threshold)
        self.stats = stats
        m, u = html.escape(self.matched_name), html.escape(self.unmatched_name)
        markup = (
            '<div class="cc-threshold-output">'
            f"{_histogram_svg(self.matched, self.unmatched, self.low, self.high, threshold)}"
            f'<div><span style="color:{_OTHER}">■</span> {m} ({stats.n_matched}) '
            f'<span style="color:{_BEST}">■</span> {u} ({stats.n_unmatched}) '
            f'<span style="color:{_BAD}">|</span> threshold {threshold:.3f}</div>'
            '<table style="border-collapse:collapse;margin-top:4px">'
            f"<tr><td>coverage (answered)</td><td><b>{_percent(stats.coverage)}</b> "
            f"({stats.answered} of {stats.n_matched + stats.n_unmatched})</td></tr>"
            f"<tr><td>precision (answers that are {m})</td>"
            f"<td><b>{_percent(stats.precision)}</b></td></tr>"
            f"<tr><td>{m} kept</td><td>{_percent(stats.matched_kept)} "
            f"({stats.matched_answered} of {stats.n_matched})</td></tr>"
            f"<tr><td>{u} turned into \"I don't know\"</td>"
            f"<td>{_percent(stats.unmatched_rejected)} "
            f"({stats.n_unmatched - stats.unmatched_answered} of {stats.n_unmatched})</td></tr>"
            "</table></div>")
        text = (f"threshold {threshold:.3f}: coverage {_percent(stats.coverage)}, "
                f"precision {_percent(stats.precision)}")
        _show(self.output, markup, text)
        return stats


def threshold_explorer(matched, unmatched, threshold: float | None = None, *,
                       matched_name: str = "matched",
                       unmatched_name: str = "unmatched") -> ThresholdExplorer:
    """Slide a cosine-similarity threshold and see what an "I don't know" rule costs and buys.

    Shows the two score histograms with the threshold as a line, and below them the coverage
    (fraction answered), the precision (fraction of answers that are right), the fraction of
    matched images kept and of unmatched ones rejected; :func:`threshold_stats` computes them.

    Parameters
    ----------
    matched, unmatched : array or tensor of float
        Best cosine similarity of each image whose answer is right (``matched``) or wrong /
        out of distribution (``unmatched``).
    threshold : float, optional
        Where the slider starts (default: the middle of the range).
    matched_name, unmatched_name : str
        How to call the two groups in the legend, e.g. ``"shapes"``, ``"photos"``.

    Returns
    -------
    ThresholdExplorer
        Displays as the widget; ``.slider``, ``.output``, ``.update(threshold)``, ``.stats``.

    Examples
    --------
    >>> cc.widgets.threshold_explorer(right_scores, wrong_scores)  # doctest: +SKIP

    Introduced in ``05_failure_modes_lab.ipynb``.
    """
    return ThresholdExplorer(matched, unmatched, threshold, matched_name=matched_name,
                             unmatched_name=unmatched_name)


# -- lesson 07: image search ---------------------------------------------------------------------
class SearchBox(widgets.VBox):
    """A query box and a grid of the best matches (see :func:`search_box`).

    Attributes
    ----------
    query : ipywidgets.Text
    output : ipywidgets.Output
    results : list
        The hits currently shown (``index.search``'s items).
    """

    def __init__(self, index, k: int = 5, query: str = "", *, thumbnail_px: int = 128):
        self.index = index
        self.k = k
        self.thumbnail_px = thumbnail_px
        self.results: list = []
        self._thumbnails: dict[str, str] = {}
        self.query = widgets.Text(value=query, placeholder="a photo of a dog",
                                  description="Search", continuous_update=False,
                                  layout=widgets.Layout(width="480px"))
        self.query.add_class("cc-search-input")
        self.output = widgets.Output()
        self.output.add_class("cc-search-output")
        self.query.observe(lambda change: self.search(change["new"]), names="value")
        super().__init__([self.query, self.output])
        self.add_class("cc-search-box")
        self.search(query)

    def _thumbnail(self, path) -> str:
        key = str(path)
        if key not in self._thumbnails:
            try:
                self._thumbnails[key] = _thumbnail_uri(path, self.thumbnail_px)
            except (ValueError, OSError) as err:  # ImageLoadError is a ValueError
                self._thumbnails[key] = ""
                _warn(f"Could not show {key}: {err}", UserWarning)  # at the learner's cell
        return self._thumbnails[key]

    def search(self, query: str) -> list:
        """Run ``index.search(query, k)`` and show the hits; returns them."""
        query = query.strip()
        if not query:
            self.results = []
            _show(self.output, _note_html("Type a description and press Enter."),
                  "Type a description and press Enter.")
            return []
        try:
            results = list(self.index.search(query, self.k))
        except (ValueError, TypeError) as err:
            self.results = []
            _show(self.output, _error_html(str(err)), f"Error: {err}")
            return []
        self.results = results
        cards = []
        for position, hit in enumerate(results, 1):
            rank = getattr(hit, "rank", position)
            name = Path(hit.path).name
            uri = self._thumbnail(hit.path)
            picture = (f'<img src="{uri}" alt="{html.escape(name)}" style="max-width:'
                       f'{self.thumbnail_px}px;max-height:{self.thumbnail_px}px">' if uri
                       else f'<div style="color:{_BAD}">(unreadable)</div>')
            cards.append(
                f'<figure style="margin:0;text-align:center;width:{self.thumbnail_px + 8}px">'
                f"{picture}<figcaption><small>#{rank} · {hit.score:.3f}<br>"
                f"{html.escape(name)}</small></figcaption></figure>")
        markup = (f'<div><b>{html.escape(query)}</b>: top {len(results)} by cosine similarity'
                  '<div style="display:flex;flex-wrap:wrap;gap:8px;margin-top:4px">'
                  f"{''.join(cards)}</div></div>")
        text = "\n".join(f"#{getattr(h, 'rank', i)} {h.score:.3f} {h.path}"
                         for i, h in enumerate(results, 1))
        _show(self.output, markup, f"{query}\n{text}")
        return results


def search_box(index, k: int = 5, query: str = "") -> SearchBox:
    """Type a description, get the ``k`` most similar images of an index with their scores.

    Parameters
    ----------
    index : clipcourse.search.ImageIndex or anything with ``.search(query, k)``
        ``.search`` returns items with ``.path``, ``.score`` and (optionally) ``.rank``.
    k : int
        How many images to show.
    query : str
        A first query to show.

    Returns
    -------
    SearchBox
        Displays as the widget; ``.query`` (``Text``; searches on Enter or when it loses focus),
        ``.output``, ``.search(query)`` and ``.results``.

    Examples
    --------
    >>> index = cc.search.ImageIndex(model, folder)  # doctest: +SKIP
    >>> cc.widgets.search_box(index, k=6, query="a red circle")  # doctest: +SKIP

    Introduced in ``07_image_search.ipynb``.
    """
    return SearchBox(index, k, query)
