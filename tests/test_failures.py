"""The failure-modes lab: stimuli are what they say, metrics are right, experiments run.

Experiments run on a random-weight CLIP (the plumbing, not what a trained model knows).
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
from PIL import Image

import clipcourse as cc
from clipcourse import failures as F
from clipcourse import shapes

from _random_clip import random_clip


@pytest.fixture(scope="module")
def model():
    return cc.Model.from_clip(random_clip().float(), name="random", device="cpu")


def _pixels(image):
    return np.asarray(image, dtype=np.int16)


def _same_images(a, b):
    return len(a) == len(b) and all(np.array_equal(_pixels(x), _pixels(y)) for x, y in zip(a, b))


# -- stimuli ----------------------------------------------------------------------------------
def test_counting_set_draws_the_count_it_claims():
    stimuli = F.counting_set(12, seed=3)
    assert len(stimuli) == 12
    assert stimuli.groups == [1, 2, 3, 4] * 3  # counts take turns: balanced
    for objects, count, prompts, answer in zip(stimuli.objects, stimuli.groups, stimuli.prompts,
                                               stimuli.answers):
        assert len(objects) == count
        assert len({(o.colour, o.shape) for o in objects}) == 1  # identical shapes
        positions = [o.position for o in objects]
        for i, (x0, y0) in enumerate(positions):  # no two objects overlap
            for x1, y1 in positions[i + 1:]:
                assert math.dist((x0, y0), (x1, y1)) > 2 * 1.15 * objects[0].size
        word = shapes.NUMBER_WORDS[count]
        assert prompts[answer] == f"a photo of {word} {objects[0].colour} {objects[0].shape}" \
                                  f"{'s' if count > 1 else ''}."
        assert [p.split()[3] for p in prompts] == ["one", "two", "three", "four"]
        assert prompts[answer].split()[3] == word


def test_counting_set_is_deterministic_and_takes_other_counts():
    a, b = F.counting_set(6, seed=1, counts=(2, 3)), F.counting_set(6, seed=1, counts=(2, 3))
    assert _same_images(a.images, b.images) and a.prompts == b.prompts
    assert not _same_images(a.images, F.counting_set(6, seed=2, counts=(2, 3)).images)
    assert a.groups == [2, 3] * 3 and a.answers == [0, 1] * 3
    assert a.images[0].size == (64, 64)
    assert F.counting_set(1, image_size=96).images[0].size == (96, 96)
    with pytest.raises(ValueError):
        F.counting_set(2, counts=(0, 1))
    with pytest.raises(ValueError):
        F.counting_set(2, counts=(7,))


def test_relation_pairs_are_mirror_images_with_swapped_captions():
    pairs = F.relation_pairs(4, seed=5)
    assert len(pairs) == 8
    assert pairs.groups == ["original", "mirror"] * 4
    assert pairs.answers == [0, 1] * 4
    for j in range(4):
        original, mirror = pairs.images[2 * j], pairs.images[2 * j + 1]
        assert np.array_equal(_pixels(mirror), _pixels(original)[:, ::-1])  # truly mirrored
        assert pairs.prompts[2 * j] == pairs.prompts[2 * j + 1]
        first, second = pairs.prompts[2 * j]
        assert first != second  # ... but with the same words
        assert sorted(first.rstrip(".").split()) == sorted(second.rstrip(".").split())
        left, right = pairs.objects[2 * j]
        assert left.position[0] < 0.5 < right.position[0]
        assert left.colour != right.colour and left.shape != right.shape
        a = f"a{'n' if left.colour[0] in 'aeiou' else ''} {left.colour} {left.shape}"
        b = f"a{'n' if right.colour[0] in 'aeiou' else ''} {right.colour} {right.shape}"
        assert (first, second) == (f"a photo of {a} to the left of {b}.",
                                   f"a photo of {b} to the left of {a}.")
        m_left, m_right = sorted(pairs.objects[2 * j + 1], key=lambda o: o.position[0])
        assert (m_left.colour, m_left.shape) == (right.colour, right.shape)  # swapped sides
    assert _same_images(pairs.images, F.relation_pairs(4, seed=5).images)


def test_negation_set_differs_only_by_not():
    test = F.negation_set(24, seed=4)
    affirmed, negated = test.affirmed, test.negated
    assert len(affirmed) == len(negated) == 24
    assert _same_images(affirmed.images, negated.images)
    for obj, a_prompts, a_answer, n_prompts, n_answer in zip(
            (o[0] for o in affirmed.objects), affirmed.prompts, affirmed.answers,
            negated.prompts, negated.answers):
        assert [p.replace("is not ", "is ") for p in n_prompts] == a_prompts
        assert a_prompts[a_answer].endswith(f"that is {obj.colour}.")  # the true colour
        assert not n_prompts[n_answer].endswith(f"not {obj.colour}.")  # true: "not <decoy>"
        assert n_answer == 1 - a_answer
        assert obj.shape in a_prompts[0]
    assert set(affirmed.answers) == {0, 1}  # the order of the two prompts varies
    assert affirmed.groups == [o[0].colour for o in affirmed.objects]
    assert F.negation_set(24, seed=4).negated.prompts == negated.prompts


def test_write_word_changes_pixels_and_respects_opacity():
    image = shapes.draw_scene([shapes.ShapeSpec("red", "circle")], seed=0)
    assert np.array_equal(_pixels(F.write_word(image, "blue", opacity=0.0)), _pixels(image))
    half = np.abs(_pixels(F.write_word(image, "blue", opacity=0.5)) - _pixels(image)).sum()
    full = np.abs(_pixels(F.write_word(image, "blue", opacity=1.0)) - _pixels(image)).sum()
    assert 0 < half < full
    small = (_pixels(F.write_word(image, "blue", height=0.15)) != _pixels(image)).any(-1).sum()
    large = (_pixels(F.write_word(image, "blue", height=0.35)) != _pixels(image)).any(-1).sum()
    assert 0 < small < large
    attacked = F.write_word(image, "blue")
    assert attacked.size == image.size and attacked.mode == "RGB"
    assert np.array_equal(_pixels(image), _pixels(shapes.draw_scene(
        [shapes.ShapeSpec("red", "circle")], seed=0)))  # the input is not modified
    with pytest.raises(ValueError):
        F.write_word(image, "blue", opacity=1.5)


def test_ood_images_are_deterministic_and_of_each_kind():
    inputs = F.ood_images(5, seed=2, image_size=48)
    assert list(inputs) == ["noise", "empty", "digits"]
    for images in inputs.values():
        assert len(images) == 5 and all(im.size == (48, 48) and im.mode == "RGB" for im in images)
    again = F.ood_images(5, seed=2, image_size=48)
    assert all(_same_images(inputs[k], again[k]) for k in inputs)
    noise = _pixels(inputs["noise"][0])
    assert noise.std() > 50  # uniform noise
    assert _pixels(inputs["digits"][0]).std() > 10  # something is drawn
    assert not _same_images(inputs["digits"][:1], inputs["digits"][1:2])  # 0 and 1
    assert list(F.ood_images(1, kinds=["digits"])) == ["digits"]
    with pytest.raises(ValueError):
        F.ood_images(1, kinds=["cats"])


# -- measurements -----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 6, 24])
def test_entropy_of_uniform_is_log2_n_and_of_one_hot_zero(n):
    assert F.entropy_bits(np.full(n, 1 / n)) == pytest.approx(math.log2(n))
    one_hot = np.eye(n)
    np.testing.assert_allclose(F.entropy_bits(one_hot), np.zeros(n))
    summary = F.flatness(torch.full((3, n), 1 / n))
    assert summary["entropy_share"] == pytest.approx(1.0)
    assert summary["max_bits"] == pytest.approx(math.log2(n))
    assert summary["top2_margin"] == pytest.approx(0.0)
    assert summary["uniform"] == pytest.approx(1 / n)


def test_entropy_and_margin_on_hand_made_rows():
    probs = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.7, 0.1, 0.1, 0.1]])
    np.testing.assert_allclose(F.entropy_bits(probs)[0], 1.5)
    np.testing.assert_allclose(F.top2_margin(probs), [0.25, 0.6], atol=1e-6)
    summary = F.flatness(probs)
    assert summary["top_prob"] == pytest.approx(0.6)
    assert summary["top2_margin"] == pytest.approx(0.425)
    with pytest.raises(ValueError):
        F.top2_margin([1.0])


def test_accuracy_and_flip_rate():
    assert F.accuracy([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    assert math.isnan(F.accuracy([], []))
    with pytest.raises(ValueError):
        F.accuracy([1], [1, 2])
    before = ["red", "red", "blue", "blue"]
    after = ["red", "blue", "blue", "green"]
    assert F.flip_rate(before, after) == 0.5
    # only flips *to* the written label count, and not images already predicted as it
    assert F.flip_rate(before, after, target=["blue"] * 4) == 0.25
    assert F.flip_rate(before, before, target=["blue"] * 4) == 0.0
    with pytest.raises(ValueError):
        F.flip_rate(before, after[:2])


def test_coverage_precision_matches_the_threshold_widget():
    scores = np.array([0.31, 0.29, 0.27, 0.26, 0.24, 0.22, 0.21, 0.18])
    correct = np.array([1, 1, 0, 1, 1, 0, 0, 0], dtype=bool)
    stats = F.coverage_precision(scores, correct, 0.25)
    assert stats["answered"] == 4 and stats["coverage"] == 0.5
    assert stats["precision"] == 0.75 and stats["recall"] == 0.75
    widgets = pytest.importorskip("clipcourse.widgets")
    reference = widgets.threshold_stats(scores[correct], scores[~correct], 0.25)
    assert stats["coverage"] == pytest.approx(reference.coverage)
    assert stats["precision"] == pytest.approx(reference.precision)
    assert math.isnan(F.coverage_precision(scores, correct, 0.5)["precision"])


def test_threshold_for_recall_keeps_that_share():
    scores = np.linspace(0.1, 0.3, 20)
    for recall in (0.5, 0.9, 0.95, 1.0):
        threshold = F.threshold_for_recall(scores, recall)
        assert (scores >= threshold).mean() >= recall
        assert (scores > threshold).mean() < recall  # and it is the highest such threshold
    with pytest.raises(ValueError):
        F.threshold_for_recall([], 0.9)


def test_choice_result_on_hand_made_similarities():
    similarity = torch.tensor([[0.3, 0.1], [0.2, 0.4], [0.5, 0.1], [0.1, 0.2]])
    result = F.ChoiceResult(similarity=similarity, probs=similarity.softmax(-1),
                            answers=[0, 1, 1, 0], groups=["a", "a", "b", "b"])
    assert result.predictions == [0, 1, 0, 1]
    assert result.accuracy == 0.5 and result.chance == 0.5
    assert result.accuracy_by_group() == {"a": 1.0, "b": 0.0}
    np.testing.assert_array_equal(result.confusion(), [[1, 1], [1, 1]])
    assert result.summary() == "accuracy 50% (95% interval 15%-85%, n = 4), chance 50%"


def test_wilson_interval_is_sane_at_the_edges():
    assert F._wilson(0, 10)[0] == 0.0 and 0.2 < F._wilson(0, 10)[1] < 0.35
    assert F._wilson(10, 10)[1] == 1.0 and 0.65 < F._wilson(10, 10)[0] < 0.8
    low, high = F._wilson(50, 100)
    assert low == pytest.approx(1 - high) and 0.40 < low < 0.41


# -- experiments on the random stand-in ------------------------------------------------------
def test_score_choices_matches_a_direct_computation(model):
    stimuli = F.counting_set(8, seed=0)
    result = F.score_choices(model, stimuli)
    image_features = model.encode_images(stimuli.images)  # [8, D]
    for i, prompts in enumerate(stimuli.prompts):
        expected = image_features[i] @ model.encode_texts(prompts).T  # [4]
        torch.testing.assert_close(result.similarity[i], expected)
    torch.testing.assert_close(result.probs.sum(-1), torch.ones(8))
    assert result.chance == 0.25 and 0 <= result.accuracy <= 1
    assert set(result.accuracy_by_group()) == {1, 2, 3, 4}
    assert result.confusion().sum() == 8
    # shapes' own ChoiceSet (no groups) works too
    assert len(F.score_choices(model, shapes.make_relation_set(4, image_size=32)).answers) == 4


def test_score_choices_rejects_ragged_prompts(model):
    stimuli = F.counting_set(2)
    ragged = dataclasses.replace(stimuli, prompts=[stimuli.prompts[0], stimuli.prompts[1][:2]])
    with pytest.raises(ValueError):
        F.score_choices(model, ragged)


def test_typographic_sweep_rows(model):
    test = shapes.make_test_set(6, seed=9, image_size=32)
    colours = [o.colour for o in test.objects]
    words = ["blue" if c != "blue" else "red" for c in colours]
    targets = [shapes.label(w, o.shape) for w, o in zip(words, test.objects)]
    rows = F.typographic_sweep(model, test.images, shapes.all_labels(), test.labels, words,
                               targets, heights=(0.2, 0.4), opacities=(1.0,))
    assert [(r["height"], r["opacity"]) for r in rows] == [(0.0, 0.0), (0.2, 1.0), (0.4, 1.0)]
    assert rows[0]["changed"] == 0.0 and rows[0]["to_target"] == 0.0
    for row in rows:
        assert 0 <= row["to_target"] <= row["changed"] <= 1 and 0 <= row["accuracy"] <= 1
    with pytest.raises(ValueError):
        F.typographic_sweep(model, test.images, shapes.all_labels(), test.labels, words[:2],
                            targets)


def test_confidence_report_and_abstention(model):
    test = shapes.make_test_set(8, seed=3, image_size=32)
    groups = {"shapes": test.images, **F.ood_images(3, image_size=32)}
    report = F.confidence_report(model, groups, shapes.all_labels())
    assert list(report) == ["shapes", "noise", "empty", "digits"]
    for name, row in report.items():
        assert row["n"] == len(groups[name]) == len(row["best_cosine"]) == len(row["predictions"])
        assert 1 / 24 <= row["top_prob"] <= 1 and 0 <= row["confident"] <= 1
        assert 0 <= row["entropy_share"] <= 1 + 1e-9
        assert set(row["predictions"]) <= set(shapes.all_labels())

    results = F.abstention(model, groups, shapes.all_labels(),
                           ["a photo of something else.", "a photo of nothing."],
                           targets={"shapes": test.labels})
    assert set(results["shapes"]) == {"n", "abstained", "accuracy_without", "accuracy_with"}
    assert set(results["noise"]) == {"n", "abstained"}
    shapes_row = results["shapes"]
    # abstaining can only turn right answers into "I don't know", never wrong into right
    assert shapes_row["accuracy_with"] <= shapes_row["accuracy_without"]
    assert shapes_row["accuracy_without"] == pytest.approx(cc.train.evaluate_zero_shot(
        model, test.images, test.labels))


def test_shape_captions_name_only_the_shape():
    world = shapes.make_dataset(12, seed=4, p_single=1.0, bias={"triangle": ("red", 1.0)})
    plain = F.shape_captions(world)
    assert plain.images == world.images
    for scene, caption, new in zip(world.scenes, plain.captions, plain.scenes):
        obj = scene.objects[0]
        assert caption == f"a photo of a{'n' if obj.shape[0] in 'aeiou' else ''} {obj.shape}."
        assert obj.colour not in caption
        assert new.key == ("shape", obj.shape) and new.caption == caption
    assert world.captions != plain.captions  # the original is untouched
    with pytest.raises(ValueError):
        F.shape_captions(shapes.make_dataset(6, seed=0, p_single=0.0))


def test_shape_bias_report(model):
    report = F.shape_bias(model, "triangle", "red", n=64, seed=1)  # held-out pairs left out
    assert report["n"] == {"red triangles": 8, "other triangles": 8,
                           "red non-triangles": 24, "other non-triangles": 24}
    assert F.shape_bias(model, n=80, exclude=())["n"]["other triangles"] == 10
    for share in report["called"].values():
        assert 0 <= share <= 1
    assert 0 <= report["shape_accuracy"] <= 1
    with pytest.raises(ValueError):
        F.shape_bias(model, "hexagon")
