"""Self-checks for the lessons' exercises: a verdict and a hint, never a traceback.

Every exercise of the lessons is followed by a check cell::

    cc.exercises.check("03.2", top3_accuracy, probs=result.probs, labels=labels,
                       targets=bigger.labels)

The first argument names the exercise (lesson ``03``, exercise ``2``), the second is the answer
the exercise asks the learner to store, and the keyword arguments are the lesson's *own* objects
that the reference is computed from. The reference is computed here, in the package, from those
objects and the model, so no notebook holds a value that gives the answer away, and the verdict
follows the model the learner runs (``tiny-shapes`` or ViT-B/32, CPU or GPU, another seed).

A check judges the *result*, within a tolerance, not the code's text. It prints one line: right,
not answered yet (the answer is still ``None``), or wrong with a hint saying what to look at.
It never raises in a learner's kernel, so Run All works with any exercise skipped. Under
nbgrader's autograder (``NBGRADER_EXECUTION`` is ``autograde`` or ``validate``) a check that is
not passed raises ``AssertionError``, which is how nbgrader scores a test cell.

The verdict is also displayed as a JSON record (MIME type :data:`RECORD_MIME`) next to the text;
``python -m clipcourse grade`` reads it from the executed notebooks (``clipcourse.grading``).

Introduced in every lesson's Exercises section; see ``docs/instructor.md``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["check", "judge", "Verdict", "Exercise", "EXERCISES", "RECORD_MIME"]

#: MIME type of the machine-readable verdict that :func:`check` displays.
RECORD_MIME = "application/vnd.clipcourse.check+json"


@dataclass(frozen=True)
class Exercise:
    """One checked exercise: ``key`` ("03.2"), a short ``title``, ``points`` and its judge."""

    key: str
    title: str
    points: int
    judge: Callable[..., None]


#: Every checked exercise by key (``"00.1"``, ``"00.2"``, ...).
EXERCISES: dict[str, Exercise] = {}


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` returns: the outcome of one check.

    ``passed`` is True for a right answer; ``answered`` is False while the answer is still
    ``None`` (or empty); ``message`` is the line shown to the learner.
    """

    exercise: str
    passed: bool
    answered: bool
    message: str
    points: int
    max_points: int

    def __str__(self) -> str:
        return self.message

    def record(self) -> dict:
        """The JSON record displayed with the verdict (what the grader reads)."""
        return {"exercise": self.exercise, "passed": self.passed, "answered": self.answered,
                "points": self.points, "max_points": self.max_points}


class _Wrong(Exception):
    """Raised by a judge when the answer is wrong; its message is the hint."""


def _exercise(key: str, title: str, points: int = 1):
    def register(judge_fn: Callable[..., None]) -> Callable[..., None]:
        EXERCISES[key] = Exercise(key, title, points, judge_fn)
        return judge_fn
    return register


def _unanswered(answer: Any) -> bool:
    """``None``, ``...``, an empty container, or a tuple of such: the learner has not answered."""
    if answer is None or answer is Ellipsis:
        return True
    if isinstance(answer, (dict, list, set, str)) and len(answer) == 0:
        return True
    if isinstance(answer, tuple):
        return len(answer) == 0 or all(_unanswered(part) for part in answer)
    return False


def judge(exercise: str, answer: Any, **given: Any) -> Verdict:
    """Judge ``answer`` to ``exercise`` against a reference computed from ``given``.

    Returns a :class:`Verdict`; never raises for any answer or missing argument.

    Examples
    --------
    >>> cc.exercises.judge("03.2", None).message  # doctest: +SKIP
    'Exercise 03.2 (top-3 accuracy): not answered yet ...'
    """
    entry = EXERCISES.get(exercise)
    if entry is None:
        known = ", ".join(EXERCISES)
        return Verdict(exercise, False, False, f"Exercise {exercise}: no such check "
                       f"(known: {known}). Is the course package up to date?", 0, 0)
    name = f"Exercise {exercise} ({entry.title})"

    def verdict(passed: bool, answered: bool, text: str) -> Verdict:
        return Verdict(exercise, passed, answered, f"{name}: {text}",
                       entry.points if passed else 0, entry.points)

    if _unanswered(answer):
        return verdict(False, False, "not answered yet. Store your answer in the variable the "
                       "exercise names, run that cell, then this one.")
    try:
        entry.judge(answer, **given)
    except _Wrong as wrong:
        return verdict(False, True, f"not yet. Hint: {wrong}")
    # A check must never end a learner's notebook with a traceback: whatever the answer does to
    # the judge (a wrong shape, a string where a number belongs), say so and go on.
    except Exception as err:  # noqa: BLE001 - reported in the verdict, not swallowed
        if isinstance(err, TypeError) and ("keyword argument" in str(err)
                                           or "required keyword" in str(err)):
            return verdict(False, True, f"the check cell passes the wrong arguments ({err}); "
                           "restore it from the lesson.")
        return verdict(False, True, f"could not judge this answer ({type(err).__name__}: {err}). "
                       "Check that it has the form the exercise asks for.")
    return verdict(True, True, "right. Well done.")


def _autograding() -> bool:
    """Whether nbgrader is executing this notebook (it sets ``NBGRADER_EXECUTION``)."""
    return os.environ.get("NBGRADER_EXECUTION", "").lower() in {"autograde", "validate"}


def check(exercise: str, answer: Any, **given: Any) -> None:
    """Check the answer to an exercise and show the verdict, with a hint when it is wrong.

    Parameters
    ----------
    exercise : str
        ``"NN.k"``: lesson ``NN``, exercise ``k``.
    answer
        What the exercise asks to store (``None`` while not answered).
    **given
        The lesson's objects the reference is computed from (the check cell passes them).

    Returns nothing (so the cell shows no ``Out[]`` value that nbgrader would read as partial
    credit). In a learner's kernel it never raises; under nbgrader's autograder a check that is
    not passed raises ``AssertionError`` so that nbgrader scores the cell zero.

    Examples
    --------
    >>> cc.exercises.check("03.2", top3_accuracy, probs=result.probs, labels=labels,
    ...                    targets=bigger.labels)  # doctest: +SKIP
    Exercise 03.2 (top-3 accuracy): right. Well done.
    """
    verdict = judge(exercise, answer, **given)
    mark = "\u2713" if verdict.passed else ("\u2026" if not verdict.answered else "\u2717")
    text = f"{mark} {verdict.message}"
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python without IPython
        get_ipython = None  # noqa: N806
    if get_ipython is not None and get_ipython() is not None:
        display({"text/plain": text, RECORD_MIME: verdict.record()}, raw=True)
    else:
        print(text)
    if _autograding() and not verdict.passed:
        raise AssertionError(verdict.message)


# -- helpers for the judges --------------------------------------------------------------------
def _number(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise _Wrong(f"{what} should be a number, not {type(value).__name__} ({value!r:.60}).")
    return float(value)


def _close(value: Any, reference: float, tol: float, what: str, hint: str) -> None:
    number = _number(value, what)
    if not (math.isfinite(number) and abs(number - reference) <= tol):
        raise _Wrong(f"{what} is {number:.4g}, not what the check computes. {hint}")


def _count(value: Any, reference: int, what: str, hint: str, slack: int = 0) -> None:
    number = _number(value, what)
    if abs(number - reference) > slack:
        raise _Wrong(f"{what} is {number:g}, not what the check computes. {hint}")


def _entry(mapping: Any, key: Any, what: str):
    """``mapping[key]``, matching float keys loosely (1 == 1.0, 0.1 == 0.1000001)."""
    if not isinstance(mapping, dict):
        raise _Wrong(f"the answer should be a dict ({what}), not {type(mapping).__name__}.")
    if key in mapping:
        return mapping[key]
    if isinstance(key, (int, float)):
        for k, v in mapping.items():
            if isinstance(k, (int, float)) and math.isclose(k, key, rel_tol=1e-6):
                return v
    raise _Wrong(f"the answer has no entry for {key!r} ({what}).")


def _pair(value: Any, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) < 2:
        raise _Wrong(f"{what} should be a pair (two values), not {value!r:.60}.")
    return tuple(value)


def _accuracy_tolerance(n: int) -> float:
    """Half an item out of ``n``: a fraction over the same items must match to the item."""
    return 0.5 / n + 1e-6


def _sampling_tolerance(p: float, n: int) -> float:
    """How far an accuracy over ``n`` freshly drawn items may land from ``p`` (another seed).

    Two and a half standard errors of a difference of two such accuracies, plus one item.
    """
    p = min(max(p, 0.05), 0.95)
    return 2.5 * math.sqrt(2 * p * (1 - p) / n) + 1 / n


def _as_accuracy(value: Any, what: str) -> float:
    """A float, or an object with ``.accuracy`` (a ``ChoiceResult``)."""
    accuracy = getattr(value, "accuracy", value)
    return _number(accuracy() if callable(accuracy) else accuracy, what)


# -- lesson 00 ---------------------------------------------------------------------------------
_TEMPERATURE_FACTORS = (0.0001, 0.001, 0.01, 1.0)
_THUMB_FACTORS = (1.0, 1.2, 1.5, 2.0, 3.0)


@_exercise("00.1", "the image's length is a temperature")
def _image_length(answer, *, raw_images, raw_texts, scale):
    target = torch.arange(len(raw_images))
    for factor in _TEMPERATURE_FACTORS:
        correct, top = _pair(_entry(answer, factor, "results[factor] = (correct, mean top "
                                    "probability) for each factor 0.0001, 0.001, 0.01 and 1"),
                             f"results[{factor}]")
        probs = (scale * (factor * raw_images.float()) @ raw_texts.float().T).softmax(dim=-1)
        _count(correct, int((probs.argmax(dim=-1) == target).sum()), f"the count at x{factor}",
               "Count the drawings whose most probable caption is their own "
               "(argmax over the captions == target).", slack=1)
        reference = float(probs.max(dim=-1).values.mean())
        _close(top, reference, 0.01 + 0.02 * reference, f"the mean top probability at x{factor}",
               "Multiply the image features by the factor before the product, keep `scale`, "
               "take the softmax over the captions (dim=-1), then average each row's maximum.")


@_exercise("00.2", "a thumb on the scale")
def _thumb(answer, *, raw_images, raw_texts):
    from .embed import cosine_similarity

    for factor in _THUMB_FACTORS:
        written, fixed = _pair(_entry(answer, factor, "picks[factor] = (as written, fixed) for "
                                      "each factor 1, 1.2, 1.5, 2 and 3"), f"picks[{factor}]")
        boosted = raw_texts.float().clone()  # [24, embed_dim]
        boosted[0] = boosted[0] * factor
        as_written = int(((raw_images.float() @ boosted.T).argmax(dim=-1) == 0).sum())
        with_cosines = int((cosine_similarity(raw_images.float(), boosted).argmax(dim=-1) == 0)
                           .sum())
        _count(written, as_written, f"the count as written at x{factor}",
               "As written means raw dot products: raw_images @ boosted.T, then the argmax "
               "over the captions; count the drawings whose winner is caption 0.", slack=1)
        _count(fixed, with_cosines, f"the fixed count at x{factor}",
               "Fixed means cosine similarities (cc.cosine_similarity normalises both sides) "
               "before the argmax.", slack=1)


# -- lesson 01 ---------------------------------------------------------------------------------
@_exercise("01.1", "nearest drawing of each photo")
def _nearest_drawing(answer, *, features, is_photo, labels):
    photos, drawings = features[is_photo].float(), features[~is_photo].float()  # [8, D], [48, D]
    cos = photos @ drawings.T  # [8, 48]
    best = cos.max(dim=-1).values  # [8]
    if not isinstance(answer, (list, tuple)) or len(answer) != len(photos):
        raise _Wrong(f"nearest should hold one (label, cosine) pair per photo, {len(photos)} in "
                     "all, in the order of cc.sample_images().")
    for i, item in enumerate(answer):
        label, value = _pair(item, f"nearest[{i}]")
        _close(value, float(best[i]), 2e-3, f"the cosine of photo {i}",
               "Compare each photo with every drawing (unit rows, so a matrix product gives the "
               "cosines) and keep the largest per photo.")
        near_best = {labels[j] for j in (cos[i] >= best[i] - 2e-3).nonzero().flatten().tolist()}
        if label not in near_best:
            raise _Wrong(f"photo {i}'s nearest drawing is labelled {sorted(near_best)[0]!r}, not "
                         f"{label!r}. Take the label of the drawing with the largest cosine.")


@_exercise("01.2", "a token budget")
def _token_budget(answer, *, sentence, model):
    words = sentence.split()
    fits = max(n for n in range(len(words) + 1)
               if model.token_count(" ".join(words[:n])) <= model.context_length)
    number = _number(answer, "fits")
    if number > len(words):
        raise _Wrong(f"the sentence has only {len(words)} words.")
    if number > fits:
        raise _Wrong(f"{number:g} words need {model.token_count(' '.join(words[:int(number)]))} "
                     f"tokens, more than model.context_length = {model.context_length}. Count "
                     "the tokens of the prefix with model.token_count, start and end included.")
    if number < fits:
        raise _Wrong(f"{number + 1:g} words still fit (model.token_count of that prefix is at "
                     f"most model.context_length). Look for the longest prefix.")


@_exercise("01.3", "texts on the map")
def _texts_on_map(answer, *, image_features, text_features):
    from .embed import normalize

    both, kinds = _pair(answer, "(both, kinds)")
    both = torch.as_tensor(both).float()
    n_images, n_texts = len(image_features), len(text_features)
    if both.ndim != 2 or len(both) != n_images + n_texts:
        raise _Wrong(f"both should stack the {n_images} image and {n_texts} text embeddings: "
                     f"[{n_images + n_texts}, embed_dim], not {list(both.shape)}.")
    if len(kinds) != len(both):
        raise _Wrong("kinds needs one label per row of both.")
    reference = torch.cat([image_features.float(), text_features.float()])  # [16, D]
    names = ["image"] * n_images + ["text"] * n_texts
    match = (normalize(both) @ reference.T).argmax(dim=-1)  # [16], the nearest reference row
    if sorted(match.tolist()) != list(range(len(reference))):
        raise _Wrong("both should hold each image embedding and each text embedding once: "
                     "torch.cat([image_features, text_features]).")
    for row, j in enumerate(match.tolist()):
        if kinds[row] != names[j]:
            raise _Wrong(f"row {row} of both is {'an' if names[j] == 'image' else 'a'} "
                         f"{names[j]} embedding but is labelled {kinds[row]!r}.")


# -- lesson 02 ---------------------------------------------------------------------------------
@_exercise("02.1", "mind the gap")
def _mind_the_gap(answer, *, image_features, text_features):
    from .embed import normalize

    images, texts = image_features.float(), text_features.float()
    versions = {"as trained": (images, texts),
                "centred": (normalize(images - images.mean(dim=0)),
                            normalize(texts - texts.mean(dim=0)))}
    for name, (x, y) in versions.items():
        matched, unmatched, wins = _pair(_entry(answer, name, "gap[name] = (matched, unmatched, "
                                                "wins) for 'as trained' and 'centred'"),
                                         f"gap[{name!r}]")
        c = x @ y.T  # [24, 24]
        off = ~torch.eye(len(c), dtype=torch.bool)
        hint = ("Subtract each modality's mean over its 24 rows, renormalise (cc.normalize), "
                "then take the cosine matrix images @ texts.T.")
        _close(matched, float(c.diagonal().mean()), 2e-3, f"the matched mean cosine ({name})",
               hint + " Matched pairs are its diagonal.")
        _close(unmatched, float(c[off].mean()), 2e-3, f"the unmatched mean cosine ({name})",
               hint + " Unmatched pairs are everything off the diagonal.")
        _count(wins, int((c.argmax(dim=-1) == torch.arange(len(c))).sum()),
               f"the number of own-caption wins ({name})",
               "Count the rows whose largest cosine is on the diagonal.", slack=1)


def _top_probability(column: torch.Tensor, scale: float) -> float:
    return float((scale * column).softmax(dim=-1).max())


@_exercise("02.2", "how hot is too hot?")
def _how_hot(answer, *, similarity):
    column = similarity[:, 0].float()  # [n_texts]
    scales = torch.logspace(0, 2, 200)
    top = torch.stack([(s * column).softmax(dim=-1).max() for s in scales])
    value = _number(answer, "the smallest logit_scale")
    if not (top > 0.9).any():
        if not math.isinf(value):
            raise _Wrong("on this model no logit_scale up to 100 pushes the top probability past "
                         "0.9; answer float('inf') for 'none does'.")
        return
    if math.isinf(value) or value <= 0:
        raise _Wrong("some logit_scale up to 100 does push the top probability past 0.9: scan "
                     "similarity[:, 0] (image 0 against the texts) over torch.logspace(0, 2, 200).")
    if _top_probability(column, value) < 0.9 - 1e-4:
        raise _Wrong(f"at logit_scale {value:.3g} the top probability is only "
                     f"{_top_probability(column, value):.3f}. Softmax over the texts of "
                     "scale * similarity[:, 0].")
    if _top_probability(column, value / 1.03) > 0.9 + 1e-4:
        raise _Wrong(f"a smaller logit_scale than {value:.3g} already passes 0.9: report the "
                     "first scale of the scan where it does.")


# -- lesson 03 ---------------------------------------------------------------------------------
_CATCH_ALL = ("random noise", "a photo")


@_exercise("03.1", "a 'none of the above' class")
def _none_of_the_above(answer, *, model, groups, labels, image_features, targets):
    from .zeroshot import zero_shot

    caught, shapes_accuracy = _pair(answer, "(caught, accuracy_with_catch_all)")
    extended = list(labels) + list(_CATCH_ALL)
    for name, group in groups.items():
        features = model.encode_images(list(group), progress=False)  # [n, embed_dim]
        predictions = zero_shot(model, features, extended).predictions
        _count(_entry(caught, name, "caught[group name] = how many of that group pick a "
                      "catch-all label"), sum(p in _CATCH_ALL for p in predictions),
               f"caught[{name!r}]", "Classify the group with labels + ['random noise', "
               "'a photo'] and count the predictions that are one of those two.", slack=1)
    reference = zero_shot(model, image_features, extended).accuracy(targets)
    _close(shapes_accuracy, reference, _accuracy_tolerance(len(targets)),
           "the accuracy with the catch-all labels",
           "Classify the 240 shapes (result.image_features) with the extended labels and score "
           "it against bigger.labels, as a fraction in [0, 1].")


@_exercise("03.2", "top-3 accuracy")
def _top3(answer, *, probs, labels, targets):
    top3 = probs.float().topk(3, dim=-1).indices  # [n, 3]
    index = torch.tensor([list(labels).index(t) for t in targets])  # [n]
    reference = float((top3 == index[:, None]).any(dim=-1).float().mean())
    _close(answer, reference, _accuracy_tolerance(len(targets)), "top3_accuracy",
           "An image counts when its true label is among the 3 most probable "
           "(result.probs.topk(3, dim=-1)); report a fraction in [0, 1], not a percentage.")


# -- lesson 05 ---------------------------------------------------------------------------------
def _choice_accuracy(answer, key, what, reference: float, n: int, hint: str) -> None:
    value = _as_accuracy(_entry(answer, key, what), f"the accuracy for {key!r}")
    tol = _sampling_tolerance(reference, n)
    if abs(value - reference) > tol:
        raise _Wrong(f"the accuracy for {key!r} is {value:.1%}; the check measures "
                     f"{reference:.1%} (a fresh sample may differ by up to {tol:.0%}). {hint}")


@_exercise("05.1", "one-versus-two or three-versus-four")
def _counting(answer, *, model, size):
    from . import failures

    for counts in [(1, 2), (3, 4)]:
        stimuli = failures.counting_set(96, seed=21, counts=counts, image_size=size)
        reference = failures.score_choices(model, stimuli).accuracy
        _choice_accuracy(answer, counts, "scores[counts] = accuracy (or the ChoiceResult) for "
                         "counts (1, 2) and (3, 4)", reference, 96,
                         "Score failures.counting_set(96, seed=21, counts=..., image_size=size) "
                         "with failures.score_choices.")


@_exercise("05.2", "a changed word or a changed order")
def _word_or_order(answer, *, model, size):
    from . import failures, shapes

    by_word = failures.score_choices(model, shapes.make_relation_set(96, seed=22,
                                                                     image_size=size))
    by_order = failures.score_choices(model, failures.relation_pairs(48, seed=22,
                                                                     image_size=size))
    what = "relations['word'] and relations['order'] = the two accuracies"
    _choice_accuracy(answer, "word", what, by_word.accuracy, 96,
                     "Score cc.shapes.make_relation_set(96, seed=22, image_size=size).")
    _choice_accuracy(answer, "order", what, by_order.accuracy, 96,
                     "Score failures.relation_pairs(48, seed=22, image_size=size) (48 pairs, "
                     "96 images).")


@_exercise("05.3", "an 'I don't know' from the margin")
def _margin(answer, *, model, groups, labels, templates, right):
    from . import failures
    from .zeroshot import build_classifier, zero_shot

    threshold, rejected = _pair(answer, "(margin_threshold, rejected)")
    classifier = build_classifier(model, labels, templates)
    margins = {}
    for group, images in groups.items():
        features = model.encode_images(list(images), progress=False)  # [n, embed_dim]
        probs = zero_shot(model, features, labels, classifier=classifier).probs  # [n, n_labels]
        margins[group] = failures.top2_margin(probs)
    reference = failures.threshold_for_recall(margins["shapes"][np.asarray(right)], 0.95)
    _close(threshold, reference, 2e-3, "margin_threshold",
           "Compute the top-2 margin (failures.top2_margin) of the probabilities of the drawings "
           "the model gets right, then failures.threshold_for_recall(..., 0.95).")
    for group, m in margins.items():
        _close(_entry(rejected, group, "rejected[group] = the share of that group below the "
                      "threshold"), float(np.mean(m < reference)), _accuracy_tolerance(len(m)),
               f"rejected[{group!r}]", "The share of the group's images whose margin is below "
               "the threshold, as a fraction in [0, 1].")


# -- lesson 07 ---------------------------------------------------------------------------------
@_exercise("07.2", "find near-duplicates")
def _near_duplicates(answer, *, model, folder):
    from pathlib import Path

    from .search import ImageIndex

    if not isinstance(answer, (list, tuple)) or len(answer) != 8:
        raise _Wrong("top_pairs should list the 8 most similar pairs as (path_a, path_b, "
                     "cosine), best first.")
    index = ImageIndex(model, Path(folder), progress=False)
    names = [p.name for p in index.paths]
    similarity = index.image_features.float() @ index.image_features.float().T  # [n, n]
    i, j = torch.triu_indices(len(names), len(names), offset=1)
    scores = similarity[i, j]  # [n_pairs]
    eighth = float(scores.sort(descending=True).values[7])
    seen = set()
    for rank, item in enumerate(answer, 1):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise _Wrong(f"pair {rank} should be (path_a, path_b, cosine).")
        a, b, value = Path(item[0]).name, Path(item[1]).name, item[2]
        if a not in names or b not in names or a == b:
            raise _Wrong(f"pair {rank} ({a}, {b}) should name two different files of the dupes "
                         "folder.")
        if frozenset((a, b)) in seen:
            raise _Wrong(f"the pair ({a}, {b}) is listed twice: count each pair once "
                         "(torch.triu_indices with offset=1).")
        seen.add(frozenset((a, b)))
        cos = float(similarity[names.index(a), names.index(b)])
        _close(value, cos, 2e-3, f"the cosine of pair {rank}",
               "Use the index's unit image_features: their product is the cosine.")
        if cos < eighth - 2e-3:
            raise _Wrong(f"pair {rank} ({a}, {b}, cosine {cos:.4f}) is not among the 8 most "
                         "similar pairs: rank every pair of different files by cosine.")


# -- lesson 04 ---------------------------------------------------------------------------------
@_exercise("04.1", "which names does the model know?")
def _shape_names(answer, *, model, image_features, targets):
    from . import shapes, templates
    from .zeroshot import zero_shot

    targets = torch.as_tensor(targets)  # [n] class indices, in the order of all_labels()
    variants, unknown = templates.SHAPE_NAME_VARIANTS, templates.UNKNOWN_SHAPE_NAMES
    for shape in shapes.SHAPES:
        for word in [*variants[shape], unknown[shape]]:
            classes = [f"{c} {word if s == shape else s}" for c in shapes.COLOURS
                       for s in shapes.SHAPES]  # the order of cc.shapes.all_labels()
            probs = zero_shot(model, image_features, classes, templates.SHAPES_TEMPLATES).probs
            reference = float((probs.argmax(dim=-1) == targets).float().mean())
            _close(_entry(answer, word, "name_accuracy[word] = the accuracy with that word for "
                          "its shape"), reference, _accuracy_tolerance(len(targets)),
                   f"name_accuracy[{word!r}]",
                   "Rename only that shape in the 24 classes (the others keep their names), "
                   "classify with cc.templates.SHAPES_TEMPLATES, and count an image right when "
                   "the winning class index is its target (the wording does not matter); a "
                   "fraction in [0, 1].")


@_exercise("04.2", "choose templates greedily")
def _greedy_templates(answer, *, model, labels):
    """The greedy path may differ where templates tie; each step must add a best one."""
    from . import shapes, templates
    from .embed import normalize

    candidates = list(templates.IMAGENET_TEMPLATES)
    if not isinstance(answer, (list, tuple)) or len(answer) != 5:
        raise _Wrong("selected should list the 5 templates you chose, in the order chosen.")
    unknown = [t for t in answer if t not in candidates]
    if unknown:
        raise _Wrong(f"{unknown[0]!r} is not one of cc.templates.IMAGENET_TEMPLATES.")
    if len(set(answer)) != 5:
        raise _Wrong("a template was chosen twice: choose each at most once.")
    # the validation set the exercise prescribes
    validation = shapes.make_test_set(240, seed=5, looks=shapes.LOOKS)
    features = model.encode_images(list(validation.images), progress=False)  # [n, embed_dim]
    truth = torch.tensor([list(labels).index(t) for t in validation.labels])  # [n]
    per_template = torch.stack([model.encode_texts([t.format(label) for label in labels])
                                for t in candidates])  # [80, n_labels, embed_dim]
    chosen: list[int] = []
    for step, template in enumerate(answer, 1):
        # every candidate added to the chosen ones at once: [80, n_labels, embed_dim]
        classifiers = normalize(per_template[chosen].sum(dim=0) + per_template)
        logits = torch.einsum("nd,kcd->knc", features, classifiers)  # [80, n, n_labels]
        scores = (logits.argmax(dim=-1) == truth).float().mean(dim=-1)  # [80]
        scores[chosen] = -1.0  # each template at most once
        mine = candidates.index(template)
        if scores[mine] < scores.max() - 1e-9:
            raise _Wrong(f"step {step}: adding {template!r} gives {float(scores[mine]):.1%} on "
                         f"the validation set, but another template gives "
                         f"{float(scores.max()):.1%}. At each step add the template that helps "
                         "most, on the validation images.")
        chosen.append(mine)


# -- lesson 06 ---------------------------------------------------------------------------------
@_exercise("06.1", "one-hot targets versus soft targets")
def _loss_with_targets(answer):
    from .train import clip_loss

    if not callable(answer):
        raise _Wrong("loss_with_targets should be your function, "
                     "loss_with_targets(logits_per_image, targets).")
    g = torch.Generator().manual_seed(0)
    logits = 5 * torch.randn(6, 6, generator=g)  # [batch, batch]
    keys = torch.tensor([0, 1, 0, 2, 1, 3])
    soft = (keys[:, None] == keys[None, :]).float()  # [batch, batch], same content = 1
    for name, targets in (("one-hot", torch.eye(6)), ("soft", soft)):
        value = _number(answer(logits.clone(), targets.clone()), "the loss")
        reference = float(clip_loss(logits, targets))
        if not abs(value - reference) <= 1e-4 * max(1.0, abs(reference)):
            raise _Wrong(f"with {name} targets your loss is {value:.4f}, clip_loss gives "
                         f"{reference:.4f}. Normalise each row of the targets (image to "
                         "captions) and each row of targets.T (caption to images) to sum to 1, "
                         "and average the two cross-entropies.")


@_exercise("06.2", "a fixed temperature of 1")
def _fixed_temperature(answer, *, targets, batch_size):
    fixed, bound = _pair(answer, "(fixed, bound)")
    history = getattr(fixed, "history", None)
    if not isinstance(history, dict) or not history.get("logit_scale"):
        raise _Wrong("fixed should be what cc.train.train_clip returned for the frozen model.")
    if abs(float(history["logit_scale"][-1]) - 1.0) > 1e-3:
        raise _Wrong(f"the scale ended at {float(history['logit_scale'][-1]):.3f}, not 1: train "
                     "with train_clip(..., fixed_scale=1.0), which fills logit_scale with 0 "
                     "(exp(0) = 1) and calls requires_grad_(False) on it.")
    b = int(batch_size)
    k = targets[:b, :b].float().sum(dim=1)  # [b]: right answers per row
    reference = float(torch.log(k + (b - k) * math.exp(-2)).mean())
    _close(bound, reference, 1e-3, "bound",
           "At scale 1 the best row scores +1 for its k right answers and -1 for the others: "
           "its loss is log(k + (B - k) * exp(-2)); average over the first B rows.")


# -- lesson 07 (the prompt-ensemble search) ----------------------------------------------------
@_exercise("07.1", "search with a prompt ensemble")
def _ensemble_search(answer, *, model):
    from . import shapes, templates
    from .zeroshot import build_classifier

    # the folder the exercise writes, drawn again in memory (PNG files are lossless)
    shape_set = shapes.make_test_set(144, seed=11, looks=shapes.LOOKS)
    image_features = model.encode_images(list(shape_set.images), progress=False)  # [144, D]
    labels = shapes.all_labels()
    truth = np.array(shape_set.labels)
    for name, query_templates in [("one prompt", ["a photo of a {}."]),
                                  ("ensemble", templates.SHAPES_TEMPLATES)]:
        class_features = build_classifier(model, labels, query_templates)  # [24, D]
        scores = class_features @ image_features.T  # [24, 144]
        top = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :6]  # [24, 6]
        reference = float(np.mean([np.mean(truth[row] == label)
                                   for label, row in zip(labels, top.numpy())]))
        _close(_entry(answer, name, "precision['one prompt'] and ['ensemble'] = the mean "
                      "precision@6 over the 24 labels"), reference, 1.5 / 144,
               f"precision[{name!r}]",
               "For each of the 24 labels, search with its class vector (cc.build_classifier), "
               "count the top-6 hits that show that label, divide by 6, and average over the "
               "labels; a fraction in [0, 1].")


# -- lesson 08 ---------------------------------------------------------------------------------
@_exercise("08.1", "a probe without training")
def _prototypes(answer, *, pool_features, pool_targets, test_features, test_targets):
    from .embed import normalize
    from .probe import sample_shots

    chosen = sample_shots(pool_targets, 4, seed=0)  # [n_classes * 4]
    features, targets = pool_features[chosen].float(), torch.as_tensor(pool_targets)[chosen]
    classes = sorted(set(targets.tolist()))
    prototypes = torch.stack([normalize(features[targets == c].mean(dim=0))
                              for c in classes])  # [n_classes, embed_dim]
    predicted = torch.tensor(classes)[(test_features.float() @ prototypes.T).argmax(dim=-1)]
    reference = float((predicted == torch.as_tensor(test_targets)).float().mean())
    _close(answer, reference, _accuracy_tolerance(len(test_targets)), "prototype_accuracy",
           "Average the 4 shot embeddings of each class (pool_features[chosen] where "
           "pool_targets[chosen] == c), normalise each average, and give every test image the "
           "class of the most similar average; report a fraction in [0, 1].")


@_exercise("08.2", "how long a result list?")
def _recall_at_10(answer, *, similarity):
    from .retrieval import recall_at_k

    reference = recall_at_k(similarity.float(), torch.arange(len(similarity)), ks=(10,))[10]
    _close(answer, reference, _accuracy_tolerance(len(similarity)), "recall_at_10",
           "Caption i describes image i: use cc.retrieval.recall_at_k(similarity, right, "
           "ks=(10,)) on text -> image similarities (captions in rows), and report a fraction.")
