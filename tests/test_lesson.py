"""Lesson helpers: which models count as real CLIP for the cells that need one."""

import hashlib

import clipcourse as cc
from clipcourse import models

from _random_clip import random_clip, save_state_dict


def test_tiny_shapes_is_not_real_clip(capsys):
    model = cc.load_model("tiny-shapes", device="cpu")
    assert not model.is_openai
    assert cc.only_real_clip(model, "photos") is False
    assert "tiny-shapes model has never seen a photo" in capsys.readouterr().out


def test_a_model_you_trained_is_not_real_clip_whatever_its_name(capsys):
    mine = cc.Model.from_clip(random_clip().float(), name="ViT-B/32-lookalike", device="cpu")
    assert not mine.is_openai
    assert cc.only_real_clip(mine, "photos") is False
    out = capsys.readouterr().out
    assert "'ViT-B/32-lookalike' is not one of OpenAI's released CLIP models" in out


def test_openai_weights_are_recognised_by_checksum(tmp_path, monkeypatch, capsys):
    # a stand-in checkpoint file whose SHA-256 we register as if it were one of OpenAI's
    path = tmp_path / "ViT-B-32.pt"
    save_state_dict(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(models, "_openai_digests", lambda: {digest})
    model = cc.load_model(path, device="cpu")
    assert model.is_openai
    assert cc.only_real_clip(model, "photos") is True
    assert capsys.readouterr().out == ""


def test_openai_digests_come_from_the_download_urls():
    digests = models._openai_digests()
    assert len(digests) >= 9 and all(len(d) == 64 for d in digests)
    assert models._url_sha("ViT-B/32") in digests
