"""Contrastive training: the loss, determinism, a short run that learns, and train_tiny's files."""

import inspect
import json
import math

import pytest
import torch
import torch.nn.functional as F

from clipcourse import shapes, train
from clipcourse._clip import clip


def test_clip_loss_with_identity_targets_is_symmetric_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(6, 6)  # [batch, batch]
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(train.clip_loss(logits, torch.eye(6)), expected)


def test_clip_loss_soft_targets_treat_duplicates_as_positives():
    # pairs 0 and 1 say the same thing, so with soft targets their 2x2 block is all positives
    targets = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])
    diagonal = torch.eye(3) * 20 - 10  # each image picks only its own caption
    split = torch.full((3, 3), -10.0)  # image 0 and 1 like both captions equally
    split[:2, :2] = 10.0
    split[2, 2] = 10.0
    assert train.clip_loss(split, targets) < train.clip_loss(diagonal, targets)
    assert train.clip_loss(diagonal, torch.eye(3)) < train.clip_loss(split, torch.eye(3))


def test_build_clip_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = train.build_clip(seed=0)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the caller's random stream is untouched
    b = train.build_clip(seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="heads"):
        train.build_clip(transformer_heads=4)


def test_fp16_state_dict_rebuilds_with_openai_builder():
    model = train.build_clip(seed=0)
    state_dict = train._fp16_state_dict(model)
    assert all(v.dtype == torch.float16 for v in state_dict.values() if v.is_floating_point())
    rebuilt = clip.model.build_model(dict(state_dict)).float().eval()
    assert rebuilt.context_length == 77 and rebuilt.vocab_size == 49408
    assert rebuilt.visual.input_resolution == train.TINY_CONFIG["image_resolution"]
    tokens = clip.tokenize(["a photo of a red circle."])
    with torch.no_grad():
        full = rebuilt.encode_text(tokens)
        trimmed = train._encode_text_trimmed(rebuilt, tokens)
    assert torch.allclose(full, trimmed, atol=1e-5)


def test_pixels_match_clip_preprocessing():
    images = shapes.make_dataset(3, seed=0).images
    preprocess = clip.clip._transform(64)
    expected = torch.stack([preprocess(im) for im in images])
    assert torch.allclose(train._pixels(images, 64), expected, atol=1e-5)


@pytest.fixture
def one_thread():
    """Train on one thread: on a shared 2-core machine two OpenMP threads stall when others run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _simple_data(n, seed):
    return shapes.make_dataset(n, seed=seed, p_single=1.0, styles=["filled"],
                               backgrounds=["plain"])


def test_training_is_deterministic_given_the_seed(one_thread):
    data = _simple_data(64, seed=0)
    runs = [train.train_clip(data, steps=3, batch_size=16, seed=7, progress=False)
            for _ in range(2)]
    assert runs[0].history["loss"] == runs[1].history["loss"]
    for x, y in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(x, y)


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 11, 100])
def test_learning_rate_warms_up_then_decays_for_any_number_of_steps(steps):
    warmup_steps = max(1, round(0.1 * steps))
    factors = [train._lr_factor(i, steps, warmup_steps) for i in range(steps)]
    assert all(0 <= f <= 1 for f in factors)
    assert factors[warmup_steps - 1] == 1  # the peak comes right after the warm-up
    assert factors == sorted(factors[:warmup_steps]) + sorted(factors[warmup_steps:],
                                                                reverse=True)


def test_a_ten_step_run_trains(one_thread):
    # a one-cycle scheduler used to divide by zero when warm-up was exactly one step
    data = _simple_data(32, seed=0)
    result = train.train_clip(data, steps=10, batch_size=16, seed=0, progress=False)
    assert len(result.history["lr"]) == 10 and max(result.history["lr"]) <= 1e-3


@pytest.mark.slow
def test_short_training_run_learns(one_thread):
    """Lesson 06's small CLIP (32 px, one text layer), 120 steps on one core: loss falls and
    zero-shot accuracy clearly beats chance (1/24)."""
    data = shapes.make_dataset(1500, seed=0, p_single=1.0, styles=["filled"],
                               backgrounds=["plain"], image_size=32)
    test = shapes.make_test_set(96, seed=11, pairs=[(c, s) for c in shapes.COLOURS
                                                    for s in shapes.SHAPES],
                                styles=["filled"], backgrounds=["plain"], image_size=32)
    result = train.train_clip(data, model=train.build_clip(seed=0, **train.LESSON_CONFIG),
                              steps=120, batch_size=64, lr=3e-3, seed=0, eval_set=test,
                              eval_every=60, snapshot_every=60, progress=False)
    loss = result.history["loss"]
    assert sum(loss[-10:]) / 10 < 0.8 * sum(loss[:10]) / 10
    assert result.history["accuracy"][-1] > 0.15  # chance is 1/24, about 0.04
    assert len(result.history["logit_scale"]) == 120
    assert all(math.isfinite(x) and x <= 100 for x in result.history["logit_scale"])
    assert [s["step"] for s in result.snapshots] == [1, 60, 120]
    assert result.snapshots[0]["logits_per_image"].shape == (8, 8)


def test_train_tiny_writes_checkpoint_and_metadata(tmp_path, monkeypatch):
    monkeypatch.setitem(train.TINY_RECIPE, "n_train", 64)
    monkeypatch.setitem(train.TINY_RECIPE, "batch_size", 16)
    out = tmp_path / "tiny.pt"
    meta = train.train_tiny(out=out, seed=3, steps=2, progress=False, evaluate=False)
    state_dict = torch.load(out, map_location="cpu", weights_only=True)
    model = clip.model.build_model(state_dict).float()
    assert sum(p.numel() for p in model.parameters()) == meta["parameters"]
    written = json.loads(out.with_suffix(".json").read_text())
    assert written == json.loads(json.dumps(meta))
    assert written["seed"] == 3 and written["training"]["steps"] == 2
    assert written["command"].endswith("--seed 3 --steps 2")
    assert written["held_out_pairs"] == [list(p) for p in shapes.HOLDOUT]
    assert written["architecture"]["transformer_width"] == 128


def test_fixed_scale_freezes_the_temperature(one_thread):
    data = _simple_data(32, seed=0)
    model = train.build_clip(seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train.train_clip(data, model=model, steps=3, batch_size=16, seed=0,
                              fixed_scale=1.0, progress=False)
    assert result.history["logit_scale"] == [1.0] * 3
    changed = [k for k, v in result.model.state_dict().items() if not torch.equal(v, before[k])]
    assert "logit_scale" in changed and len(changed) > 10  # set once; everything else trains
    assert result.model.logit_scale.requires_grad  # frozen for that run only
    # below 1 too: the clamp to [1, 100] is for a learned scale, not a fixed one
    cooler = train.train_clip(data, model=model, steps=2, batch_size=16, seed=0,
                              fixed_scale=0.5, progress=False)
    assert cooler.history["logit_scale"] == pytest.approx([0.5] * 2)
    with pytest.raises(ValueError, match="fixed_scale must be a positive number"):
        train.train_clip(data, model=model, steps=1, batch_size=16, fixed_scale=0.0,
                         progress=False)


def test_progress_bar_ends_complete(one_thread, capsys):
    data = _simple_data(32, seed=0)
    train.train_clip(data, steps=3, batch_size=16, seed=0, desc="my run")
    err = capsys.readouterr().err  # outside a notebook: tqdm's text bar on stderr
    assert "my run" in err and "3/3" in err
    train.train_clip(data, steps=2, batch_size=16, seed=0, progress=False)
    assert capsys.readouterr().err == ""


def test_lesson_data_spells_out_every_make_dataset_knob():
    # a new keyword of make_dataset must be chosen for lesson 06 on purpose, not by its default
    parameters = set(inspect.signature(shapes.make_dataset).parameters)
    assert set(train.LESSON_DATA) == parameters
    assert train.LESSON_DATA["image_size"] == train.LESSON_CONFIG["image_resolution"]
    train.build_clip(seed=0, **train.LESSON_CONFIG)  # a valid clip.model.CLIP configuration


def test_learner_run_reports_accuracy_and_seconds(one_thread, monkeypatch, capsys):
    monkeypatch.setitem(train.LESSON_DATA, "n", 48)
    monkeypatch.setitem(train.LESSON_TESTS, "seen", dict(n=20, seed=1))
    monkeypatch.setitem(train.LESSON_TESTS, "held_out", dict(n=8, seed=2))
    run = train.learner_run(seed=1, steps=2)
    assert run["seed"] == 1 and run["steps"] == 2 and run["train_seconds"] > 0
    assert 0 <= run["seen"] <= 1 and 0 <= run["held_out"] <= 1
    assert "seen" in capsys.readouterr().out
    tests = train.lesson_test_sets()
    assert len(tests["seen"]) == 20 and set(tests["held_out"].labels) <= set(
        shapes.all_labels(shapes.HOLDOUT))
    assert not set(tests["seen"].labels) & set(shapes.all_labels(shapes.HOLDOUT))
