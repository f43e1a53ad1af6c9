"""The bundled tiny-shapes checkpoint against issue 11's targets; the prompt templates.

The checkpoint is judged on freshly drawn test images with seeds it never trained on (training
data used seed 0; ``data/tiny-shapes.json`` records the tables measured on seed 1, and
``python benchmarks/tiny_shapes.py`` prints them in full). Here the targets are checked again
on seed 20260: on ordinary photos, at least 98% on seen and 90% on held-out colour × shape
pairs with the best text side; on a mixed-style set (every look, every pair), templates that
are not one vector (mean length <= 0.95), the ensemble (its prompts' scores averaged) beating
"a photo of a {}." by two paired standard errors and covering looks the one template misses,
known name variants at least as good as the usual name and unknown words worse; other
renderers' drawings >= 95%.
Targets the shipped checkpoint misses are marked ``UNMET`` (strict xfail), not loosened.
"""

SEEN_MIN = 0.98  # the targets (issue 11)
HELD_OUT_MIN = 0.90
OTHER_RENDERER_MIN = 0.95
MEAN_LENGTH_MAX = 0.95

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
                                  SHAPE_NAME_VARIANTS, SHAPES_TEMPLATES, STYLE_TEMPLATES,
                                  UNKNOWN_SHAPE_NAMES, fill)
from clipcourse.train import accuracy_by_style, default_text_sides, name_variant_sides

DATA = Path(__file__).resolve().parent.parent / "data"
CHECKPOINT = DATA / "tiny-shapes.pt"
# Issue 11's targets that the shipped world-v2 checkpoint does NOT meet (measured, see
# data/tiny-shapes.json "targets"). strict: the day a retrained checkpoint meets one, the xfail
# fails and the marker must go.
UNMET = pytest.mark.xfail(strict=True, reason="issue 11 target not met by the shipped checkpoint")
SEED = 20260  # never used in training (seed 0) or in the recorded table (seed 1)


# -- templates ---------------------------------------------------------------------------------
def test_imagenet_templates_are_openais_80():
    assert len(IMAGENET_TEMPLATES) == 80 and len(set(IMAGENET_TEMPLATES)) == 80
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert "itap of my {}." in IMAGENET_TEMPLATES
    assert len(IMAGENET_SELECTED) == 7 and set(IMAGENET_SELECTED) <= set(IMAGENET_TEMPLATES)
    assert DEFAULT_TEMPLATE == "a photo of a {}." and DEFAULT_TEMPLATE in IMAGENET_TEMPLATES


def test_shapes_templates_name_the_looks_and_variants_are_the_worlds_words():
    assert set(STYLE_TEMPLATES) == set(shapes.LOOKS)
    assert STYLE_TEMPLATES["photo"] == DEFAULT_TEMPLATE
    assert set(STYLE_TEMPLATES.values()) <= set(SHAPES_TEMPLATES)
    assert set(SHAPE_NAME_VARIANTS) == set(shapes.SHAPES)
    for shape, names in SHAPE_NAME_VARIANTS.items():
        assert names == (shape,) + shapes.SHAPE_SYNONYMS[shape]
    data = shapes.make_dataset(400, seed=0, p_look=0.5, p_variant=0.3)
    for caption in data.captions:  # unknown words really are unknown
        for word in UNKNOWN_SHAPE_NAMES.values():
            assert word not in caption.split(), caption


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
def test_seen_combinations_mostly_right(seen):
    assert seen["template"] >= 0.95, seen


@pytest.mark.slow
def test_seen_combinations(seen):
    best = max(v for k, v in seen.items() if k != "bare")  # the best text side
    assert best >= SEEN_MIN, seen


@pytest.mark.slow
def test_held_out_combinations_far_above_chance(held_out):
    assert held_out["template"] > 0.6, held_out  # chance among 24 labels is about 0.04


@pytest.mark.slow
def test_held_out_combinations(held_out):
    best = max(v for k, v in held_out.items() if k != "bare")  # the best text side
    assert best >= HELD_OUT_MIN, held_out


@pytest.mark.slow
def test_bare_labels_are_worse_than_the_template(seen, held_out):
    both = {k: (seen[k] + held_out[k]) / 2 for k in seen}  # all 960 images
    assert both["bare"] < both["template"] - 0.05, both


# -- world v2: a mixed-style test set where prompts carry information ---------------------------
@pytest.fixture(scope="module")
def styled(model):
    """Every look, every pair, seen and held-out: 960 + 960 images of an unused seed."""
    sides = {**default_text_sides(), **name_variant_sides()}
    sides.pop("imagenet80")
    return accuracy_by_style(model, sides, n=960, seed=SEED)


@pytest.mark.slow
def test_templates_are_not_one_vector(styled):
    assert styled["mean_length"]["ensemble"] <= MEAN_LENGTH_MAX, styled["mean_length"]
    assert styled["mean_length"][DEFAULT_TEMPLATE] == pytest.approx(1.0)


@pytest.mark.slow
def test_ensemble_beats_one_template_by_two_paired_standard_errors(styled):
    # the prompts' scores averaged (build_classifier(renormalize=False)); OpenAI's renormalised
    # mean of the same prompts loses on held-out classes here, which lesson 04 explains
    versus = styled["vs_reference"]["ensemble, mean score"]["all"]["all"]
    assert versus["gain"] >= 2 * versus["paired_se"], versus
    assert versus["paired_se"] < versus["unpaired_se"]  # pairing removes the shared noise


@pytest.mark.slow
def test_the_ensemble_covers_looks_the_one_template_misses(styled):
    versus = styled["vs_reference"]["ensemble, mean score"]["all"]
    gains = {look: versus[look]["gain"] for look in shapes.LOOKS}
    assert sum(g > 0 for g in gains.values()) >= 4, gains  # better on most looks...
    assert all(versus[look]["gain"] > -2 * versus[look]["paired_se"]  # ...and worse on none
               for look in shapes.LOOKS), versus


@pytest.mark.slow
def test_known_name_variants_help_and_unknown_words_hurt(styled):
    table = styled["table"]
    usual = table[DEFAULT_TEMPLATE]["all"]["all"]["accuracy"]
    known = styled["vs_reference"]["known names"]["all"]["all"]
    # at least as good as the usual name, up to one paired standard error of sampling noise
    assert known["gain"] >= -known["paired_se"], known
    assert table["unknown word"]["all"]["all"]["accuracy"] < usual - 0.05


def test_recorded_table_says_which_targets_are_met(meta):
    targets = meta["targets"]
    for name in ("seen_best_text_side", "held_out_best_text_side", "ensemble_gain_in_paired_se",
                 "ensemble_mean_length", "known_names_vs_usual_name", "checkpoint_mib",
                 "total_seconds"):
        assert set(targets[name]) == {"value", "target", "met"}
    assert targets["met"] == all(v["met"] for k, v in targets.items() if isinstance(v, dict))
    assert targets["seen_best_text_side"]["value"] >= SEEN_MIN
    assert targets["ensemble_mean_length"]["value"] <= MEAN_LENGTH_MAX
    assert targets["known_names_vs_usual_name"]["met"]
    assert targets["checkpoint_mib"]["value"] <= 16
    recipe = meta["recipe"]
    assert recipe["p_look"] > 0 and set(recipe["looks"]) == set(shapes.LOOKS)
    assert set(meta["styles"]["mixed"]) >= {DEFAULT_TEMPLATE, "ensemble", "known names"}


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


@UNMET
def test_recorded_table_meets_every_target(meta):
    assert meta["targets"]["met"] is True, meta["targets"]


@pytest.mark.slow
def test_works_on_another_renderer(model):
    rng = np.random.default_rng(SEED)
    pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES]
    images = [_pil_shape(c, s, rng) for c, s in pairs * 8]
    labels = shapes.all_labels(pairs * 8)
    result = cc.zero_shot(model, images, shapes.all_labels())
    assert result.accuracy(labels) >= OTHER_RENDERER_MIN


@pytest.mark.slow
def test_counting_and_relations_are_measured(meta):
    # expected weak (lesson 05 builds on that); recorded, and better than nothing
    assert 0.25 <= meta["accuracy"]["counting"] <= 1
    assert 0.4 <= meta["accuracy"]["relations"] <= 1
