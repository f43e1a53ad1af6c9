"""The incidental plotting code of the lessons, so that a notebook cell shows only the idea.

Every function here makes its own figure with ``plt.subplots``, draws into it and returns the
``matplotlib.figure.Figure`` (its axes are ``fig.axes``). Nothing touches rcParams or any other
global state. Numbers may be torch tensors (on any device, any float type) or numpy arrays;
images may be PIL images, arrays or tensors, and go through :func:`clipcourse.load_image`.

In a notebook, end a plotting line with ``;`` or assign the result
(``fig = cc.plots.plot_similarity(...)``) when it is the last line of a cell: otherwise
Jupyter draws the figure once for pyplot and once more as the cell's value.

Functions, by the lesson that introduces them:

- ``image_grid``: a grid of images with titles (``00_setup_and_first_look.ipynb``)
- ``plot_embedding_map``: embeddings projected to 2-D by PCA (``01_embeddings.ipynb``)
- ``plot_similarity``: the text × image cosine-similarity table (``02_cosine_similarity.ipynb``)
- ``plot_histograms``: similarities of matched vs unmatched pairs (``02_cosine_similarity.ipynb``)
- ``plot_probs``: top-k zero-shot probabilities per image (``03_zero_shot_classification.ipynb``)
- ``plot_accuracy_by_group``: accuracy ± standard error per classifier and group
  (``04_prompt_engineering_and_ensembling.ipynb``)
- ``plot_curve``: training curves (the training lesson)
- ``plot_few_shot``, ``plot_interpolation``: k-shot probes against zero-shot, and WiSE-FT's
  weight mixing (``08_beyond_zero_shot.ipynb``)

References
----------
The similarity heatmap follows the figure of OpenAI's "Interacting with CLIP" notebook
(texts down the side, image thumbnails along the top, the value in each cell).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from .images import load_image

__all__ = [
    "image_grid",
    "plot_accuracy_by_group",
    "plot_curve",
    "plot_embedding_map",
    "plot_few_shot",
    "plot_histograms",
    "plot_interpolation",
    "plot_probs",
    "plot_similarity",
]


def plot_similarity(
    similarity: Any,
    images: Sequence[Any] | None,
    texts: Sequence[str],
    *,
    title: str | None = "Cosine similarity between text and image features",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    fmt: str = ".2f",
) -> Figure:
    """Heatmap of text × image similarities, with image thumbnails along the top.

    Introduced in `02_cosine_similarity.ipynb`.

    Parameters
    ----------
    similarity : tensor or array, shape [n_texts, n_images]
        For example ``text_features @ image_features.T`` of normalised features. CLIP's
        ``logits_per_image`` is [n_images, n_texts]: pass its ``.T``.
    images : sequence of images, length n_images, or None
        PIL images (or arrays) drawn above their columns; None labels the columns by number.
    texts : sequence of str, length n_texts
        The row labels.
    title : str or None
        Figure title; None for none.
    vmin, vmax : float, optional
        The colour scale; the data's minimum and maximum by default. OpenAI's notebook uses
        ``vmin=0.1, vmax=0.3``, the usual range of real CLIP similarities.
    cmap : str
        A matplotlib colour map name.
    fmt : str
        Format of the number written in each cell.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the heatmap, with one text per cell.

    Examples
    --------
    >>> samples = cc.sample_images()
    >>> similarity = text_features @ image_features.T  # [n_texts, n_images]
    >>> cc.plots.plot_similarity(similarity, [s.image for s in samples],
    ...                          [s.description for s in samples]);
    """
    values = _to_numpy(similarity)  # [n_texts, n_images]
    n_images_given = None if images is None else len(images)
    if values.ndim != 2:
        raise ValueError(f"similarity must be 2-D [n_texts, n_images], got shape {values.shape}.")
    if values.shape[0] != len(texts) or (
        n_images_given is not None and values.shape[1] != n_images_given
    ):
        hint = ""
        if n_images_given is not None and values.shape == (n_images_given, len(texts)):
            hint = (" It looks transposed: pass similarity.T"
                    " (logits_per_image is [n_images, n_texts]).")
        raise ValueError(
            f"similarity has shape {tuple(values.shape)} but there are {len(texts)} texts and "
            f"{n_images_given if n_images_given is not None else '?'} images; it must be "
            f"[n_texts, n_images].{hint}"
        )
    n_texts, n_images = values.shape
    label_inches = 0.085 * max((len(str(text)) for text in texts), default=0)
    thumb_rows = 1.2 if images is not None else 0.0
    fig, ax = plt.subplots(
        figsize=(1.0 + 0.9 * n_images + label_inches, 1.0 + 0.9 * (n_texts + thumb_rows)),
        layout="compressed",
    )
    heatmap = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    for row in range(n_texts):
        for col in range(n_images):
            value = values[row, col]
            red, green, blue, _ = heatmap.cmap(heatmap.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(col, row, format(value, fmt), ha="center", va="center",
                    color="white" if dark else "black", fontsize=10)

    ax.set_yticks(range(n_texts), labels=[str(text) for text in texts], fontsize=11)
    if images is None:
        ax.set_xticks(range(n_images), labels=[f"image {col}" for col in range(n_images)])
        top = -0.5
    else:
        ax.set_xticks([])
        for col, image in enumerate(images):
            thumbnail = _thumbnail(image, 160)  # [h, w, 3]
            height, width = thumbnail.shape[:2]
            box_w, box_h = (0.9, 0.9 * height / width) if width >= height else (
                0.9 * width / height, 0.9)
            # The y axis points down, so the image's first row goes at the smaller y.
            ax.imshow(thumbnail, extent=(col - box_w / 2, col + box_w / 2,
                                         -1.1 + box_h / 2, -1.1 - box_h / 2))
        top = -1.6
    ax.set_xlim(-0.5, n_images - 0.5)
    ax.set_ylim(n_texts - 0.5, top)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=13)
    return fig


def plot_probs(
    probs: Any,
    labels: Sequence[str],
    images: Sequence[Any] | None = None,
    top_k: int = 5,
    *,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
) -> Figure:
    """Top-k class probabilities as horizontal bars, one panel per image.

    Introduced in `03_zero_shot_classification.ipynb`.

    Parameters
    ----------
    probs : tensor or array, shape [n_images, n_labels] or [n_labels]
        Probabilities, e.g. ``(100.0 * image_features @ text_features.T).softmax(dim=-1)``.
    labels : sequence of str, length n_labels
        The class names.
    images : sequence of images, length n_images, optional
        When given, each image is drawn to the left of its bars.
    top_k : int
        How many classes to show per image (all of them if there are fewer).
    titles : sequence of str, length n_images, optional
        A title above each panel of bars, e.g. the true label.
    ncols : int, optional
        Images per row; 2 with thumbnails, 3 without, by default.

    Returns
    -------
    matplotlib.figure.Figure
        Per image one bar axes (with ``k`` bars, ``k`` y tick labels and ``k`` value
        texts), preceded by one thumbnail axes when ``images`` is given.

    Examples
    --------
    >>> probs = logits_per_image.softmax(dim=-1)  # [n_images, n_labels]
    >>> cc.plots.plot_probs(probs, class_names, images, top_k=3);
    """
    values = _to_numpy(probs)
    if values.ndim == 1:
        values = values[None, :]  # [1, n_labels]
    if values.ndim != 2 or values.shape[1] != len(labels):
        raise ValueError(
            f"probs has shape {tuple(values.shape)} but there are {len(labels)} labels; it "
            "must be [n_images, n_labels]."
        )
    n_images = values.shape[0]
    for name, given in (("images", images), ("titles", titles)):
        if given is not None and len(given) != n_images:
            raise ValueError(f"{len(given)} {name} for {n_images} rows of probs.")
    k = max(1, min(top_k, len(labels)))
    with_images = images is not None
    ncols = max(1, min(ncols or (2 if with_images else 3), n_images))
    nrows = math.ceil(n_images / ncols)
    panels = 2 if with_images else 1
    fig, axes = plt.subplots(
        nrows, ncols * panels, squeeze=False, layout="constrained",
        figsize=(ncols * (6.0 if with_images else 4.0), nrows * max(2.2, 0.4 * k + 0.9)),
        width_ratios=[1.0, 1.6] * ncols if with_images else None,
    )
    is_probability = values.min() >= 0.0 and values.max() <= 1.0
    for index in range(n_images):
        row, col = divmod(index, ncols)
        bars_ax = axes[row, col * panels + panels - 1]
        if with_images:
            image_ax = axes[row, col * panels]
            image_ax.imshow(_thumbnail(images[index], 224))
            image_ax.axis("off")
        order = np.argsort(-values[index], kind="stable")[:k]  # best first
        positions = np.arange(k)
        colours = ["tab:orange"] + ["tab:blue"] * (k - 1)
        bars = bars_ax.barh(positions, values[index, order], color=colours)
        bars_ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=9)
        bars_ax.set_yticks(positions, labels=[str(labels[j]) for j in order])
        bars_ax.invert_yaxis()  # the best class on top
        if is_probability:
            bars_ax.set_xlim(0, 1.25)
            bars_ax.set_xticks([0, 0.5, 1])
        for side in ("top", "right"):
            bars_ax.spines[side].set_visible(False)
        if titles is not None:
            bars_ax.set_title(str(titles[index]), fontsize=11)
    for extra in axes.flat[n_images * panels:]:
        extra.remove()
    return fig


_RIGHT = ("#1a7f37", "✓")  # (colour, mark) of a right prediction in image_grid
_WRONG = ("#cf222e", "✗")  # and of a wrong one


def image_grid(
    images: Sequence[Any],
    titles: Sequence[Any] | None = None,
    ncols: int = 4,
    *,
    size: float = 2.5,
    title: str | None = None,
    correct: Sequence[bool] | None = None,
) -> Figure:
    """A grid of images, each with an optional title (samples, search results).

    Introduced in `00_setup_and_first_look.ipynb`.

    Parameters
    ----------
    images : sequence of images
        PIL images, or arrays/tensors (``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``).
    titles : sequence, optional
        One title per image (anything printable; long ones are wrapped).
    ncols : int
        Images per row (fewer if there are fewer images).
    size : float
        Width and height of each cell, in inches.
    title : str, optional
        A title over the whole grid.
    correct : sequence of bool, optional
        Mark each image as a right (``True``: a green frame and "✓" before its title) or a
        wrong prediction (``False``: a red frame and "✗"), e.g. ``prediction == label``
        (introduced in ``06_train_your_own_clip.ipynb``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per image, axis lines off (a coloured frame with ``correct``).

    Examples
    --------
    >>> samples = cc.sample_images()
    >>> cc.plots.image_grid([s.image for s in samples], [s.name for s in samples]);
    """
    if len(images) == 0:
        raise ValueError("image_grid() got no images to show.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images.")
    if correct is not None and len(correct) != len(images):
        raise ValueError(f"{len(correct)} right/wrong marks for {len(images)} images.")
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    extra_height = 0.45 if titles is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(size * ncols, (size + extra_height) * nrows))
    characters = max(8, int(size * 10))  # about what fits across a cell at 10 pt
    for index, ax in enumerate(axes.flat):
        if index >= len(images):
            ax.remove()
            continue
        ax.imshow(_thumbnail(images[index], int(size * 200)))
        ax.axis("off")
        text = None if titles is None else str(titles[index])
        if correct is not None:  # a coloured frame, and a mark that survives greyscale printing
            colour, mark = _RIGHT if correct[index] else _WRONG
            ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False,
                                   edgecolor=colour, linewidth=4, clip_on=False))
            text = mark if text is None else f"{mark} {text}"
        if text is not None:
            ax.set_title(textwrap.fill(text, characters), fontsize=10,
                         color="black" if correct is None else (_RIGHT if correct[index]
                                                                 else _WRONG)[0])
    if title:
        fig.suptitle(title)
    return fig


def plot_embedding_map(
    features: Any,
    labels: Sequence[Any] | None = None,
    images: Sequence[Any] | None = None,
    method: str = "pca",
    *,
    normalize: bool = True,
    thumbnail_px: int = 40,
    title: str | None = None,
) -> Figure:
    """A 2-D map of embeddings: nearby points are similar, colours are labels.

    Introduced in `01_embeddings.ipynb`.

    Parameters
    ----------
    features : tensor or array, shape [n, embed_dim]
        Image or text features, one row per item.
    labels : sequence, length n, optional
        A label per point; each distinct label gets a colour and a legend entry.
    images : sequence of images, length n, optional
        Draw each point as a thumbnail of its image (framed in its label's colour).
    method : {"pca", "none"}
        ``"pca"`` projects onto the two directions of largest variance (numpy SVD; the
        sign of each axis is fixed so the picture is reproducible). ``"none"`` plots
        features that are already 2-D.
    normalize : bool
        Scale each row to unit length before PCA, so the map reflects cosine similarity,
        the measure CLIP uses.
    thumbnail_px : int
        The longer side of each thumbnail, in pixels.
    title : str, optional
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes. With ``method="pca"`` its axis labels say how much variance each
        direction explains.

    Examples
    --------
    >>> cc.plots.plot_embedding_map(image_features, labels=names, images=images);
    """
    values = _to_numpy(features)  # [n, embed_dim]
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(
            f"features must be [n, embed_dim] with n >= 2, got shape {tuple(values.shape)}.")
    n_points = values.shape[0]
    for name, given in (("labels", labels), ("images", images)):
        if given is not None and len(given) != n_points:
            raise ValueError(f"{len(given)} {name} for {n_points} rows of features.")
    if method == "pca":
        if normalize:
            norms = np.linalg.norm(values, axis=1, keepdims=True)  # [n, 1]
            values = values / np.where(norms > 0, norms, 1.0)
        coords, explained = _pca_2d(values)  # [n, 2], [2]
        axis_labels = [f"PC {i + 1} ({share:.0%} of variance)" for i, share in enumerate(explained)]
    elif method == "none":
        if values.shape[1] != 2:
            raise ValueError(f'method="none" needs 2-D features, got shape {tuple(values.shape)}.')
        coords, axis_labels = values, ["x", "y"]
    else:
        raise ValueError(f'method must be "pca" or "none", not {method!r}.')

    fig, ax = plt.subplots(figsize=(7.0, 6.0), layout="constrained")
    if labels is None:
        groups = {None: np.arange(n_points)}
    else:
        groups = {}
        for index, label in enumerate(labels):
            groups.setdefault(label, []).append(index)
    colours = _categorical_colours(len(groups))
    point_colour = {}
    for colour, (label, members) in zip(colours, groups.items()):
        members = np.asarray(members)
        ax.scatter(coords[members, 0], coords[members, 1], s=30, color=colour,
                   label=None if label is None else str(label))
        point_colour.update({int(i): colour for i in members})
    if images is not None:
        for index, image in enumerate(images):
            box = AnnotationBbox(
                OffsetImage(_thumbnail(image, thumbnail_px)), tuple(coords[index]),
                frameon=True, pad=0.1,
                bboxprops={"edgecolor": point_colour[index], "linewidth": 2})
            ax.add_artist(box)
        ax.margins(0.12)
    if labels is not None and len(groups) <= 20:
        ax.legend(fontsize="small", loc="best")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if title:
        ax.set_title(title)
    return fig


def plot_histograms(
    matched: Any,
    unmatched: Any,
    *,
    bins: int = 30,
    labels: tuple[str, str] = ("matched pairs", "unmatched pairs"),
    xlabel: str = "cosine similarity",
    title: str | None = None,
) -> Figure:
    """Overlaid histograms of two groups of scores, e.g. matched vs unmatched similarities.

    Introduced in `02_cosine_similarity.ipynb`.

    Parameters
    ----------
    matched, unmatched : tensor or array, any shape
        The two groups of values (flattened). Typically the diagonal and the off-diagonal
        entries of a similarity matrix.
    bins : int
        Number of bins, shared by both groups.
    labels : tuple of two str
        Legend names; each is followed by the group's mean.
    xlabel : str
        The x axis label.
    title : str, optional
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with two histograms (densities, so groups of different sizes compare) and
        a dashed line at each mean.

    Examples
    --------
    >>> similarity = image_features @ text_features.T  # [n, n], pairs on the diagonal
    >>> matched = similarity.diagonal()
    >>> unmatched = similarity[~torch.eye(len(similarity), dtype=bool)]
    >>> cc.plots.plot_histograms(matched, unmatched);
    """
    groups = [_to_numpy(matched).ravel(), _to_numpy(unmatched).ravel()]
    if any(group.size == 0 for group in groups):
        raise ValueError("plot_histograms() needs at least one value in each group.")
    edges = np.histogram_bin_edges(np.concatenate(groups), bins=bins)
    fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
    for group, label, colour in zip(groups, labels, ("tab:green", "tab:gray")):
        mean = float(group.mean())
        ax.hist(group, bins=edges, density=True, alpha=0.6, color=colour,
                label=f"{label} (mean {mean:.2f})")
        ax.axvline(mean, color=colour, linestyle="--", linewidth=1.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_curve(
    curves: Any,
    *,
    xlabel: str = "step",
    ylabel: str = "loss",
    smooth: int = 1,
    logy: bool = False,
    title: str | None = None,
    references: Mapping[str, float] | None = None,
) -> Figure:
    """Training curves: one line per named series, optionally smoothed.

    Introduced in `06_train_your_own_clip.ipynb`.

    Parameters
    ----------
    curves : sequence, tensor, array, or mapping of name to one of those
        One series (``losses``) or several (``{"train": train_losses, "test": test_losses}``).
    xlabel, ylabel : str
        Axis labels.
    smooth : int
        Width of a moving average. Above 1, the raw values are drawn faintly behind the
        smoothed line.
    logy : bool
        Use a logarithmic y axis.
    title : str, optional
        The axes title.
    references : mapping of str to float, optional
        Levels to compare the curves with, each drawn as a dashed horizontal line with its
        name in the legend (``{"chance: log(64)": 4.16}``). The y axis stretches to show them.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line per series (two with smoothing), one per reference, and a
        legend beside the axes (never over the curves) when anything is named.

    Examples
    --------
    >>> cc.plots.plot_curve({"train": losses, "accuracy": accuracies}, smooth=20);
    """
    named = isinstance(curves, Mapping)
    series = dict(curves) if named else {None: curves}
    fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
    for (name, values), colour in zip(series.items(), _categorical_colours(len(series))):
        ys = _to_numpy(values).ravel()  # [n_steps]
        xs = np.arange(len(ys))
        if smooth > 1 and len(ys) >= smooth:
            ax.plot(xs, ys, color=colour, alpha=0.25, linewidth=1)
            kernel = np.ones(smooth) / smooth
            ax.plot(xs[smooth - 1:], np.convolve(ys, kernel, mode="valid"), color=colour,
                    label=name)
        else:
            ax.plot(xs, ys, color=colour, label=name)
    for (name, level), style in zip((references or {}).items(), ("--", ":", "-.") * 4):
        ax.axhline(level, color="0.35", linestyle=style, linewidth=1.2, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if named or references:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  fontsize="small")  # beside the axes, so it never hides a curve
    if title:
        ax.set_title(title)
    return fig


def plot_accuracy_by_group(
    table: Mapping[str, Mapping[str, Any]],
    *,
    n_se: float = 1.0,
    chance: float | None = None,
    ylabel: str = "accuracy",
    title: str | None = None,
) -> Figure:
    """Accuracy of several classifiers in several groups, as points with error bars.

    Introduced in `04_prompt_engineering_and_ensembling.ipynb`, where the classifiers are text
    sides (a bare label, one template, an ensemble...) and the groups are drawing styles.

    Parameters
    ----------
    table : mapping of str to mapping of str to value
        ``{classifier: {group: value}}``. A value is an accuracy in 0..1, an
        ``(accuracy, standard_error)`` pair, or a mapping with the keys ``"accuracy"`` and
        ``"se"``. Groups run along the x axis in the order they first appear; a classifier may
        leave a group out.
    n_se : float
        Each error bar reaches ``n_se`` standard errors either side of its point.
    chance : float, optional
        Draw a dotted line at this accuracy, e.g. ``1 / n_classes``.
    ylabel : str
        The y axis label (the error bars' size is added to it).
    title : str, optional
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: one errorbar series per classifier (``ax.containers``, in table order, each
        with a legend entry), one x tick per group, y ticks in percent.

    Examples
    --------
    >>> table = {"a photo of a {}.": {"sketch": (0.81, 0.03), "blurry": (0.70, 0.03)},
    ...          "ensemble": {"sketch": (0.88, 0.02), "blurry": (0.79, 0.03)}}
    >>> cc.plots.plot_accuracy_by_group(table, chance=1 / 24);
    """
    rows = {str(name): dict(groups) for name, groups in table.items()}
    if not rows or not any(rows.values()):
        raise ValueError("plot_accuracy_by_group() needs at least one classifier with one group.")
    groups: list[str] = []
    for values in rows.values():
        groups += [str(group) for group in values if str(group) not in groups]
    n_rows, n_groups = len(rows), len(groups)
    width = min(0.8, 0.16 * n_rows)  # the spread of one group's points along x
    offsets = np.linspace(-width / 2, width / 2, n_rows) if n_rows > 1 else np.zeros(1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * n_groups + 2.5), 4.2), layout="constrained")
    markers = "osD^vP*Xh<>p"
    colours = _categorical_colours(n_rows)
    for k, (name, values) in enumerate(rows.items()):
        points = {str(g): _accuracy_and_error(v) for g, v in values.items()}
        xs = [groups.index(g) + offsets[k] for g in points]
        ys = [accuracy for accuracy, _ in points.values()]
        errors = [n_se * se for _, se in points.values()]
        ax.errorbar(xs, ys, yerr=errors, fmt=markers[k % len(markers)], color=colours[k],
                    capsize=3, markersize=6, linewidth=1.5, label=name)
    for boundary in range(1, n_groups):  # faint separators between groups
        ax.axvline(boundary - 0.5, color="0.9", linewidth=1, zorder=0)
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle=":", linewidth=1.2, label="chance")
    ax.set_xticks(range(n_groups), labels=groups)
    ax.set_xlim(-0.5, n_groups - 0.5)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    bars = "standard error" if n_se == 1 else f"{n_se:g} standard errors"
    ax.set_ylabel(f"{ylabel} (± {bars})")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: names[i] == "chance")  # chance last
    ax.legend([handles[i] for i in order], [names[i] for i in order], fontsize="small",
              loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    if title:
        ax.set_title(title)
    return fig


def _accuracy_and_error(value: Any) -> tuple[float, float]:
    """``(accuracy, standard_error)`` from a number, a pair, or ``{"accuracy", "se"}``."""
    if isinstance(value, Mapping):
        return float(value["accuracy"]), float(value.get("se", 0.0))
    if isinstance(value, (tuple, list)):
        accuracy, error = value
        return float(accuracy), float(error)
    return float(value), 0.0


def plot_few_shot(
    curves: Any,
    *,
    zero_shot: float | None = None,
    paper: str | None = None,
    title: str | None = None,
) -> Figure:
    """Accuracy of k-shot linear probes against k, with zero-shot as a horizontal line.

    Introduced in `08_beyond_zero_shot.ipynb`.

    Parameters
    ----------
    curves : FewShotCurve, or mapping of name to FewShotCurve
        From ``cc.probe.few_shot_curve``. Each draw is a faint dot, the mean a line, and the
        band spans the lowest to the highest draw.
    zero_shot : float, optional
        The zero-shot accuracy; default the first curve's ``zero_shot``. Where the first
        curve's mean reaches it (``curve.crossover()``) gets a vertical marker.
    paper : str, optional
        A note printed in the corner, e.g. the CLIP paper's crossover for comparison.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes, shots per class on a log2 axis.

    Examples
    --------
    >>> curve = cc.probe.few_shot_curve(pool, pool_y, test, test_y, zero_shot=0.9)  # doctest: +SKIP
    >>> cc.plots.plot_few_shot(curve, paper="CLIP paper: zero-shot ≈ 4-shot");  # doctest: +SKIP
    """
    named = isinstance(curves, Mapping)
    series = dict(curves) if named else {"linear probe": curves}
    first = next(iter(series.values()))
    zero_shot = first.zero_shot if zero_shot is None else zero_shot
    fig, ax = plt.subplots(figsize=(7.0, 4.2), layout="constrained")
    for (name, curve), colour in zip(series.items(), _categorical_colours(len(series))):
        shots = np.asarray(curve.shots, dtype=float)
        accuracies = np.asarray(curve.accuracies)  # [len(shots), draws]
        ax.fill_between(shots, accuracies.min(axis=1), accuracies.max(axis=1), color=colour,
                        alpha=0.15, linewidth=0)
        for k, row in zip(shots, accuracies):
            ax.plot(np.full(len(row), k), row, ".", color=colour, alpha=0.4, markersize=4)
        ax.plot(shots, accuracies.mean(axis=1), "o-", color=colour,
                label=f"{name} (mean of {accuracies.shape[1]} draws, band: min to max)")
    if zero_shot is not None:
        ax.axhline(zero_shot, color="0.2", linestyle="--", linewidth=1.3,
                   label=f"zero-shot {zero_shot:.1%}")
        crossing = first.crossover() if first.zero_shot == zero_shot else None
        if crossing is not None:
            ax.axvline(crossing, color="tab:red", linestyle=":", linewidth=1.3,
                       label=f"crossover ≈ {crossing:.1f} shots per class"
                   + (f" ({next(iter(series))})" if named else ""))
    ax.set_xscale("log", base=2)
    ax.set_xticks(np.asarray(first.shots, dtype=float))
    ax.set_xticklabels([str(k) for k in first.shots])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("labelled examples per class (shots)")
    ax.set_ylabel("test accuracy")
    ax.legend(loc="lower right", fontsize="small")
    if paper:
        ax.text(0.01, 0.98, paper, transform=ax.transAxes, va="top", fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9})
    if title:
        ax.set_title(title)
    return fig


def plot_interpolation(
    alphas: Any,
    accuracies: Mapping[str, Any],
    *,
    title: str | None = None,
) -> Figure:
    """Accuracy of weights mixed between zero-shot (alpha 0) and a probe (alpha 1), WiSE-FT.

    Introduced in `08_beyond_zero_shot.ipynb`.

    Parameters
    ----------
    alphas : sequence of float
        The mixing weights, from 0 (zero-shot) to 1 (the probe).
    accuracies : mapping of str to sequence
        One accuracy per alpha for each test set (``{"photos": [...], "shifted": [...]}``); a
        2-D value ``[len(alphas), draws]`` is drawn as its mean with a min-to-max band.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes; each line's best alpha is marked with a star.

    Examples
    --------
    >>> alphas = torch.linspace(0, 1, 11)
    >>> accuracy = [cc.probe.interpolate(zero_shot, probe, a).accuracy(features, targets)
    ...             for a in alphas.tolist()]
    >>> cc.plots.plot_interpolation(alphas, {"test": accuracy});
    """
    xs = _to_numpy(alphas).ravel()
    fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
    for (name, values), colour in zip(accuracies.items(), _categorical_colours(len(accuracies))):
        ys = _to_numpy(values).reshape(len(xs), -1)  # [len(alphas), draws]
        mean = ys.mean(axis=1)
        if ys.shape[1] > 1:
            ax.fill_between(xs, ys.min(axis=1), ys.max(axis=1), color=colour, alpha=0.15,
                            linewidth=0)
        ax.plot(xs, mean, "o-", color=colour, label=name, markersize=4)
        best = int(mean.argmax())
        ax.plot(xs[best], mean[best], "*", color=colour, markersize=14)
    ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xticklabels(["0\nzero-shot", "0.25", "0.5", "0.75", "1\nprobe"])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("alpha: weight = (1 - alpha) · zero-shot + alpha · probe")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def _to_numpy(values: Any) -> np.ndarray:
    """A float numpy array from a tensor (any device or dtype), array or nested sequence."""
    if hasattr(values, "detach"):  # a torch tensor; torch itself is not needed here
        values = values.detach().cpu().float().numpy()
    return np.asarray(values, dtype=np.float64)


def _thumbnail(image: Any, max_px: int) -> np.ndarray:
    """An RGB uint8 array, [h, w, 3], whose longer side is at most max_px."""
    if isinstance(image, (str, os.PathLike, bytes)):  # a file (search results) or raw bytes
        pass
    elif not hasattr(image, "getpixel"):  # not a PIL image: an array or a tensor
        if hasattr(image, "detach"):
            image = image.detach().cpu().float().numpy()
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3, 4):
            image = image.transpose(1, 2, 0)  # [C, H, W] -> [H, W, C]
    picture = load_image(image)  # a new RGB image, so thumbnail() below changes no input
    picture.thumbnail((max_px, max_px))
    return np.asarray(picture)


def _categorical_colours(count: int) -> list:
    """Distinct colours: tab10, then tab20, then evenly spaced hues."""
    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(count)]
    return [matplotlib.colormaps["hsv"](i / count) for i in range(count)]


def _pca_2d(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project [n, d] onto its top 2 principal directions: coords [n, 2], variance shares [2]."""
    centred = values - values.mean(axis=0)  # [n, d]
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)  # directions: [r, d]
    directions = directions[:2]
    # SVD may flip a direction's sign from run to run: make its largest entry positive.
    biggest = np.abs(directions).argmax(axis=1)
    directions = directions * np.sign(directions[np.arange(len(directions)), biggest])[:, None]
    coords = centred @ directions.T  # [n, r<=2]
    total = float((singular**2).sum())
    explained = singular[:2] ** 2 / total if total > 0 else np.zeros(len(directions))
    if coords.shape[1] < 2:  # one-dimensional features
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        explained = np.pad(explained, (0, 2 - len(explained)))
    return coords, explained
