"""The bundled tiny-shapes checkpoint meets its targets; the prompt templates are OpenAI's.

The checkpoint is judged on freshly drawn test images with seeds it never trained on (training
data used seed 0; ``data/tiny-shapes.json`` records the table measured on seed 1).
``python benchmarks/tiny_shapes.py`` prints the full table.

The targets: at least 98% on seen and 90% on held-out colour × shape pairs with the default
template, bare labels measurably worse than the template, and the prompt ensemble at least as
good as its best member alone. The shipped checkpoint reaches 99.6% and 92.7% on the recorded
seed (see the JSON); here they are checked again on 480 + 480 images of an unused seed.
"""

SEEN_MIN = 0.98  # the targets
HELD_OUT_MIN = 0.90

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageColor, ImageDraw

import clipcourse as cc
from clipcourse import shapes
from clipcourse._clip import clip
from clipcourse.templates import (DEFAULT_TEMPLATE, IMAGENET_SELECTED, IMAGENET_TEMPLATES,
                                  SHAPES_TEMPLATES, fill)

DATA = Path(__file__).resolve().parent.parent / "data"
CHECKPOINT = DATA / "tiny-shapes.pt"
SEED = 20260  # never used in training (seed 0) or in the recorded table (seed 1)


# -- templates ---------------------------------------------------------------------------------
def test_imagenet_templates_are_openais_80():
    assert len(IMAGENET_TEMPLATES) == 80 and len(set(IMAGENET_TEMPLATES)) == 80
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert "itap of my {}." in IMAGENET_TEMPLATES
    assert len(IMAGENET_SELECTED) == 7 and set(IMAGENET_SELECTED) <= set(IMAGENET_TEMPLATES)
    assert DEFAULT_TEMPLATE == "a photo of a {}." and DEFAULT_TEMPLATE in IMAGENET_TEMPLATES


def test_shapes_templates_and_fill():
    assert DEFAULT_TEMPLATE in SHAPES_TEMPLATES and len(SHAPES_TEMPLATES) >= 3
    assert fill(["a photo of a {}.", "art of the {}."], "red circle") == [
        "a photo of a red circle.", "art of the red circle."]
    assert fill("{}", "red circle") == ["red circle"]
    with pytest.raises(ValueError, match="no"):
        fill(["a photo"], "red circle")


# -- the checkpoint ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return cc.load_model("tiny-shapes", device="cpu")


@pytest.fixture(scope="module")
def meta():
    return json.loads((DATA / "tiny-shapes.json").read_text())


def test_checkpoint_is_small_plain_fp16_openai_state_dict(meta):
    assert CHECKPOINT.stat().st_size <= 16 * 2**20
    state_dict = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state_dict.values() if v.is_floating_point())
    rebuilt = clip.model.build_model(state_dict).float()
    assert rebuilt.context_length == 77 and rebuilt.vocab_size == 49408
    assert sum(p.numel() for p in rebuilt.parameters()) == meta["parameters"]
    arch = meta["architecture"]
    assert arch["embed_dim"] == rebuilt.text_projection.shape[1]
    assert arch["transformer_width"] == rebuilt.ln_final.weight.shape[0]
    assert arch["image_resolution"] == rebuilt.visual.input_resolution
    assert meta["held_out_pairs"] == [list(p) for p in shapes.HOLDOUT]
    assert "train-tiny" in meta["command"] and meta["seed"] == 0
    assert meta["training"]["total_seconds"] > 0  # measured (machine-dependent; see the JSON)
    for split in ("seen", "held_out"):
        assert set(meta["accuracy"][split]) == {"bare", "template", "ensemble", "best_single"}


def _accuracies(model, pairs, n, seed):
    test = shapes.make_test_set(n, seed=seed, pairs=pairs)
    image_features = model.encode_images(test.images)  # [n, embed_dim]
    labels = shapes.all_labels()
    texts = {"bare": ["{}"], "template": None, "ensemble": SHAPES_TEMPLATES}
    texts.update({t: [t] for t in SHAPES_TEMPLATES})  # each member of the ensemble alone
    return {name: cc.zero_shot(model, image_features, labels, templates).accuracy(test.labels)
            for name, templates in texts.items()}


@pytest.fixture(scope="module")
def seen(model):
    pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES if (c, s) not in shapes.HOLDOUT]
    return _accuracies(model, pairs, 480, SEED)


@pytest.fixture(scope="module")
def held_out(model):
    return _accuracies(model, shapes.HOLDOUT, 480, SEED + 1)


@pytest.mark.slow
def test_seen_combinations(seen):
    assert seen["template"] >= SEEN_MIN, seen
    assert seen["ensemble"] >= SEEN_MIN, seen


@pytest.mark.slow
def test_held_out_combinations(held_out):
    assert held_out["template"] >= HELD_OUT_MIN, held_out
    assert held_out["template"] > 4 / 24  # far above chance among 24 labels


@pytest.mark.slow
def test_bare_labels_are_worse_than_the_template(seen, held_out):
    both = {k: (seen[k] + held_out[k]) / 2 for k in seen}  # all 960 images
    assert both["bare"] < both["template"] - 0.05, both  # measured: about 40 points worse


@pytest.mark.slow
def test_ensemble_is_as_good_as_its_best_member(seen, held_out):
    both = {k: (seen[k] + held_out[k]) / 2 for k in seen}
    best_member = max(both[t] for t in SHAPES_TEMPLATES)
    # "at least as good" up to sampling noise: the five members differ by a few images in 960,
    # and one standard error of these pooled accuracies is about 0.6 points
    assert both["ensemble"] >= best_member - 0.005, both


def test_recorded_table_meets_the_targets(meta):
    assert meta["targets"]["met"] is True
    accuracy = meta["accuracy"]
    assert accuracy["seen"]["template"] >= 0.98 and accuracy["held_out"]["template"] >= 0.90
    assert accuracy["best_single_template"] in SHAPES_TEMPLATES
    assert meta["training"]["total_seconds"] < 300  # within the 5-minute budget where it ran


def _pil_shape(colour: str, shape: str, rng) -> Image.Image:
    """Someone else's drawing: 128 px, CSS colours, no anti-aliasing, upright shapes."""
    image = Image.new("RGB", (128, 128), "white")
    draw = ImageDraw.Draw(image)
    r = rng.uniform(25, 40)
    x, y = rng.uniform(r + 4, 124 - r, 2)
    rgb = ImageColor.getrgb(colour)
    if shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rgb)
    elif shape == "square":
        draw.rectangle([x - 0.8 * r, y - 0.8 * r, x + 0.8 * r, y + 0.8 * r], fill=rgb)
    elif shape == "triangle":
        draw.regular_polygon((x, y, r), 3, fill=rgb)
    else:  # a five-pointed star: outer and inner points taking turns
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r * 1.1, r * 0.45)
        draw.polygon(list(zip(x + radii * np.cos(angles), y - radii * np.sin(angles))), fill=rgb)
    return image


@pytest.mark.slow
def test_works_on_another_renderer(model):
    rng = np.random.default_rng(SEED)
    pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES]
    images = [_pil_shape(c, s, rng) for c, s in pairs * 4]
    labels = shapes.all_labels(pairs * 4)
    result = cc.zero_shot(model, images, shapes.all_labels())
    assert result.accuracy(labels) >= 0.8


@pytest.mark.slow
def test_counting_and_relations_are_measured(meta):
    # expected weak (lesson 05 builds on that); recorded, and better than nothing
    assert 0.25 <= meta["accuracy"]["counting"] <= 1
    assert 0.4 <= meta["accuracy"]["relations"] <= 1
