"""Loading and encoding plumbing, on a random-weight CLIP built here (see _random_clip.py)."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import clipcourse as cc
from clipcourse._clip import clip
from clipcourse.embed import _encode_text_trimmed

from _random_clip import random_clip, save_state_dict


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "random.pt"
    save_state_dict(path)
    return path


@pytest.fixture(scope="module")
def model(checkpoint):
    return cc.load_model(checkpoint, device="cpu")


def _images(n, size=40):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (size, size + i, 3), dtype=np.uint8))
            for i in range(n)]


def test_model_attributes(model, checkpoint):
    assert model.name == str(checkpoint)
    assert model.device == torch.device("cpu")
    assert isinstance(model.clip, clip.model.CLIP)
    assert model.input_resolution == 32 and model.context_length == 77 and model.embed_dim == 32
    assert model.dtype == torch.float32  # fp16 weights are converted on CPU
    assert model.logit_scale == pytest.approx(1 / 0.07, rel=1e-3)  # CLIP's initial temperature
    assert model.preprocess(Image.new("RGB", (50, 70))).shape == (3, 32, 32)
    assert "checkpoint file" in model.source
    assert model.fingerprint.startswith(str(checkpoint)) and len(model.fingerprint) > 16


def test_state_dict_checkpoint_that_clip_load_cannot_read(checkpoint):
    """The reason load_model builds the model itself: clip.load fails on a plain state dict."""
    with pytest.raises((EOFError, RuntimeError)):
        clip.load(str(checkpoint), device="cpu", jit=False)
    assert cc.load_model(checkpoint, device="cpu").embed_dim == 32


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
def test_torchscript_archive_loads_like_openai_release(tmp_path, model):
    scripted = torch.jit.trace(random_clip().float(), (torch.zeros(1, 3, 32, 32),
                                                        clip.tokenize(["a dog"])))
    path = tmp_path / "jit.pt"
    scripted.save(str(path))
    jit_model = cc.load_model(path, device="cpu")
    torch.testing.assert_close(jit_model.encode_texts(["a dog"]), model.encode_texts(["a dog"]),
                               atol=2e-3, rtol=0)


def test_bad_checkpoint_message(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.pt"):
        cc.load_model(bad, device="cpu")
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="does not look like a CLIP state dict"):
        cc.load_model(other, device="cpu")


def test_unknown_name_message():
    with pytest.raises(ValueError, match="tiny-shapes"):
        cc.load_model("ViT-Q/99", device="cpu")


@pytest.mark.parametrize("prompts", [
    ["a photo of a dog"],
    ["a", "a photo of a very small red circle on a noisy background", "two blue stars"],
    ["x " * 30],
])
def test_trimmed_text_encoding_equals_reference(model, prompts):
    tokens = clip.tokenize(prompts)  # [n, 77]
    with torch.no_grad():
        reference = cc.normalize(model.clip.encode_text(tokens).float())
        trimmed = cc.normalize(_encode_text_trimmed(model.clip, tokens).float())
    assert (reference - trimmed).abs().max() < 1e-4
    model.clear_cache()
    torch.testing.assert_close(model.encode_texts(prompts), reference, atol=1e-4, rtol=0)


def test_encode_texts_unit_norm_float32_and_cached(model, monkeypatch):
    model.clear_cache()
    feats = model.encode_texts(["a red circle", "a blue square", "a red circle"])
    assert feats.dtype == torch.float32 and feats.device.type == "cpu" and feats.shape == (3, 32)
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(feats[0], feats[2])
    calls = []
    real = cc.models._encode_text_trimmed
    monkeypatch.setattr(cc.models, "_encode_text_trimmed",
                        lambda m, t: calls.append(t.shape[0]) or real(m, t))
    again = model.encode_texts(["a red circle", "a green star"])
    assert calls == [1]  # only the new prompt was encoded
    torch.testing.assert_close(again[0], feats[0])
    assert model.encode_texts([]).shape == (0, 32)


def test_long_prompt_is_truncated_with_a_warning_naming_it(model):
    long_prompt = "a photo of " + "a very " * 60 + "red circle"
    assert model.token_count(long_prompt) > 77
    with pytest.warns(cc.TruncationWarning, match="a photo of a very"):
        feats = model.encode_texts([long_prompt])
    assert feats.shape == (1, 32) and torch.isfinite(feats).all()


def test_non_string_prompt_is_rejected(model):
    with pytest.raises(TypeError, match="strings"):
        model.encode_texts(["fine", 3])


def test_encode_images_matches_per_image_reference(model):
    images = _images(5)
    feats = model.encode_images(images, batch_size=2)
    assert feats.shape == (5, 32) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(5))
    with torch.no_grad():
        for image, row in zip(images, feats):
            ref = model.clip.encode_image(model.preprocess(image).unsqueeze(0))
            torch.testing.assert_close(row, cc.normalize(ref.float())[0], atol=1e-5, rtol=0)


def test_encode_images_mixed_inputs(model, tmp_path):
    image = _images(1)[0]
    path = tmp_path / "one.png"
    image.save(path)
    feats = model.encode_images([path, str(path), image, path.read_bytes()])
    assert feats.shape == (4, 32)
    torch.testing.assert_close(feats[0], feats[2], atol=1e-5, rtol=0)
    assert model.encode_images(path).shape == (1, 32)  # one path is one image


def test_bad_image_raises_by_default_and_is_skipped_on_request(model, tmp_path):
    good = tmp_path / "good.png"
    _images(1)[0].save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    missing = tmp_path / "missing.png"
    with pytest.raises(cc.ImageLoadError, match="broken.png"):
        model.encode_images([good, broken])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        model.encode_images([good, missing])
    inputs = [good, broken, good, missing, good]
    with pytest.warns(cc.ImageSkipWarning) as record:
        result = model.encode_images(inputs, batch_size=2, errors="skip")
    assert isinstance(result, cc.EncodedImages)
    assert result.indices == [0, 2, 4]
    assert [i for i, _, _ in result.failures] == [1, 3]
    assert "broken.png" in str(record[0].message)
    assert result.features.shape == (3, 32)
    with pytest.raises(ValueError, match="errors"):
        model.encode_images([good], errors="ignore")


def test_all_bad_batch_is_skipped(model, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.ImageSkipWarning)
        result = model.encode_images([bad, bad], errors="skip")
    assert result.features.shape == (0, 32) and result.indices == []


def test_cosine_similarity():
    a = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [0.0, 5.0], [-1.0, 0.0]])
    sim = cc.cosine_similarity(a, b)
    expected = torch.tensor([[1.0, 0.0, -1.0], [0.5 ** 0.5, 0.5 ** 0.5, -(0.5 ** 0.5)]])
    torch.testing.assert_close(sim, expected)
    assert cc.cosine_similarity(a[0], b).shape == (3,)
    assert cc.cosine_similarity(a, b[0]).shape == (2,)
    assert float(cc.cosine_similarity(a[0], a[0])) == pytest.approx(1.0)


def test_from_clip_wraps_a_module():
    wrapped = cc.Model.from_clip(random_clip().float(), name="mine")
    assert wrapped.name == "mine" and wrapped.encode_texts("hi").shape == (1, 32)
    other = cc.Model.from_clip(random_clip(seed=1).float(), name="mine")
    assert wrapped.fingerprint != other.fingerprint  # different weights, different cache key


def test_default_model_resolution_falls_back_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("CLIPCOURSE_MODEL", raising=False)
    monkeypatch.delenv("CLIPCOURSE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CLIPCOURSE_OFFLINE", "1")
    with pytest.warns(cc.FallbackNotice, match="python -m clipcourse download ViT-B/32"):
        model = cc.load_model(device="cpu")
    assert model.name == "tiny-shapes"
    assert model.source.startswith("fallback") and "offline" in model.source


def test_default_model_resolution_honours_environment(monkeypatch):
    monkeypatch.setenv("CLIPCOURSE_MODEL", "tiny-shapes")
    with warnings.catch_warnings():
        warnings.simplefilter("error", cc.FallbackNotice)
        model = cc.load_model(device="cpu")
    assert model.name == "tiny-shapes" and "CLIPCOURSE_MODEL" in model.source


def test_default_model_prefers_present_vit_weights(monkeypatch, tmp_path):
    """If ViT-B/32's file is present and verified, it is chosen (built from a stand-in here)."""
    monkeypatch.delenv("CLIPCOURSE_MODEL", raising=False)
    found = tmp_path / "ViT-B-32.pt"
    save_state_dict(found)
    monkeypatch.setattr(cc.models, "find_weights", lambda name: found)
    model = cc.load_model(device="cpu")
    assert model.name == "ViT-B/32" and str(found) in model.source


def test_missing_real_weights_offline_error(monkeypatch, tmp_path):
    monkeypatch.delenv("CLIPCOURSE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CLIPCOURSE_OFFLINE", "1")
    with pytest.raises(cc.WeightsError, match="python -m clipcourse download ViT-B/32"):
        cc.load_model("ViT-B/32", device="cpu")


def test_import_sets_no_global_state():
    import subprocess
    import sys

    code = ("import torch, matplotlib as mpl; rc = dict(mpl.rcParams); s = torch.initial_seed();"
            "import clipcourse as cc; cc.plots; cc.widgets; "
            "assert dict(mpl.rcParams) == rc; assert torch.initial_seed() == s; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_encoding_many_paths_holds_one_batch_of_decoded_images(model, tmp_path, monkeypatch):
    import gc
    import weakref

    import clipcourse.embed as embed

    path = tmp_path / "small.png"
    _images(1, size=24)[0].save(path)
    paths = [path] * 300
    alive, peak = set(), [0]
    real_load = embed.load_image

    def tracking_load(source):
        image = real_load(source)
        key = id(image)
        alive.add(key)
        weakref.finalize(image, alive.discard, key)
        gc.collect(0)
        peak[0] = max(peak[0], len(alive))
        return image

    monkeypatch.setattr(embed, "load_image", tracking_load)
    feats = model.encode_images(paths, batch_size=16, progress=False)
    assert feats.shape == (300, 32)
    assert peak[0] <= 16, f"{peak[0]} decoded images were alive at once"
