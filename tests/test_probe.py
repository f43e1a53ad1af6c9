"""Linear probes, few-shot curves and WiSE-FT mixing (clipcourse.probe), on synthetic features."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

import clipcourse as cc
from clipcourse.probe import (FewShotCurve, LinearProbe, few_shot_curve, fit_linear_probe,
                              interpolate, sample_shots, zero_shot_probe)


def clusters(n_per_class=20, n_classes=4, dim=8, spread=0.3, seed=0):
    """Unit-norm features around one random centre per class: ``[n, dim]`` and ``[n]``."""
    g = torch.Generator().manual_seed(seed)
    centres = cc.normalize(torch.randn(n_classes, dim, generator=g))  # [C, dim]
    targets = torch.arange(n_classes).repeat_interleave(n_per_class)  # [n]
    features = centres[targets] + spread * torch.randn(len(targets), dim, generator=g)
    return cc.normalize(features), targets


def objective(probe, features, targets, weight_decay, centre):
    return (F.cross_entropy(probe.logits(features), targets)
            + weight_decay / 2 * (probe.weight - centre).pow(2).sum())


def test_fit_reaches_the_minimum_of_l2_logistic_regression():
    features, targets = clusters(spread=0.8)
    probe = fit_linear_probe(features, targets, weight_decay=1e-2)
    weight = probe.weight.clone().requires_grad_()
    bias = probe.bias.clone().requires_grad_()
    loss = F.cross_entropy(features @ weight.T + bias, targets) + 1e-2 / 2 * weight.pow(2).sum()
    loss.backward()
    assert weight.grad.abs().max() < 1e-4 and bias.grad.abs().max() < 1e-4  # stationary point
    assert probe.weight.shape == (4, 8) and probe.bias.shape == (4,)


def test_separable_clusters_are_learned():
    features, targets = clusters(spread=0.1)
    probe = fit_linear_probe(features, targets)
    assert probe.accuracy(features, targets) == 1.0
    assert probe.predict(features).dtype == torch.long


def test_the_start_does_not_matter_the_problem_is_convex():
    features, targets = clusters(spread=0.8)
    start = LinearProbe(weight=5 * torch.randn(4, 8), bias=torch.randn(4))
    a = fit_linear_probe(features, targets, weight_decay=1e-2)
    b = fit_linear_probe(features, targets, weight_decay=1e-2, init=start)
    torch.testing.assert_close(a.weight, b.weight, atol=1e-3, rtol=0)
    torch.testing.assert_close(a.bias, b.bias, atol=1e-3, rtol=0)


def test_prior_centres_the_penalty():
    features, targets = clusters(spread=0.8)
    prior = LinearProbe(weight=torch.randn(4, 8), bias=torch.zeros(4))
    strong = fit_linear_probe(features, targets, weight_decay=1e4, prior=prior)
    torch.testing.assert_close(strong.weight, prior.weight, atol=1e-3, rtol=0)
    weak = fit_linear_probe(features, targets, weight_decay=1e-2, prior=prior)
    centre = prior.weight
    # the fitted probe has a lower objective than the prior itself and than the zero-centred fit
    plain = fit_linear_probe(features, targets, weight_decay=1e-2)
    assert objective(weak, features, targets, 1e-2, centre) <= objective(plain, features, targets,
                                                                          1e-2, centre) + 1e-6
    assert objective(weak, features, targets, 1e-2, centre) < objective(prior, features, targets,
                                                                        1e-2, centre)


def test_a_class_without_examples_is_never_predicted():
    features, targets = clusters(n_classes=4)
    keep = targets < 3
    probe = fit_linear_probe(features[keep], targets[keep], n_classes=4)
    assert probe.n_classes == 4
    assert not (probe.predict(features) == 3).any()


def test_zero_shot_probe_gives_zero_shot_logits():
    class Scaled:  # all that cc.zero_shot needs when given features and a classifier
        logit_scale = 17.5

    features, _ = clusters()
    classifier = cc.normalize(torch.randn(4, 8))  # [4, 8]
    probe = zero_shot_probe(classifier, Scaled.logit_scale)
    result = cc.zero_shot(Scaled(), features, ["a", "b", "c", "d"], classifier=classifier)
    torch.testing.assert_close(probe.logits(features), result.logits_per_image)
    assert probe.bias.abs().sum() == 0


def test_interpolation_is_linear_in_the_logits():
    features, targets = clusters()
    zs = zero_shot_probe(cc.normalize(torch.randn(4, 8)), 10.0)
    probe = fit_linear_probe(features, targets)
    torch.testing.assert_close(interpolate(zs, probe, 0.0).weight, zs.weight)
    torch.testing.assert_close(interpolate(zs, probe, 1.0).weight, probe.weight)
    for alpha in (0.25, 0.5, 0.8):
        mixed = interpolate(zs, probe, alpha).logits(features)
        expected = (1 - alpha) * zs.logits(features) + alpha * probe.logits(features)
        torch.testing.assert_close(mixed, expected, atol=1e-4, rtol=1e-5)
    with pytest.raises(ValueError, match="shapes"):
        interpolate(zs, LinearProbe(torch.zeros(3, 8), torch.zeros(3)), 0.5)


def test_sample_shots_k_per_class_reproducible():
    targets = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    chosen = sample_shots(targets, 2, seed=3)
    assert chosen.tolist() == sample_shots(targets, 2, seed=3).tolist()
    assert sorted(targets[chosen].tolist()) == [0, 0, 1, 1, 2, 2]
    assert len(set(chosen.tolist())) == 6  # without replacement
    assert sorted(targets[sample_shots(targets, 1, classes=[2, 0])].tolist()) == [0, 2]
    with pytest.raises(ValueError, match="fewer than"):
        sample_shots(targets, 4)


def test_sample_shots_ignores_classes_not_asked_for():
    targets = torch.tensor([-1, -1, 0, 0, 1, 1])  # -1 marks examples that may not be shots
    chosen = sample_shots(targets, 2, classes=range(2))
    assert set(chosen.tolist()) == {2, 3, 4, 5}


@pytest.mark.parametrize("bad, message", [
    (dict(targets=torch.tensor([0, 1])), "targets"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(n_classes=2), "0..1"),
    (dict(prior=LinearProbe(torch.zeros(4, 3), torch.zeros(4))), "prior"),
])
def test_fit_rejects_bad_input(bad, message):
    features, targets = clusters()
    kwargs = {"targets": targets, **bad}
    with pytest.raises(ValueError, match=message):
        fit_linear_probe(features, **kwargs)


def test_few_shot_curve_shape_and_spread():
    pool, pool_targets = clusters(n_per_class=12, spread=0.9, seed=1)
    test, test_targets = clusters(n_per_class=30, spread=0.9, seed=2)
    curve = few_shot_curve(pool, pool_targets, test, test_targets, shots=(1, 4, 8), draws=3,
                           zero_shot=0.5)
    assert curve.accuracies.shape == (3, 3)
    assert ((curve.accuracies >= 0) & (curve.accuracies <= 1)).all()
    assert curve.mean[-1] > curve.mean[0]  # more shots help on noisy clusters
    assert "zero-shot: 50.0%" in curve.table()
    again = few_shot_curve(pool, pool_targets, test, test_targets, shots=(1, 4, 8), draws=3)
    np.testing.assert_array_equal(curve.accuracies, again.accuracies)  # seeded


def test_crossover_interpolates_on_log2_shots():
    curve = FewShotCurve(shots=[1, 2, 4], accuracies=np.array([[0.5], [0.7], [0.9]]),
                         zero_shot=0.8)
    assert math.isclose(curve.crossover(), 2 ** 1.5)
    assert FewShotCurve([1, 2], np.array([[0.5], [0.6]]), zero_shot=0.9).crossover() is None
    assert FewShotCurve([1, 2], np.array([[0.95], [0.99]]), zero_shot=0.9).crossover() == 1.0
    with pytest.raises(ValueError, match="zero-shot"):
        FewShotCurve([1, 2], np.array([[0.5], [0.6]])).crossover()


def test_plots_draw_the_curves():
    curve = FewShotCurve(shots=[1, 2, 4], accuracies=np.array([[0.5, 0.6], [0.7, 0.8], [0.9, 0.9]]),
                         zero_shot=0.8)
    fig = cc.plots.plot_few_shot({"scratch": curve, "prior": curve}, paper="paper: 4 shots")
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("crossover ≈ 2.5 shots per class (scratch)" in label for label in labels)
    assert any("zero-shot 80.0%" in label for label in labels)
    fig = cc.plots.plot_interpolation(np.linspace(0, 1, 3), {"a": [0.5, 0.7, 0.6],
                                                             "b": np.ones((3, 2))})
    assert len(fig.axes[0].get_legend().get_texts()) == 2
