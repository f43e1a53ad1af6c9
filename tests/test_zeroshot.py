"""Prompt ensembles and zero-shot results, on a random-weight CLIP (the maths, not the model)."""

import pytest
import torch

import clipcourse as cc

from _random_clip import random_clip


@pytest.fixture(scope="module")
def model():
    return cc.Model.from_clip(random_clip().float(), name="random", device="cpu")


def test_classifier_is_normalised_mean_of_normalised_prompts(model):
    templates = ["a photo of a {}.", "a drawing of a {}.", "{}"]
    classifier = cc.build_classifier(model, ["red circle", "blue square"], templates)
    assert classifier.shape == (2, 32)
    for row, label in zip(classifier, ["red circle", "blue square"]):
        prompts = model.encode_texts([t.format(label) for t in templates])  # [3, 32]
        mean = prompts.mean(dim=0)
        torch.testing.assert_close(row, mean / mean.norm())
    torch.testing.assert_close(classifier.norm(dim=-1), torch.ones(2))


def test_without_renormalising_a_class_scores_the_mean_of_its_prompt_cosines(model):
    templates = ["a photo of a {}.", "a drawing of a {}.", "{}"]
    labels = ["red circle", "blue square"]
    classifier = cc.build_classifier(model, labels, templates, renormalize=False)
    images = cc.embed.normalize(torch.randn(5, 32))  # [5, 32]
    for j, label in enumerate(labels):
        prompts = model.encode_texts([t.format(label) for t in templates])  # [3, 32]
        torch.testing.assert_close(images @ classifier[j], (images @ prompts.T).mean(dim=1))
    assert (classifier.norm(dim=-1) < 1).all()
    result = cc.zero_shot(model, images, labels, templates, renormalize=False)
    torch.testing.assert_close(result.similarity, images @ classifier.T)


def test_default_template_is_a_photo_of(model):
    classifier = cc.build_classifier(model, ["dog"])
    torch.testing.assert_close(classifier[0], model.encode_texts(["a photo of a dog."])[0])


def test_name_variants_join_the_ensemble(model):
    corgi = ["corgi", "pembroke welsh corgi"]
    classifier = cc.build_classifier(model, [corgi, "cat"], ["a photo of a {}."])
    prompts = model.encode_texts(["a photo of a corgi.", "a photo of a pembroke welsh corgi."])
    mean = prompts.mean(dim=0)
    torch.testing.assert_close(classifier[0], mean / mean.norm())
    result = cc.zero_shot(model, torch.randn(2, 32), [corgi, "cat"])
    assert result.labels == ["corgi", "cat"]


@pytest.mark.parametrize("labels, templates, error", [
    ("dog", None, TypeError),
    ([], None, ValueError),
    (["dog"], ["no placeholder"], ValueError),
    (["dog", ""], None, ValueError),
])
def test_bad_arguments(model, labels, templates, error):
    with pytest.raises(error):
        cc.build_classifier(model, labels, templates)


def test_zero_shot_probabilities(model):
    torch.manual_seed(0)
    image_features = torch.randn(4, 32)
    labels = ["red circle", "blue square", "green star"]
    result = cc.zero_shot(model, image_features, labels)
    assert result.probs.shape == (4, 3)
    torch.testing.assert_close(result.probs.sum(dim=-1), torch.ones(4))
    classifier = cc.build_classifier(model, labels)
    similarity = cc.normalize(image_features) @ classifier.T
    torch.testing.assert_close(result.similarity, similarity)
    torch.testing.assert_close(result.probs, (model.logit_scale * similarity).softmax(dim=-1))
    top = result.top_k(2)
    assert len(top) == 4 and len(top[0]) == 2 and top[0][0][1] >= top[0][1][1]
    assert result.predictions[0] == top[0][0][0]
    assert result.accuracy(result.predictions) == 1.0
    assert "red circle" in repr(result) or "blue square" in repr(result)
    assert len(result.top_k(10)[0]) == 3  # k is capped at the number of labels


def test_zero_shot_encodes_images(model):
    from PIL import Image

    result = cc.zero_shot(model, [Image.new("RGB", (40, 40), "red")], ["red", "blue"])
    assert result.probs.shape == (1, 2) and result.image_features.shape == (1, 32)
