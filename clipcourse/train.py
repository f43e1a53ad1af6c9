"""Contrastive training of a small CLIP on the shapes world: the recipe of ``tiny-shapes``.

CLIP learns from a batch of ``B`` image-caption pairs by scoring all ``B x B`` combinations and
asking each image to pick out its own caption among the ``B`` captions, and each caption its own
image (the symmetric InfoNCE loss). The temperature of that softmax is learned: ``logit_scale``
starts at ``log(1 / 0.07)`` and is clamped so ``exp(logit_scale) <= 100``, as in CLIP.

One change from CLIP: the shapes world has few distinct contents, so a batch often holds two
pairs that say the same thing ("a red circle" twice). Plain InfoNCE would push those apart; with
``soft_targets=True`` every pair with the same content (``Scene.key``) counts as a positive.

The model is OpenAI's own ``clip.model.CLIP`` class with small widths, the full 49,408-token
vocabulary and the 77-token context, so ``clip.tokenize`` and ``clip.model.build_model`` work on
it exactly as on ViT-B/32. Its image tower is CLIP's ``ModifiedResNet`` (the RN50 design, much
narrower): in our measurements a ViT of the same cost learned colours at once but shapes only
slowly within a few minutes of CPU, while the small ResNet learned both.

References: Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision" (Figure 3 has this loop in numpy-like pseudocode); openai/CLIP ``clip/model.py``.

Introduced in ``06_train_your_own_clip.ipynb``; ``python -m clipcourse train-tiny`` runs
:func:`train_tiny`.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import shapes
from ._clip import clip
from ._report import progress as _progress
from .embed import _encode_text_trimmed
from .templates import (DEFAULT_TEMPLATE, IMAGENET_TEMPLATES, SHAPE_NAME_VARIANTS,
                        SHAPES_TEMPLATES, STYLE_TEMPLATES, UNKNOWN_SHAPE_NAMES)
from .threads import fixed_threads, paced

__all__ = ["TINY_CONFIG", "TINY_RECIPE", "TINY_THREADS", "TrainResult", "build_clip", "train_clip",
           "clip_loss", "evaluate_zero_shot", "accuracy_table", "accuracy_by_style",
           "default_text_sides", "name_variant_sides", "train_tiny",
           "LESSON_CONFIG", "LESSON_DATA", "LESSON_RECIPE", "LESSON_TESTS", "lesson_test_sets",
           "learner_run"]

#: Architecture of ``tiny-shapes``: ``clip.model.CLIP``'s arguments. A tuple ``vision_layers``
#: makes the image tower a ``ModifiedResNet`` (as in RN50, with 1 block per stage and width 16).
#: ``transformer_heads`` must be ``transformer_width // 64``: ``clip.model.build_model`` assumes it.
TINY_CONFIG = dict(embed_dim=64, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=16,
                   vision_patch_size=None, context_length=77, vocab_size=49408,
                   transformer_width=128, transformer_heads=2, transformer_layers=3)

#: The training recipe of the shipped checkpoint (``train_tiny``'s defaults). What the choices
#: bought, measured on held-out combinations (``"a photo of a {}."``, one seed each): four in
#: five scenes with a single shape instead of half, 54% -> 68%; twice the steps, 73% -> 94%;
#: signs (``p_text``: 4% of images are written words captioned with those words) make bare
#: labels a caption of writing, so templates beat them, as on the web. lr 2e-3: 35%.
#: World v2 (issue 11), three recipes tried (figures: mixed-look test, 960 images per split):
#: half the images blurry, pixelated, grainy, faded or sketched (``p_look`` 0.5) cost held-out
#: photos 93% -> 83%; with 30% of images in a look and "a photo of ..." one phrasing among many
#: (``photo_weight`` 0.25) held-out photos reached 96%, but no ensemble beat the one template;
#: adding that nobody calls a sketch a photo (``drawing_looks``) keeps the accuracy and makes
#: the look templates' scores worth averaging: +1.2 points over "a photo of a {}." (3 paired
#: SE), while OpenAI's renormalised mean of the same prompts loses 1.4 (lesson 04 shows why).
#: 60% of look images' captions name the look, a fifth of single-object captions call the
#: shape "disc", "box", ... (``p_variant``). ``data/tiny-shapes.json`` holds the figures.
TINY_RECIPE = dict(n_train=24_000, data_seed=0, p_single=0.8, max_objects=4,
                   holdout=[list(p) for p in shapes.HOLDOUT], bias=None, extra_colours=[],
                   p_greyscale=0.1, p_text=0.04, looks=list(shapes.LOOKS), p_look=0.3,
                   p_look_caption=0.6, p_variant=0.2, photo_weight=0.25,
                   drawing_looks=["sketch"], steps=2400, batch_size=64, lr=1e-3,
                   weight_decay=0.1, warmup=0.1, soft_targets=True)

#: CPU threads ``train_tiny`` trains with: the shipped weights reproduce bit for bit with this
#: many (this course's reference machine has 2 cores).
TINY_THREADS = 2

#: The issue's targets: zero-shot on ordinary photos (best text side), the ensemble's gain over
#: "a photo of a {}." on the mixed-style set in paired standard errors, and the mean length of
#: a class's average SHAPES_TEMPLATES prompt vector (at most this: the templates differ).
_TARGETS = {"seen": 0.98, "held_out": 0.90, "ensemble_gain_se": 2.0, "mean_length": 0.95}

_MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(3, 1, 1)  # CLIP's normalisation
_STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(3, 1, 1)


@dataclass
class TrainResult:
    """What :func:`train_clip` returns.

    Attributes
    ----------
    model : clip.model.CLIP
        The trained model (fp32, eval mode). Wrap it with ``cc.Model.from_clip(model)``.
    history : dict of lists
        ``"step"``, ``"loss"``, ``"logit_scale"`` (the temperature ``exp(logit_scale)``) and
        ``"lr"`` every step; ``"eval_step"`` and ``"accuracy"`` every ``eval_every`` steps.
    snapshots : list of dict
        Every ``snapshot_every`` steps: ``{"step", "logits_per_image"}`` for the first 8 pairs
        of a fixed batch (``[8, 8]``), to watch the diagonal emerge.
    seconds : float
        Training time (data preparation excluded).
    """

    model: torch.nn.Module
    history: dict
    snapshots: list = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Model and data
# ---------------------------------------------------------------------------------------------
def build_clip(seed: int = 0, **config) -> torch.nn.Module:
    """A freshly initialised ``clip.model.CLIP`` (fp32), by default with ``TINY_CONFIG``.

    Initialisation draws from a private copy of torch's random state seeded with ``seed``, so
    the caller's random state is left as it was.

    Examples
    --------
    >>> model = build_clip(seed=0)
    >>> sum(p.numel() for p in model.parameters()) > 7_000_000
    True

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    config = {**TINY_CONFIG, **config}
    if config["transformer_heads"] != config["transformer_width"] // 64:
        raise ValueError("clip.model.build_model rebuilds with transformer_width // 64 heads; "
                         f"use transformer_heads={config['transformer_width'] // 64}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return clip.model.CLIP(**config).float()


def _pixels(images: Sequence, resolution: int) -> torch.Tensor:
    """PIL images -> ``[n, 3, R, R]`` normalised tensor, exactly ``clip``'s preprocessing."""
    if all(im.size == (resolution, resolution) for im in images):
        return _normalize(_uint8_pixels(images))
    preprocess = clip.clip._transform(resolution)
    return torch.stack([preprocess(im) for im in images])  # [n, 3, R, R]


def _uint8_pixels(images: Sequence) -> torch.Tensor:
    """Same-size PIL images -> ``[n, 3, H, W]`` uint8 (4x smaller than floats in memory)."""
    array = np.stack([np.asarray(im.convert("RGB")) for im in images])  # [n, H, W, 3]
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()  # [n, 3, H, W]


def _normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 ``[n, 3, R, R]`` -> CLIP's normalised floats (ToTensor then Normalize)."""
    return (pixels.float() / 255 - _MEAN) / _STD


def _key_ids(keys: Sequence) -> torch.Tensor:
    """Content keys -> small ints: equal ids mean the two captions say the same thing."""
    index: dict = {}
    return torch.tensor([index.setdefault(k, len(index)) for k in keys])  # [n]


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only; not on gains, biases, embeddings or the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = p.dim() >= 2 and "embedding" not in name and "token" not in name
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def _lr_factor(step: int, steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier: a linear warm-up over ``warmup_steps``, then a cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def clip_loss(logits_per_image: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: cross-entropy over captions for each image and over images per caption.

    ``targets[i, j] = 1`` where image ``i`` and caption ``j`` belong together (the identity for
    plain CLIP); each row and column is normalised into a probability distribution.
    """
    logits_per_text = logits_per_image.T  # [batch, batch]
    loss_i = F.cross_entropy(logits_per_image, targets / targets.sum(1, keepdim=True))
    loss_t = F.cross_entropy(logits_per_text, targets.T / targets.T.sum(1, keepdim=True))
    return (loss_i + loss_t) / 2


def train_clip(data: shapes.ShapesDataset, *, model: torch.nn.Module | None = None,
               steps: int = 300, batch_size: int = 64, lr: float = 1e-3,
               weight_decay: float = 0.1, warmup: float = 0.1, soft_targets: bool = True,
               seed: int = 0, eval_set: shapes.LabelledShapes | None = None,
               eval_every: int = 0, snapshot_every: int = 0, fixed_scale: float | None = None,
               progress: bool = True, desc: str = "Training CLIP") -> TrainResult:
    """Train a CLIP contrastively on image-caption pairs.

    Parameters
    ----------
    data : ShapesDataset
        From ``cc.shapes.make_dataset``; any object with ``images``, ``captions`` (and
        ``scenes`` with ``.key`` for soft targets) works.
    model : clip.model.CLIP, optional
        Default: ``build_clip(seed)``, the tiny-shapes architecture.
    steps, batch_size : int
        Optimiser steps and pairs per batch (each batch draws without replacement; the data is
        reshuffled after every pass).
    lr, weight_decay, warmup : float
        AdamW; the learning rate warms up linearly over the first ``warmup`` share of the
        steps, then decays to 0 along a cosine.
    soft_targets : bool
        Count pairs whose captions say the same thing as positives (see the module docstring).
    seed : int
        Seeds the initialisation and the batch order: same seed, same model.
    eval_set : LabelledShapes, optional
        Single-object images to measure zero-shot accuracy on every ``eval_every`` steps (with
        ``"a photo of a {}."`` over all 24 labels).
    snapshot_every : int
        Keep the ``[8, 8]`` logits of a fixed batch every so many steps (0: never).
    fixed_scale : float, optional
        Freeze the scale ``logit_scale.exp()`` at this value (e.g. ``1.0``) instead of learning
        it; the model's ``logit_scale`` is set to ``log(fixed_scale)`` and gets no updates
        during this run (it learns again in a later run without ``fixed_scale``).
    progress : bool
        Show a progress bar (in a notebook, a line updated in place that is saved complete).
    desc : str
        The progress bar's label.

    Returns
    -------
    TrainResult
        ``.model``, ``.history`` (loss, temperature, learning rate, accuracy), ``.snapshots``.

    Examples
    --------
    >>> data = cc.shapes.make_dataset(2000, seed=0)  # doctest: +SKIP
    >>> result = train_clip(data, steps=40, batch_size=128)  # doctest: +SKIP
    >>> result.history["loss"][0] > result.history["loss"][-1]  # doctest: +SKIP
    True

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    model = build_clip(seed) if model is None else model
    device = next(model.parameters()).device
    if fixed_scale is not None:  # a frozen temperature: AdamW skips a parameter without grad
        if not fixed_scale > 0:
            raise ValueError(f"fixed_scale must be a positive number, not {fixed_scale!r}")
        with torch.no_grad():
            model.logit_scale.fill_(math.log(fixed_scale))
        model.logit_scale.requires_grad_(False)
    resolution = model.visual.input_resolution
    if any(im.size != (resolution, resolution) for im in data.images):
        raise ValueError(f"train_clip needs {resolution}x{resolution} images; make the data with "
                         f"image_size={resolution}")
    model = model.to(memory_format=torch.channels_last)  # about 25% faster convolutions on CPU
    images = _uint8_pixels(data.images)  # [n_pairs, 3, R, R] uint8
    tokens = clip.tokenize(list(data.captions), context_length=model.context_length,
                           truncate=True)  # [n_pairs, context_length]
    if soft_targets:
        keys = _key_ids([scene.key for scene in data.scenes])  # [n_pairs]
    else:
        keys = torch.arange(len(images))  # every pair is its own content: plain InfoNCE
    batch_size = min(batch_size, len(images))
    probe = torch.arange(min(8, len(images)))  # a fixed mini-batch for similarity snapshots

    optimizer = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98),
                                  eps=1e-6, fused=True)  # fused: 4x faster steps on CPU
    warmup_steps = max(1, round(warmup * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: _lr_factor(i, steps, warmup_steps))
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=generator)
    cursor = 0
    history = {"step": [], "loss": [], "logit_scale": [], "lr": [], "eval_step": [],
               "accuracy": []}
    snapshots = []
    max_logit_scale = math.log(100)
    start = time.perf_counter()
    model.train()
    bar = _progress(total=steps, desc=desc, unit="step", disable=not progress)
    for step in paced(range(1, steps + 1)):  # takes its share of shared CPUs
        if cursor + batch_size > len(order):  # a new pass over the data
            order, cursor = torch.randperm(len(images), generator=generator), 0
        idx = order[cursor:cursor + batch_size]  # [batch]
        cursor += batch_size

        pixels = _normalize(images[idx]).to(device, memory_format=torch.channels_last)
        # pixels: [batch, 3, R, R]
        image_features = model.encode_image(pixels)  # [batch, embed_dim]
        text_features = _encode_text_trimmed(model, tokens[idx].to(device))  # [batch, embed_dim]
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        logit_scale = model.logit_scale.exp()  # the learned temperature, at most 100
        logits_per_image = logit_scale * image_features @ text_features.T  # [batch, batch]
        targets = (keys[idx][:, None] == keys[idx][None, :]).float().to(device)  # [batch, batch]
        loss = clip_loss(logits_per_image, targets)

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if fixed_scale is None:  # CLIP clips the temperature so logits stay <= 100
            with torch.no_grad():
                model.logit_scale.clamp_(0, max_logit_scale)

        history["step"].append(step)
        history["loss"].append(loss.item())
        history["logit_scale"].append(model.logit_scale.exp().item())
        history["lr"].append(scheduler.get_last_lr()[0])
        if eval_set is not None and eval_every and (step % eval_every == 0 or step == steps):
            history["eval_step"].append(step)
            history["accuracy"].append(evaluate_zero_shot(model, eval_set.images, eval_set.labels))
            model.train()
        if snapshot_every and (step % snapshot_every == 0 or step == 1):
            snapshots.append({"step": step, "logits_per_image": _probe_logits(
                model, _normalize(images[probe]), tokens[probe])})
            model.train()
        bar.update(1)
    seconds = time.perf_counter() - start
    bar.close()  # a saved notebook keeps the bar's final, complete line
    if fixed_scale is not None:
        model.logit_scale.requires_grad_(True)  # frozen for this run only
    return TrainResult(model=model.eval(), history=history, snapshots=snapshots, seconds=seconds)


@torch.no_grad()
def _probe_logits(model, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    image_features = F.normalize(model.encode_image(images.to(device)), dim=-1)  # [8, embed_dim]
    text_features = _encode_text_trimmed(model, tokens.to(device))  # [8, embed_dim]
    text_features = F.normalize(text_features, dim=-1)
    return (model.logit_scale.exp() * image_features @ text_features.T).cpu()  # [8, 8]


# ---------------------------------------------------------------------------------------------
# The learner's run of lesson 06: a smaller CLIP that learns within a minute of CPU
# ---------------------------------------------------------------------------------------------
#: Architecture of lesson 06's from-scratch model: ``TINY_CONFIG`` at 32 px with a one-layer
#: text transformer. 32 px quarters the image tower's work; the captions are short and few, and
#: one text layer learns them faster. (Measured, 400 steps, seed 0: a two-layer 64-wide text
#: tower reached held-out 30%, this one 37%; a one-layer 64-wide one, with a single head, 25%.)
LESSON_CONFIG = {**TINY_CONFIG, "image_resolution": 32, "transformer_layers": 1}

#: Lesson 06's training data, every knob of ``shapes.make_dataset`` spelled out (so a change of
#: a default elsewhere cannot move the lesson's results): one filled shape per image on a plain
#: background, the tiny-shapes hold-out, no styles, signs or greyscale photos. Measured with
#: ``LESSON_RECIPE`` on 2 threads, seeds 0-3: seen 76/63/86/77%, held-out 45/48/35/43% (chance
#: 4%), about 40 s of training each. Tried and worse on held-out: more shape-only captions
#: (30%: 29/34%, 50%: 32/15%, seeds 0/1), three times the pairs (n=12000: 33/24/33%).
LESSON_DATA = dict(n=4000, seed=0, image_size=32, holdout=shapes.HOLDOUT, bias=None,
                   max_objects=1, p_single=1.0, styles=("filled",), backgrounds=("plain",),
                   extra_colours=(), p_greyscale=0.0, p_text=0.0, looks=("photo",), p_look=0.0,
                   p_look_caption=0.0, p_variant=0.0, photo_weight=1.0, drawing_looks=())

#: Lesson 06's optimisation: ``train_clip``'s arguments (a higher learning rate than
#: ``TINY_RECIPE`` suits the smaller model and the short run).
LESSON_RECIPE = dict(steps=400, batch_size=64, lr=3e-3, weight_decay=0.1, warmup=0.1,
                     soft_targets=True)

#: Lesson 06's test sets: ``shapes.make_test_set`` arguments per split (single filled shapes on
#: plain backgrounds, as in training; seeds the training data never used).
LESSON_TESTS = {"seen": dict(n=480, seed=1), "held_out": dict(n=240, seed=2)}


def lesson_test_sets(image_size: int = LESSON_DATA["image_size"]) -> dict:
    """Lesson 06's test sets: ``{"seen": LabelledShapes, "held_out": LabelledShapes}``.

    Seen: the 20 combinations in the training data (24 drawings each); held out: the 4 of
    ``shapes.HOLDOUT`` (60 each). Drawn like ``LESSON_DATA`` (filled, plain background).

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    holdout = [tuple(p) for p in LESSON_DATA["holdout"]]
    seen_pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES if (c, s) not in holdout]
    look = dict(image_size=image_size, styles=LESSON_DATA["styles"],
                backgrounds=LESSON_DATA["backgrounds"])
    return {split: shapes.make_test_set(pairs=pairs, **LESSON_TESTS[split], **look)
            for split, pairs in (("seen", seen_pairs), ("held_out", holdout))}


def learner_run(seed: int = 0, *, steps: int | None = None, progress: bool = False,
                verbose: bool = True) -> dict:
    """Lesson 06's main run, reproduced: train a fresh ``LESSON_CONFIG`` CLIP and score it.

    Makes ``LESSON_DATA``, trains with ``LESSON_RECIPE`` (model initialisation and batch order
    seeded with ``seed``), and measures 24-way zero-shot accuracy with ``"a photo of a {}."`` on
    :func:`lesson_test_sets`. The lesson itself runs ``seed=0``.

    Returns
    -------
    dict
        ``{"seed", "steps", "seen", "held_out", "train_seconds", "data_seconds", "final_loss",
        "threads"}``; accuracies in 0..1, ``train_seconds`` as :class:`TrainResult` counts them.

    Examples
    --------
    >>> cc.train.learner_run(seed=1)  # doctest: +SKIP
    lesson 06 run, seed 1: seen 85.2%, held out 61.3%, 300 steps in 41.0 s (data 3.1 s)

    Introduced in ``06_train_your_own_clip.ipynb``; ``benchmarks/tiny_shapes.py`` calls it.
    """
    recipe = {**LESSON_RECIPE, **({} if steps is None else {"steps": steps})}
    start = time.perf_counter()
    data_kw = dict(LESSON_DATA)
    data = shapes.make_dataset(data_kw.pop("n"), **data_kw)
    data_seconds = time.perf_counter() - start
    result = train_clip(data, model=build_clip(seed, **LESSON_CONFIG), seed=seed,
                        progress=progress, **recipe)
    tests = lesson_test_sets()
    accuracy = {split: evaluate_zero_shot(result.model, test.images, test.labels)
                for split, test in tests.items()}
    run = {"seed": seed, "steps": recipe["steps"], **accuracy,
           "train_seconds": round(result.seconds, 2), "data_seconds": round(data_seconds, 2),
           "final_loss": round(float(np.mean(result.history["loss"][-20:])), 4),
           "threads": torch.get_num_threads()}
    if verbose:
        print(f"lesson 06 run, seed {seed}: seen {run['seen']:.1%}, held out "
              f"{run['held_out']:.1%}, {run['steps']} steps in {run['train_seconds']:.1f} s "
              f"(data {run['data_seconds']:.1f} s, {run['threads']} threads)")
    return run


# ---------------------------------------------------------------------------------------------
# Evaluation (works on a bare clip.model.CLIP or on a cc.Model)
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def _encode_images(model, images: Sequence) -> torch.Tensor:
    if hasattr(model, "encode_images"):  # a cc.Model
        return model.encode_images(list(images), progress=False)
    model.eval()
    device = next(model.parameters()).device
    features = [model.encode_image(_pixels(images[i:i + 256], model.visual.input_resolution)
                                   .to(device).type(model.dtype))
                for i in range(0, len(images), 256)]
    return F.normalize(torch.cat(features).float(), dim=-1).cpu()  # [n_images, embed_dim]


@torch.no_grad()
def _encode_texts(model, texts: Sequence[str]) -> torch.Tensor:
    if hasattr(model, "encode_texts"):  # a cc.Model
        return model.encode_texts(list(texts))
    model.eval()
    tokens = clip.tokenize(list(texts), context_length=model.context_length, truncate=True)
    tokens = tokens.to(next(model.parameters()).device)  # [n_texts, context_length]
    text_features = _encode_text_trimmed(model, tokens).float()  # [n_texts, embed_dim]
    return F.normalize(text_features, dim=-1).cpu()


def _class_embeddings(model, labels: Sequence[str], prompts_of, renormalize: bool = True
                      ) -> tuple[torch.Tensor, list[float]]:
    """Each class's mean unit prompt vector (renormalised unless told not to) and its length.

    ``prompts_of`` is a list of templates, or a function from a label to its prompts.
    """
    if not callable(prompts_of):
        templates = list(prompts_of)
        prompts_of = lambda label: [t.format(label) for t in templates]  # noqa: E731
    rows, lengths = [], []
    for name in labels:
        text_features = _encode_texts(model, prompts_of(name))  # [n_prompts, embed_dim], unit
        mean = text_features.mean(0)  # [embed_dim], length <= 1
        lengths.append(mean.norm().item())
        rows.append(F.normalize(mean, dim=-1) if renormalize else mean)
    return torch.stack(rows), lengths  # [n_classes, embed_dim], [n_classes]


def evaluate_zero_shot(model, images: Sequence, labels: Sequence[str],
                       class_names: Sequence[str] | None = None,
                       templates: Sequence[str] | None = None,
                       image_features: torch.Tensor | None = None) -> float:
    """Zero-shot accuracy: the share of ``images`` whose nearest class prompt is their label.

    Parameters
    ----------
    model : clip.model.CLIP or cc.Model
    images : sequence of PIL images
    labels : sequence of str
        The true class of each image, e.g. ``"red circle"``.
    class_names : sequence of str, optional
        The candidates (default: all 24 colour × shape labels).
    templates : sequence of str, optional
        Prompt templates, averaged as an ensemble (default ``["a photo of a {}."]``).
    image_features : tensor, optional
        Pre-computed unit-norm ``[n_images, embed_dim]`` features, to skip re-encoding.

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    class_names = shapes.all_labels() if class_names is None else list(class_names)
    templates = [DEFAULT_TEMPLATE] if templates is None else list(templates)
    if image_features is None:
        image_features = _encode_images(model, images)  # [n_images, embed_dim]
    classifier, _ = _class_embeddings(model, class_names, templates)  # [n_classes, embed_dim]
    predictions = (image_features @ classifier.T).argmax(dim=-1)  # [n_images]
    targets = torch.tensor([class_names.index(t) for t in labels])
    return (predictions == targets).float().mean().item()


def _choice_accuracy(model, choice_set: shapes.ChoiceSet) -> float:
    image_features = _encode_images(model, choice_set.images)  # [n, embed_dim]
    correct = 0
    for features, prompts, answer in zip(image_features, choice_set.prompts, choice_set.answers):
        text_features = _encode_texts(model, prompts)  # [n_choices, embed_dim]
        correct += int((text_features @ features).argmax()) == answer
    return correct / len(choice_set)


def accuracy_table(model, *, n: int = 480, seed: int = 1, holdout=shapes.HOLDOUT,
                   templates: Sequence[str] = SHAPES_TEMPLATES) -> dict:
    """The tiny-shapes targets, measured: zero-shot accuracy on seen and held-out pairs.

    For single-object test images of the seen and of the held-out colour × shape pairs
    (``n`` each, drawn with ``seed``), classified among all 24 labels: bare labels
    (``"red circle"``), the default template (``"a photo of a {}."``) and the prompt ensemble
    ``templates``. Also counting (4-way) and left/right relations (2-way) on ``n`` images each.

    Returns
    -------
    dict
        ``{"seen": {"bare", "template", "ensemble", "best_single"}, "held_out": {...},
        "counting", "relations", "best_single_template", "n_images", "seed"}``, accuracies in
        0..1; ``best_single`` is the accuracy of ``best_single_template``, the ensemble's
        member that does best alone (on both splits together).

    Introduced in ``06_train_your_own_clip.ipynb``.
    """
    holdout = [tuple(p) for p in holdout]
    seen_pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES if (c, s) not in holdout]
    table, singles = {}, {}
    for split, pairs in (("seen", seen_pairs), ("held_out", holdout)):
        test = shapes.make_test_set(n, seed=seed + (0 if split == "seen" else 1000), pairs=pairs)
        image_features = _encode_images(model, test.images)
        table[split] = {
            name: evaluate_zero_shot(model, test.images, test.labels, templates=t,
                                     image_features=image_features)
            for name, t in (("bare", ["{}"]), ("template", [DEFAULT_TEMPLATE]),
                            ("ensemble", list(templates)))}
        singles[split] = [evaluate_zero_shot(model, test.images, test.labels, templates=[t],
                                             image_features=image_features) for t in templates]
    # the best member of the ensemble used alone, judged on both splits together
    best = max(range(len(templates)), key=lambda i: singles["seen"][i] + singles["held_out"][i])
    for split in ("seen", "held_out"):
        table[split]["best_single"] = singles[split][best]
    table["best_single_template"] = templates[best]
    table["counting"] = _choice_accuracy(model, shapes.make_counting_set(n // 2, seed=seed + 2000))
    table["relations"] = _choice_accuracy(model, shapes.make_relation_set(n // 2, seed=seed + 3000))
    table["n_images"] = n
    table["seed"] = seed
    return table


def _standard_error(correct: np.ndarray) -> float:
    """Binomial standard error of an accuracy: ``sqrt(p (1 - p) / n)``."""
    p = correct.mean()
    return float(math.sqrt(p * (1 - p) / len(correct)))


def _cell(correct: np.ndarray) -> dict:
    return {"accuracy": float(correct.mean()), "se": _standard_error(correct), "n": len(correct)}


def default_text_sides() -> dict:
    """The text sides :func:`accuracy_by_style` compares by default: bare labels, the default
    template, each look's template alone, the ``SHAPES_TEMPLATES`` ensemble (OpenAI's
    renormalised mean embedding, and the mean of the prompts' scores) and OpenAI's 80.

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    sides = {"bare": ["{}"]}
    sides.update({template: [template] for template in STYLE_TEMPLATES.values()})
    sides["ensemble"] = list(SHAPES_TEMPLATES)
    sides["ensemble, mean score"] = {"prompts": list(SHAPES_TEMPLATES), "renormalize": False}
    sides["imagenet80"] = list(IMAGENET_TEMPLATES)
    return sides


def name_variant_sides(template: str = DEFAULT_TEMPLATE) -> dict:
    """Text sides for class-name variants, for :func:`accuracy_by_style`.

    ``"known names"``: the average over the names the world's captions use for the shape
    (``templates.SHAPE_NAME_VARIANTS``: "a photo of a red circle.", "... red disc.", "... red
    dot."); ``"unknown word"``: a name no caption uses (``templates.UNKNOWN_SHAPE_NAMES``, "a
    photo of a red orb."); ``"ensemble × known names"``: every ``SHAPES_TEMPLATES`` member with
    every known name. Compare them with ``template`` itself (the usual name).

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    def known(label: str) -> list[str]:
        colour, shape = label.split()
        return [template.format(f"{colour} {name}") for name in SHAPE_NAME_VARIANTS[shape]]

    def unknown(label: str) -> list[str]:
        colour, shape = label.split()
        return [template.format(f"{colour} {UNKNOWN_SHAPE_NAMES[shape]}")]

    def ensemble_known(label: str) -> list[str]:
        colour, shape = label.split()
        return [t.format(f"{colour} {name}") for t in SHAPES_TEMPLATES
                for name in SHAPE_NAME_VARIANTS[shape]]

    return {"known names": known, "unknown word": unknown,
            "ensemble × known names": ensemble_known}


@torch.no_grad()
def accuracy_by_style(model, text_sides: dict | None = None, *,
                      looks: Sequence[str] = shapes.LOOKS, n: int = 960, seed: int = 1,
                      holdout=shapes.HOLDOUT, reference: str = DEFAULT_TEMPLATE,
                      test_sets: dict | None = None) -> dict:
    """Zero-shot accuracy ± standard error per text side × look × split, on mixed-style images.

    Draws ``n`` single-object test images of the seen colour × shape pairs and ``n`` of the
    held-out ones (seeds ``seed`` and ``seed + 1000``, never used in training), the ``looks``
    taking turns so every pair appears in every look, and classifies each among all 24 labels
    with every text side.

    Parameters
    ----------
    model : clip.model.CLIP or cc.Model
    text_sides : dict, optional
        ``{name: templates}`` (a list of templates, averaged as an ensemble) or ``{name:
        function}`` where ``function(label)`` returns the prompts of one class, e.g. name
        variants, or ``{name: {"prompts": templates or function, "renormalize": False}}`` to
        average the prompts' scores instead of renormalising their mean (see
        ``zeroshot.build_classifier``). Default :func:`default_text_sides`.
    looks : sequence of str
        Rendering styles of the test images (default all of ``shapes.LOOKS``; ``("photo",)``
        gives ordinary images).
    n : int
        Images per split (use a multiple of ``20 * len(looks)`` for balance).
    seed : int
    holdout : pairs kept out of training (the held-out split).
    reference : str
        The text side the others are compared with (default ``"a photo of a {}."``; added to
        the sides if missing).
    test_sets : dict, optional
        ``{"seen": LabelledShapes, "held_out": LabelledShapes}`` to use instead of drawing.

    Returns
    -------
    dict
        ``"table"``: ``{side: {split: {look: {"accuracy", "se", "n"}}}}`` with splits
        ``"seen"``, ``"held_out"``, ``"all"`` and looks ``looks`` plus ``"all"``; ``se`` is the
        binomial standard error ``sqrt(p (1 - p) / n)``.
        ``"vs_reference"``: ``{side: {split: {look: {"gain", "paired_se", "unpaired_se"}}}}``,
        the accuracy difference from ``reference`` with the standard error of that difference
        from the per-image differences (paired: both sides saw the same images) and from the
        two accuracies' own errors as if independent (unpaired, larger).
        ``"mean_length"``: ``{side: length}``, the mean over classes of the length of the
        average of a class's unit prompt vectors (1.0 when all prompts agree).
        ``"correct"``: ``{side: bool array [n_images]}``; ``"looks"``, ``"splits"`` and
        ``"labels"`` per image; ``"reference"``, ``"n"``, ``"seed"``.

    Examples
    --------
    >>> result = accuracy_by_style(model, n=120)  # doctest: +SKIP
    >>> result["table"]["ensemble"]["all"]["blurry"]  # doctest: +SKIP
    {'accuracy': 0.95, 'se': 0.02, 'n': 40}

    Introduced in ``04_prompt_engineering_and_ensembling.ipynb``.
    """
    holdout = [tuple(p) for p in holdout]
    seen_pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES if (c, s) not in holdout]
    text_sides = default_text_sides() if text_sides is None else dict(text_sides)
    if reference not in text_sides:
        text_sides = {reference: [reference], **text_sides}
    if test_sets is None:
        test_sets = {split: shapes.make_test_set(n, seed=seed + offset, pairs=pairs, looks=looks)
                     for split, pairs, offset in (("seen", seen_pairs, 0),
                                                  ("held_out", holdout, 1000))}
    images = [im for split in ("seen", "held_out") for im in test_sets[split].images]
    labels = [x for split in ("seen", "held_out") for x in test_sets[split].labels]
    image_looks = np.array([x for split in ("seen", "held_out") for x in test_sets[split].looks])
    splits = np.array([split for split in ("seen", "held_out")
                       for _ in range(len(test_sets[split]))])
    image_features = _encode_images(model, images)  # [n_images, embed_dim]
    class_names = shapes.all_labels()
    targets = torch.tensor([class_names.index(t) for t in labels])  # [n_images]

    correct, mean_length = {}, {}
    for name, side in text_sides.items():
        spec = side if isinstance(side, dict) else {"prompts": side}
        classifier, lengths = _class_embeddings(model, class_names, spec["prompts"],
                                                spec.get("renormalize", True))
        predictions = (image_features @ classifier.T).argmax(dim=-1)  # [n_images]
        correct[name] = (predictions == targets).numpy()
        mean_length[name] = float(np.mean(lengths))

    look_names = list(dict.fromkeys(image_looks.tolist()))
    masks = {}
    for split in ("seen", "held_out", "all"):
        in_split = np.ones(len(images), bool) if split == "all" else splits == split
        for look in look_names + ["all"]:
            in_look = np.ones(len(images), bool) if look == "all" else image_looks == look
            masks[split, look] = in_split & in_look
    table, versus = {}, {}
    for name, hits in correct.items():
        table[name] = {split: {} for split in ("seen", "held_out", "all")}
        versus[name] = {split: {} for split in ("seen", "held_out", "all")}
        for (split, look), mask in masks.items():
            if not mask.any():
                continue
            table[name][split][look] = _cell(hits[mask])
            diff = hits[mask].astype(float) - correct[reference][mask].astype(float)  # [m]
            unpaired = math.hypot(_standard_error(hits[mask]),
                                  _standard_error(correct[reference][mask]))
            paired = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0
            versus[name][split][look] = {"gain": float(diff.mean()), "paired_se": paired,
                                         "unpaired_se": unpaired}
    return {"table": table, "vs_reference": versus, "mean_length": mean_length,
            "correct": correct, "looks": image_looks.tolist(), "splits": splits.tolist(),
            "labels": labels, "reference": reference, "n": n, "seed": seed}


# ---------------------------------------------------------------------------------------------
# The shipped checkpoint
# ---------------------------------------------------------------------------------------------
_STYLE_SEED = 1  # seed of the mixed-style test set recorded in the metadata


def _style_summary(model, n: int = 480) -> dict:
    """The metadata's record of the mixed-style test (``accuracy_by_style``, ``n`` per split)."""
    sides = {**default_text_sides(), **name_variant_sides()}
    sides.pop("imagenet80")  # the benchmark measures it; not needed to check the targets
    result = accuracy_by_style(model, sides, n=n, seed=_STYLE_SEED)
    photo = accuracy_by_style(model, sides, looks=("photo",), n=n, seed=_STYLE_SEED)
    rnd = lambda x: round(x, 4)  # noqa: E731
    return {
        "n_per_split": n, "seed": _STYLE_SEED, "looks": list(shapes.LOOKS),
        "reference": result["reference"],
        "mixed": {side: {split: {look: rnd(cell["accuracy"]) for look, cell in cells.items()}
                         for split, cells in table.items()}
                  for side, table in result["table"].items()},
        "vs_reference": {side: {k: rnd(v) for k, v in versus["all"]["all"].items()}
                         for side, versus in result["vs_reference"].items()},
        "mean_length": {side: rnd(v) for side, v in result["mean_length"].items()},
        "photo": {side: {split: rnd(table[split]["all"]["accuracy"]) for split in
                         ("seen", "held_out")} for side, table in photo["table"].items()},
    }


def _targets(table: dict, styles: dict, size: int, seconds: float) -> dict:
    """Which of the issue's targets the recorded figures meet."""
    photo = styles["photo"]
    best_seen = max(v["seen"] for v in photo.values())
    best_held = max(v["held_out"] for v in photo.values())
    gain = styles["vs_reference"]["ensemble, mean score"]  # averaging the prompts' scores
    mixed = styles["mixed"]
    checks = {
        "seen_best_text_side": [best_seen, ">=", _TARGETS["seen"]],
        "held_out_best_text_side": [best_held, ">=", _TARGETS["held_out"]],
        "ensemble_gain_in_paired_se": [round(gain["gain"] / max(gain["paired_se"], 1e-9), 2), ">=",
                                       _TARGETS["ensemble_gain_se"]],
        "ensemble_mean_length": [styles["mean_length"]["ensemble"], "<=", _TARGETS["mean_length"]],
        "known_names_vs_usual_name": [mixed["known names"]["all"]["all"], ">=",
                                      mixed[DEFAULT_TEMPLATE]["all"]["all"]],
        "unknown_word_vs_usual_name": [mixed["unknown word"]["all"]["all"], "<",
                                       mixed[DEFAULT_TEMPLATE]["all"]["all"]],
        "bare_vs_template": [(table["seen"]["bare"] + table["held_out"]["bare"]) / 2, "<",
                             (table["seen"]["template"] + table["held_out"]["template"]) / 2],
        "checkpoint_mib": [round(size / 2**20, 2), "<=", 16],
        "total_seconds": [seconds, "<=", 300],
    }
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
    result = {name: {"value": value, "target": f"{op} {round(bound, 4)}",
                     "met": bool(ops[op](value, bound))}
              for name, (value, op, bound) in checks.items()}
    result["met"] = all(v["met"] for v in result.values())
    renormalised = styles["vs_reference"]["ensemble"]  # OpenAI's recipe: recorded, no target
    result["renormalised_ensemble_gain_in_paired_se"] = round(
        renormalised["gain"] / max(renormalised["paired_se"], 1e-9), 2)
    result["note"] = ("other renderers (matplotlib / PIL >= 95%) are measured by "
                      "benchmarks/tiny_shapes.py and tests/test_tiny_shapes.py; the ensemble "
                      "target is measured with the prompts' scores averaged "
                      "(build_classifier(renormalize=False)); OpenAI's renormalised mean is "
                      "recorded beside it (lesson 04 explains why the two differ here)")
    return result
def _fp16_state_dict(model: torch.nn.Module) -> dict:
    """OpenAI's format: every floating tensor in fp16 (``clip.model.convert_weights`` and more)."""
    return {k: (v.half() if v.is_floating_point() else v).clone()
            for k, v in model.state_dict().items()}


def train_tiny(out: str | Path = "data/tiny-shapes.pt", seed: int = 0,
               steps: int = TINY_RECIPE["steps"], *, threads: int = TINY_THREADS,
               progress: bool = True, evaluate: bool = True) -> dict:
    """Train ``tiny-shapes`` and write the checkpoint plus its metadata JSON beside it.

    Writes ``out`` (a plain OpenAI-format state dict in fp16: ``clip.model.build_model(
    torch.load(out)).float()`` rebuilds it) and ``out`` with suffix ``.json`` (architecture,
    recipe, seed, held-out pairs, training time, torch version, accuracy table, command).

    Parameters
    ----------
    out : path
    seed : int
        Seeds the model initialisation and batch order (the data always uses
        ``TINY_RECIPE["data_seed"]``).
    steps : int
        Optimiser steps (default: the recipe's; fewer for a quick try).
    threads : int
        CPU threads for training (default ``TINY_THREADS``, 2). Floating-point sums depend on
        how work is split, so only the same thread count reproduces the weights bit for bit.
    progress : bool
        Show progress bars.
    evaluate : bool
        Measure :func:`accuracy_table` on the saved (fp16) weights and record it.

    Returns
    -------
    dict
        The metadata written to the JSON file.

    Introduced in the instructor guide; run as ``python -m clipcourse train-tiny --out PATH``.
    """
    out = Path(out)
    recipe = {**TINY_RECIPE, "steps": steps}
    with fixed_threads(threads):  # restored after; the CPU policy keeps off
        return _train_tiny(out, seed, recipe, progress, evaluate)


def _train_tiny(out: Path, seed: int, recipe: dict, progress: bool, evaluate: bool) -> dict:
    steps = recipe["steps"]
    t0 = time.perf_counter()
    bias = {shape: tuple(skew) for shape, skew in (recipe["bias"] or {}).items()} or None
    data = shapes.make_dataset(recipe["n_train"], seed=recipe["data_seed"],
                               holdout=[tuple(p) for p in recipe["holdout"]], bias=bias,
                               max_objects=recipe["max_objects"], p_single=recipe["p_single"],
                               extra_colours=recipe["extra_colours"],
                               p_greyscale=recipe["p_greyscale"], p_text=recipe["p_text"],
                               looks=recipe["looks"], p_look=recipe["p_look"],
                               p_look_caption=recipe["p_look_caption"],
                               p_variant=recipe["p_variant"],
                               photo_weight=recipe["photo_weight"],
                               drawing_looks=recipe["drawing_looks"])
    data_seconds = time.perf_counter() - t0
    result = train_clip(data, steps=steps, batch_size=recipe["batch_size"], lr=recipe["lr"],
                        weight_decay=recipe["weight_decay"], warmup=recipe["warmup"],
                        soft_targets=recipe["soft_targets"], seed=seed, progress=progress)
    total_seconds = time.perf_counter() - t0
    state_dict = _fp16_state_dict(result.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(state_dict, tmp)
    tmp.replace(out)

    meta = {
        "model": "tiny-shapes",
        "format": "plain OpenAI-format CLIP state dict, fp16; "
                  "clip.model.build_model(torch.load(path, map_location='cpu')).float()",
        "architecture": {"class": "clip.model.CLIP", **TINY_CONFIG},
        "parameters": sum(p.numel() for p in result.model.parameters()),
        "recipe": recipe,
        "seed": seed,
        "held_out_pairs": recipe["holdout"],
        "training": {"steps": steps, "train_seconds": round(result.seconds, 1),
                     "data_seconds": round(data_seconds, 1),
                     "total_seconds": round(total_seconds, 1),
                     "final_loss": round(result.history["loss"][-1], 4),
                     "final_temperature": round(result.history["logit_scale"][-1], 2),
                     "threads": torch.get_num_threads(), "machine": platform.machine()},
        "torch": torch.__version__,
        "command": f"python -m clipcourse train-tiny --out {out.as_posix()} --seed {seed}"
                   + ("" if steps == TINY_RECIPE["steps"] else f" --steps {steps}")
                   + ("" if torch.get_num_threads() == TINY_THREADS
                      else f" --threads {torch.get_num_threads()}"),
        "reproducibility": "bitwise on the same machine type, torch version and thread count "
                           "(training.threads); other thread counts may differ in the last bits",
    }
    if evaluate:
        _record_evaluation(out, meta)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _record_evaluation(out: Path, meta: dict) -> None:
    """Measure the saved (fp16) checkpoint ``out`` and add its tables and targets to ``meta``."""
    reloaded = clip.model.build_model(torch.load(out, map_location="cpu")).float()
    table = accuracy_table(reloaded)
    meta["accuracy"] = {k: ({kk: round(vv, 4) for kk, vv in v.items()}
                            if isinstance(v, dict) else round(v, 4) if isinstance(v, float)
                            else v)
                        for k, v in table.items()}
    meta["accuracy"]["templates"] = {"bare": "{}", "template": DEFAULT_TEMPLATE,
                                     "ensemble": "clipcourse.templates.SHAPES_TEMPLATES"}
    meta["styles"] = _style_summary(reloaded)
    meta["targets"] = _targets(table, meta["styles"], out.stat().st_size,
                               meta["training"]["total_seconds"])
