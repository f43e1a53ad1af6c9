"""Linear probes on frozen CLIP features: logistic regression, few-shot curves, WiSE-FT.

A *linear probe* keeps both CLIP encoders frozen and trains one linear layer on the image
features: ``logits = image_features @ weight.T + bias``, with the cross-entropy of the labels
and an L2 penalty. It is multinomial logistic regression, the classifier OpenAI's notebook
fits with scikit-learn (``LogisticRegression``, L-BFGS). Here it is a few lines of torch with
the same maths: full-batch L-BFGS on

    mean cross-entropy + weight_decay / 2 * ||weight - prior||²

A zero-shot classifier is a linear layer too: ``weight = logit_scale * text_features``, no
bias (lesson 03). So the two can be compared on the same features, one can start from (or be
pulled towards) the other, and their weights can be mixed:

* :func:`fit_linear_probe` fits a probe; ``prior=`` centres the penalty on other weights (the
  zero-shot ones: the probe then only moves as far from zero-shot as the shots demand).
* :func:`zero_shot_probe` wraps a ``build_classifier`` output as a :class:`LinearProbe`.
* :func:`interpolate` mixes two probes' weights, the WiSE-FT recipe.
* :func:`sample_shots` and :func:`few_shot_curve` measure accuracy against shots per class.

The loss is convex, so the fitted probe does not depend on where L-BFGS starts: initialising
from zero-shot changes nothing at convergence. Pulling towards zero-shot (``prior=``) does.

References
----------
Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
(2021): linear probes (Section 3.2, L-BFGS logistic regression) and Figure 6-7 (zero-shot
matches a 4-shot linear probe on average over 27 datasets, a 16-shot one on ImageNet).
Wortsman et al., "Robust fine-tuning of zero-shot models" (WiSE-FT, CVPR 2022).

Introduced in ``08_beyond_zero_shot.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["LinearProbe", "FewShotCurve", "fit_linear_probe", "zero_shot_probe", "interpolate",
           "sample_shots", "few_shot_curve"]


@dataclass
class LinearProbe:
    """A linear classifier on image features: ``logits = image_features @ weight.T + bias``.

    Attributes
    ----------
    weight : torch.Tensor
        ``[n_classes, embed_dim]``.
    bias : torch.Tensor
        ``[n_classes]``.

    Examples
    --------
    >>> probe = fit_linear_probe(image_features, targets)  # doctest: +SKIP
    >>> probe.accuracy(test_features, test_targets)  # doctest: +SKIP
    0.93

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[0])

    def logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """``[n_images, n_classes]`` logits of ``[n_images, embed_dim]`` features."""
        return image_features.float() @ self.weight.T + self.bias

    def predict(self, image_features: torch.Tensor) -> torch.Tensor:
        """``[n_images]`` class indices: the argmax of the logits."""
        return self.logits(image_features).argmax(dim=-1)

    def accuracy(self, image_features: torch.Tensor, targets) -> float:
        """Fraction of images whose predicted class index equals ``targets[i]``."""
        targets = torch.as_tensor(targets)
        if len(targets) != len(image_features):
            raise ValueError(f"{len(targets)} targets for {len(image_features)} images")
        if len(targets) == 0:
            raise ValueError("accuracy of an empty set is undefined")
        return float((self.predict(image_features) == targets).float().mean())


def zero_shot_probe(classifier: torch.Tensor, logit_scale: float) -> LinearProbe:
    """The zero-shot classifier as a :class:`LinearProbe`: ``weight = logit_scale * classifier``.

    Parameters
    ----------
    classifier : torch.Tensor
        ``[n_classes, embed_dim]`` unit rows, e.g. ``cc.build_classifier(model, labels)``.
    logit_scale : float
        ``model.logit_scale``: with it the probe's softmax gives zero-shot's probabilities.

    Returns
    -------
    LinearProbe
        No bias (zeros): zero-shot has none.

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    weight = logit_scale * classifier.detach().float().cpu()  # [n_classes, embed_dim]
    return LinearProbe(weight=weight, bias=torch.zeros(weight.shape[0]))


def fit_linear_probe(image_features: torch.Tensor, targets, *, n_classes: int | None = None,
                     weight_decay: float = 1e-3, prior: LinearProbe | None = None,
                     init: LinearProbe | None = None, max_iter: int = 300) -> LinearProbe:
    """Logistic regression on frozen features, by full-batch L-BFGS.

    Minimises ``mean cross-entropy + weight_decay / 2 * ||weight - prior.weight||²`` (the bias
    is not penalised), the objective of scikit-learn's ``LogisticRegression`` that OpenAI's
    notebook uses, with ``weight_decay = 1 / (C * n_images)``.

    Parameters
    ----------
    image_features : torch.Tensor
        ``[n_images, embed_dim]``, e.g. ``model.encode_images(images)``.
    targets : sequence of int or tensor
        ``[n_images]`` class indices.
    n_classes : int, optional
        Default: ``prior``'s or ``init``'s number of classes, else ``max(targets) + 1``. Set it
        when some classes have no examples (their rows stay at the prior).
    weight_decay : float
        Strength of the L2 penalty. Larger keeps the probe nearer its prior.
    prior : LinearProbe, optional
        Where the penalty pulls the weights (default: zero, plain weight decay). Pass
        ``zero_shot_probe(...)`` to fine-tune *around* the zero-shot classifier.
    init : LinearProbe, optional
        Where L-BFGS starts (default: ``prior``, else zeros). The loss is convex, so at
        convergence the start does not matter; it is here so that you can check that.
    max_iter : int
        L-BFGS iterations (it stops earlier when converged).

    Returns
    -------
    LinearProbe
        Adding one constant to every class's bias changes no probability, so the fitted bias
        is defined only up to that constant: it is returned with the same mean as the prior's
        (zero by default), which makes the result unique.

    Examples
    --------
    >>> probe = fit_linear_probe(image_features, targets, n_classes=24)  # doctest: +SKIP
    >>> zs = zero_shot_probe(cc.build_classifier(model, labels), model.logit_scale)  # doctest: +SKIP
    >>> tuned = fit_linear_probe(image_features, targets, prior=zs)  # doctest: +SKIP

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    features = image_features.detach().float().cpu()  # [n_images, embed_dim]
    targets = torch.as_tensor(targets, dtype=torch.long).cpu()  # [n_images]
    if features.dim() != 2 or len(features) != len(targets):
        raise ValueError(f"Need [n_images, embed_dim] features and [n_images] targets, got "
                         f"{tuple(features.shape)} and {tuple(targets.shape)}")
    if len(targets) == 0:
        raise ValueError("fit_linear_probe needs at least one example")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, not {weight_decay}")
    reference = prior or init
    if n_classes is None:
        n_classes = reference.n_classes if reference is not None else int(targets.max()) + 1
    if int(targets.min()) < 0 or int(targets.max()) >= n_classes:
        raise ValueError(f"targets must lie in 0..{n_classes - 1}")
    embed_dim = features.shape[1]
    for name, probe in (("prior", prior), ("init", init)):
        if probe is not None and tuple(probe.weight.shape) != (n_classes, embed_dim):
            raise ValueError(f"{name} has weight shape {tuple(probe.weight.shape)}, expected "
                             f"{(n_classes, embed_dim)}")
    centre = prior.weight.float() if prior is not None else torch.zeros(n_classes, embed_dim)
    start = init or prior
    weight = (start.weight.float().clone() if start is not None
              else torch.zeros(n_classes, embed_dim)).requires_grad_()  # [n_classes, embed_dim]
    bias = (start.bias.float().clone() if start is not None
            else torch.zeros(n_classes)).requires_grad_()  # [n_classes]
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-6, tolerance_change=1e-10,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = features @ weight.T + bias  # [n_images, n_classes]
        loss = F.cross_entropy(logits, targets) + weight_decay / 2 * (weight - centre).pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    bias = bias.detach()
    bias = bias - (bias - (prior.bias.float() if prior is not None else 0)).mean()  # see Returns
    return LinearProbe(weight=weight.detach(), bias=bias)


def interpolate(zero_shot: LinearProbe, probe: LinearProbe, alpha: float) -> LinearProbe:
    """Mix two probes' weights: ``(1 - alpha) * zero_shot + alpha * probe`` (WiSE-FT).

    ``alpha = 0`` is ``zero_shot``, ``alpha = 1`` is ``probe``. For a linear layer, mixing the
    weights is the same as mixing the logits.

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    if zero_shot.weight.shape != probe.weight.shape:
        raise ValueError(f"Cannot mix weights of shapes {tuple(zero_shot.weight.shape)} and "
                         f"{tuple(probe.weight.shape)}")
    return LinearProbe(weight=torch.lerp(zero_shot.weight, probe.weight, alpha),
                       bias=torch.lerp(zero_shot.bias, probe.bias, alpha))


def sample_shots(targets, k: int, seed: int = 0, *, classes: Sequence[int] | None = None
                 ) -> torch.Tensor:
    """Indices of ``k`` random examples of each class: a k-shot training set.

    Parameters
    ----------
    targets : sequence of int or tensor
        ``[n_images]`` class indices of the pool to draw from.
    k : int
        Shots per class.
    seed : int
        Same seed, same shots.
    classes : sequence of int, optional
        Which classes get shots (default: every class in ``targets``).

    Returns
    -------
    torch.Tensor
        ``[len(classes) * k]`` indices into the pool, class by class.

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    targets = torch.as_tensor(targets).cpu().numpy()
    classes = sorted(set(targets.tolist())) if classes is None else list(classes)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        members = np.flatnonzero(targets == c)
        if len(members) < k:
            raise ValueError(f"Class {c} has {len(members)} examples in the pool, fewer than "
                             f"k = {k}")
        chosen.append(rng.choice(members, size=k, replace=False))
    return torch.from_numpy(np.concatenate(chosen)).long()


@dataclass
class FewShotCurve:
    """What :func:`few_shot_curve` returns.

    Attributes
    ----------
    shots : list of int
        Shots per class, one per row of ``accuracies``.
    accuracies : numpy.ndarray
        ``[len(shots), draws]`` test accuracy of each draw.
    zero_shot : float or None
        The zero-shot accuracy on the same test set, if given.

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """

    shots: list
    accuracies: np.ndarray
    zero_shot: float | None = None

    @property
    def mean(self) -> np.ndarray:
        """``[len(shots)]`` mean accuracy over the draws."""
        return self.accuracies.mean(axis=1)

    def crossover(self) -> float | None:
        """Shots per class at which the mean probe reaches zero-shot, or None if it never does.

        Interpolated in log2(shots) between the last k below zero-shot and the first at or
        above it, as the CLIP paper reads its Figure 7; ``shots[0]`` if the probe starts above.
        """
        if self.zero_shot is None:
            raise ValueError("this curve has no zero-shot accuracy to cross")
        mean = self.mean
        above = np.flatnonzero(mean >= self.zero_shot)
        if len(above) == 0:
            return None
        i = int(above[0])
        if i == 0:
            return float(self.shots[0])
        x0, x1 = np.log2(self.shots[i - 1]), np.log2(self.shots[i])
        y0, y1 = mean[i - 1], mean[i]
        return float(2 ** (x0 + (self.zero_shot - y0) / (y1 - y0) * (x1 - x0)))

    def table(self) -> str:
        """One line per k: mean, min and max over the draws."""
        lines = [f"{'shots':>5}  {'mean':>6}  {'min':>6}  {'max':>6}"]
        for k, row in zip(self.shots, self.accuracies):
            lines.append(f"{k:>5}  {row.mean():6.1%}  {row.min():6.1%}  {row.max():6.1%}")
        if self.zero_shot is not None:
            lines.append(f"zero-shot: {self.zero_shot:.1%}")
        return "\n".join(lines)


def few_shot_curve(pool_features: torch.Tensor, pool_targets, test_features: torch.Tensor,
                   test_targets, *, shots: Sequence[int] = (1, 2, 4, 8, 16), draws: int = 5,
                   seed: int = 0, zero_shot: float | None = None, n_classes: int | None = None,
                   **fit_kwargs) -> FewShotCurve:
    """Test accuracy of k-shot linear probes, for each k in ``shots``, over ``draws`` draws.

    Draw ``d`` for ``k`` shots uses ``sample_shots(pool_targets, k, seed + 1000 * d + k)``.

    Parameters
    ----------
    pool_features, pool_targets
        ``[n_pool, embed_dim]`` features and ``[n_pool]`` class indices to draw shots from.
    test_features, test_targets
        ``[n_test, embed_dim]`` and ``[n_test]``: what every probe is scored on.
    shots : sequence of int
        Shots per class.
    draws : int
        Independent draws of the shots per k (the spread of the curve).
    seed : int
    zero_shot : float, optional
        Zero-shot accuracy on the same test set, kept for :meth:`FewShotCurve.crossover`.
    n_classes : int, optional
    **fit_kwargs
        Passed to :func:`fit_linear_probe` (``weight_decay``, ``prior``...).

    Returns
    -------
    FewShotCurve

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    pool_targets = torch.as_tensor(pool_targets)
    if n_classes is None:
        n_classes = int(max(pool_targets.max(), torch.as_tensor(test_targets).max())) + 1
    accuracies = np.zeros((len(shots), draws))
    for i, k in enumerate(shots):
        for d in range(draws):
            chosen = sample_shots(pool_targets, k, seed + 1000 * d + k)  # [n_classes * k]
            probe = fit_linear_probe(pool_features[chosen], pool_targets[chosen],
                                     n_classes=n_classes, **fit_kwargs)
            accuracies[i, d] = probe.accuracy(test_features, test_targets)
    return FewShotCurve(shots=list(shots), accuracies=accuracies, zero_shot=zero_shot)
