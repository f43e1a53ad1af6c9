"""The course's widgets, driven headless: set a control's value, read what the output shows.

Each widget writes its output by replacing ``output.outputs`` (never ``with output:``, which
captures nothing without a front end), so these tests see exactly what a browser would render.
"""

import io
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import pytest
import torch
from PIL import Image

import clipcourse as cc
from clipcourse import widgets as ccw

from _random_clip import random_clip


@pytest.fixture(scope="module")
def model():
    return cc.Model.from_clip(random_clip().float(), name="random", device="cpu")


def _html(widget) -> str:
    return ccw._shown_html(widget.output)


def _png_bytes(colour="red", size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _upload_value(content: bytes, name: str = "photo.png"):
    return ({"name": name, "type": "image/png", "size": len(content),
             "content": memoryview(content),
             "last_modified": datetime(2024, 5, 1, tzinfo=timezone.utc)},)


# -- temperature_explorer (lesson 02) ---------------------------------------------------------
def test_scaled_softmax_sharpens_with_the_scale():
    similarity = [0.30, 0.25, 0.20]
    flat, sharp = ccw.scaled_softmax(similarity, 1.0), ccw.scaled_softmax(similarity, 100.0)
    np.testing.assert_allclose(flat.sum(), 1.0)
    np.testing.assert_allclose(sharp, torch.tensor(similarity, dtype=torch.float64)
                               .mul(100).softmax(-1).numpy())
    assert sharp[0] > 0.99 and flat[0] < 0.36
    with pytest.raises(ValueError):
        ccw.scaled_softmax(similarity, 0.0)


def test_temperature_slider_redraws_the_probabilities():
    explorer = ccw.temperature_explorer(torch.tensor([0.30, 0.25, 0.20]), ["cat", "dog", "car"])
    assert isinstance(explorer, ccw.widgets.VBox)
    assert explorer.slider.value == pytest.approx(100.0)
    at_100 = _html(explorer)
    assert "cat" in at_100 and "0.993" in at_100 and "100" in at_100
    explorer.slider.value = 1.0
    at_1 = _html(explorer)
    assert at_1 != at_100 and "logit_scale = <b>1.0</b>" in at_1
    top = float(ccw.scaled_softmax([0.30, 0.25, 0.20], 1.0)[0])
    assert f"{top:.3f}" in at_1


def test_temperature_explorer_marks_a_model_scale_and_checks_shapes():
    explorer = ccw.temperature_explorer([[0.3, 0.1]], ["a", "b"], logit_scale=42.0)
    assert explorer.slider.value == pytest.approx(42.0, rel=0.01)
    assert "this model's is 42.0" in _html(explorer)
    with pytest.raises(ValueError, match="one image"):
        ccw.temperature_explorer(torch.rand(2, 3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="labels"):
        ccw.temperature_explorer([0.1, 0.2], ["a"])


# -- upload_classifier (lesson 03) ----------------------------------------------------------------
def test_upload_classifies_an_image(model):
    widget = ccw.upload_classifier(model, ["red circle", "blue square", "green star"], k=2)
    assert widget.upload.accept == "image/*" and widget.upload.multiple is False
    assert "Upload" in _html(widget)
    widget.upload.value = _upload_value(_png_bytes())
    shown = _html(widget)
    assert "photo.png" in shown and "<img" in shown and "Error" not in shown
    assert widget.result is not None and widget.result.probs.shape == (1, 3)
    top_label, top_p = widget.result.top_k(1)[0][0]
    assert top_label in shown and f"{top_p:.3f}" in shown
    expected = cc.zero_shot(model, [Image.open(io.BytesIO(_png_bytes()))],
                            ["red circle", "blue square", "green star"])
    torch.testing.assert_close(widget.result.probs, expected.probs)


def test_editing_the_labels_reclassifies_the_last_upload(model):
    widget = ccw.upload_classifier(model, ["cat", "dog"])
    widget.upload.value = _upload_value(_png_bytes("blue"))
    widget.labels.value = "corgi, tabby cat, rocket"
    shown = _html(widget)
    assert "corgi" in shown and "rocket" in shown and widget.result.labels[0] == "corgi"
    widget.labels.value = " , "
    assert "at least one label" in _html(widget)


@pytest.mark.parametrize("content, reason", [
    (b"this is not an image at all", "does not recognise it as an image"),
    (_png_bytes()[:60], "truncated or corrupt"),
    (b"", "empty"),
], ids=["not-an-image", "truncated-png", "empty"])
def test_a_bad_upload_shows_an_error_not_a_traceback(model, content, reason):
    widget = ccw.upload_classifier(model, ["cat", "dog"])
    widget.upload.value = _upload_value(content, "holiday.jpg")
    shown = _html(widget)
    assert "cc-error" in shown and "holiday.jpg" in shown and reason in shown
    assert "Traceback" not in shown and widget.result is None
    widget.upload.value = _upload_value(_png_bytes(), "fine.png")  # recovers
    assert "cc-error" not in _html(widget) and "fine.png" in _html(widget)


def test_classify_upload_is_zero_shot_on_the_bytes(model):
    result = ccw.classify_upload(model, _png_bytes(), ["cat", "dog"], ["a {}."])
    assert result.labels == ["cat", "dog"] and result.probs.shape == (1, 2)
    with pytest.raises(cc.ImageLoadError, match="upload.bin"):
        ccw.classify_upload(model, b"junk", ["cat"], name="upload.bin")


# -- prompt_comparator (lesson 04) ---------------------------------------------------------------
@pytest.fixture()
def images():
    return [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]


def test_comparator_table_follows_the_prompts(model, images):
    comparator = ccw.prompt_comparator(model, images, ["a red circle", "a blue square"],
                                       names=["r", "g", "b"])
    assert "cc-prompt-input" in comparator.prompts._dom_classes
    assert "cc-comparator-output" in comparator.output._dom_classes
    before = _html(comparator)
    assert "a red circle" in before and "a blue square" in before and before.count("<tr>") == 4
    comparator.prompts.value = "a red circle\na blue square\na photo of a green triangle"
    after = _html(comparator)
    assert after != before and "a photo of a green triangle" in after
    probs = comparator.comparison.probs
    assert probs.shape == (3, 3)
    torch.testing.assert_close(probs.sum(dim=-1), torch.ones(3))
    image_features = model.encode_images(images)
    text_features = model.encode_texts(comparator.comparison.prompts)
    expected = (model.logit_scale * image_features @ text_features.T).softmax(dim=-1)
    torch.testing.assert_close(probs, expected)
    assert f"{float(probs[0, 2]):.3f}" in after
    for prompt, n in zip(comparator.comparison.prompts, comparator.comparison.token_counts):
        assert n == model.token_count(prompt) and f"{n} tokens" in after


def test_comparator_warns_about_a_prompt_the_model_will_truncate(model, images):
    comparator = ccw.prompt_comparator(model, images, "a dog")
    assert "truncated" not in _html(comparator)
    long_prompt = "a photo of a " + " ".join(["very"] * 80) + " big dog"
    assert model.token_count(long_prompt) > model.context_length
    with _no_truncation_warning():
        comparator.prompts.value = "a dog\n" + long_prompt
    shown = _html(comparator)
    assert "cc-truncation-warning" in shown and "truncated" in shown
    assert f"{model.token_count(long_prompt)} tokens" in shown and "at most 77" in shown
    assert comparator.comparison.truncated == [False, True]


class _no_truncation_warning:
    """The comparator shows its own warning and keeps the console quiet."""

    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings(record=True)
        self._records = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        assert not [r for r in self._records if issubclass(r.category, cc.TruncationWarning)]


def test_comparator_encodes_images_once_and_only_changed_prompts(model, images, monkeypatch):
    calls = {"images": 0, "texts": []}
    original_images = model.encode_images

    def counting_images(*args, **kwargs):
        calls["images"] += 1
        return original_images(*args, **kwargs)

    import clipcourse.models as models
    original_trimmed = models._encode_text_trimmed

    def counting_trimmed(clip_model, tokens):
        calls["texts"].append(len(tokens))
        return original_trimmed(clip_model, tokens)

    monkeypatch.setattr(model, "encode_images", counting_images)
    monkeypatch.setattr(models, "_encode_text_trimmed", counting_trimmed)
    model.clear_cache()
    comparator = ccw.prompt_comparator(model, images, ["one prompt", "two prompt"])
    assert calls == {"images": 1, "texts": [2]}
    comparator.prompts.value = "one prompt\ntwo prompts"  # one line edited
    comparator.prompts.value = "one prompt\ntwo prompts\n\n"  # nothing new
    comparator.prompts.value = "two prompts\none prompt"  # reordered
    assert calls == {"images": 1, "texts": [2, 1]}
    assert comparator.comparison.prompts == ["two prompts", "one prompt"]


def test_comparator_handles_empty_and_repeated_prompts(model, images):
    comparator = ccw.prompt_comparator(model, images, "a cat\n\na cat\na dog")
    assert comparator.comparison.prompts == ["a cat", "a dog"]
    comparator.prompts.value = "   \n"
    assert "at least one prompt" in _html(comparator)
    assert comparator.comparison.probs.shape == (3, 0)


def test_comparator_accepts_samples_features_and_update(model, images):
    class Sample(NamedTuple):
        name: str
        image: Image.Image

    samples = [Sample(f"s{i}", im) for i, im in enumerate(images)]
    features = model.encode_images(images)
    comparator = ccw.prompt_comparator(model, samples, ["x"], image_features=features,
                                       continuous_update=False)
    assert comparator.names == ["s0", "s1", "s2"] and not comparator.prompts.continuous_update
    comparison = comparator.update("x\ny")
    assert comparison.prompts == ["x", "y"] and "s2" in _html(comparator)
    direct = ccw.compare_prompts(model, features, ["x", "y"])
    torch.testing.assert_close(direct.probs, comparison.probs)
    with pytest.raises(ValueError):
        ccw.prompt_comparator(model, [], ["x"])


# -- threshold_explorer (lesson 05) ---------------------------------------------------------------
def test_threshold_stats():
    stats = ccw.threshold_stats([0.30, 0.28, 0.22], [0.21, 0.18], 0.25)
    assert (stats.coverage, stats.precision) == (0.4, 1.0)
    assert stats.matched_kept == pytest.approx(2 / 3) and stats.unmatched_rejected == 1.0
    everything = ccw.threshold_stats(torch.tensor([0.3, 0.2]), np.array([0.25]), 0.0)
    assert everything.coverage == 1.0 and everything.precision == pytest.approx(2 / 3)
    nothing = ccw.threshold_stats([0.3], [0.2], 0.9)
    assert nothing.coverage == 0.0 and np.isnan(nothing.precision)


def test_threshold_slider_updates_coverage_and_precision():
    explorer = ccw.threshold_explorer([0.30, 0.28, 0.22], [0.21, 0.18], threshold=0.19,
                                      matched_name="shapes", unmatched_name="photos")
    low = _html(explorer)
    assert "<svg" in low and "shapes" in low and "photos" in low and "80.0%" in low
    explorer.slider.value = 0.25
    high = _html(explorer)
    assert high != low and "40.0%" in high and "100.0%" in high
    assert explorer.stats.threshold == pytest.approx(0.25)
    explorer.slider.value = explorer.slider.max
    assert "—" in _html(explorer) or explorer.stats.answered > 0


# -- search_box (lesson 07) ------------------------------------------------------------------------
class _Hit(NamedTuple):
    rank: int
    path: object
    score: float


class _FakeIndex:
    def __init__(self, paths):
        self.paths = paths
        self.queries = []

    def search(self, query, k):
        self.queries.append((query, k))
        return [_Hit(i + 1, p, 0.5 - 0.1 * i) for i, p in enumerate(self.paths[:k])]


def test_search_box_shows_thumbnails_and_scores(tmp_path):
    paths = []
    for colour in ("red", "green", "blue"):
        path = tmp_path / f"{colour}.png"
        path.write_bytes(_png_bytes(colour))
        paths.append(path)
    index = _FakeIndex(paths)
    box = ccw.search_box(index, k=2)
    assert "Type a description" in _html(box) and index.queries == []
    box.query.value = "a red thing"
    shown = _html(box)
    assert index.queries == [("a red thing", 2)]
    assert shown.count("<img") == 2 and "data:image/" in shown
    assert "#1 · 0.500" in shown and "green.png" in shown and "blue.png" not in shown
    assert [hit.path for hit in box.results] == paths[:2]


def test_search_box_with_a_real_index(model, tmp_path):
    for colour in ("red", "green", "blue", "yellow"):
        (tmp_path / f"{colour}.png").write_bytes(_png_bytes(colour))
    index = cc.search.ImageIndex(model, tmp_path)
    box = ccw.search_box(index, k=3, query="a yellow square")
    assert len(box.results) == 3 and _html(box).count("<img") == 3


# -- what a browser shows (tests/test_browser.py looks at the real thing) ----------------------
@pytest.mark.parametrize("scale", [17.7254, 14.2857, 42.0, 99.31, 1.5])
def test_temperature_slider_starts_where_its_text_says(scale):
    """The browser snaps a FloatLogSlider to its step in log10; start on that grid, so the
    readout (one decimal) and the text's "this model's is ..." agree."""
    explorer = ccw.temperature_explorer([0.3, 0.1], ["a", "b"], logit_scale=scale)
    value = explorer.slider.value
    snapped = 10 ** (round(np.log10(value) / explorer.slider.step) * explorer.slider.step)
    assert snapped == pytest.approx(value, rel=1e-9)  # already where the browser puts it
    assert f"{value:.1f}" == f"{scale:.1f}"
    assert f"this model's is {value:.1f}" in _html(explorer)


def test_bars_keep_their_number_on_the_same_line():
    markup = ccw._bar(0.25, best=True)
    assert markup.startswith('<span class="cc-bar" style="white-space:nowrap">')
    assert markup.count("<span") == markup.count("</span>") == 3


def test_comparator_headers_stay_short_for_long_prompts(model):
    long_prompt = "a photo of " + "a very, " * 30 + "red circle"
    widget = ccw.prompt_comparator(model, [Image.new("RGB", (32, 32), "red")],
                                   ["red circle", long_prompt])
    markup = _html(widget)
    assert markup.count('class="cc-prompt-header"') == 2
    assert "-webkit-line-clamp:3" in markup  # at most 3 lines of prompt in a header
    assert f'title="{long_prompt}"' in markup  # the whole prompt on hover
    assert "truncated" in markup  # the token count and its warning stay visible


def test_upload_button_is_as_wide_as_its_label(model):
    widget = ccw.upload_classifier(model, ["red circle"])
    assert widget.upload.layout.width == "auto"  # the default 148 px cut "Upload a phot…"
