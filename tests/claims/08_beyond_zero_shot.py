"""Claims of 08_beyond_zero_shot.ipynb (checked by tests/lesson_checks.py)."""

CLAIMS = {
    # section 1
    # all 48 shots per class end within a point of zero-shot or above it, and the curve reaches it
    "with enough labels it catches up with zero-shot on the same features":
        "probe_accuracy > zero_shot_accuracy - 0.01 and crossover is not None",
    # section 2: the crossover against the paper's
    "The tiny model's curve crosses zero-shot late, about where the paper's ImageNet curve did and "
    "well after the paper's average of 4 shots per class":
        "crossover is not None and 8 <= crossover <= 32",
    "The 1-shot row is far below zero-shot": "curve.mean[0] < zero_shot_accuracy - 0.1",
    "The 1-shot probe loses to zero-shot in every group.": """
        all(by_group["1-shot probe"][g] < by_group["zero-shot"][g] for g in groups)
    """,
    "Where zero-shot is weakest, on the four held-out pairs": """
        by_group["zero-shot"]["held-out pairs"] == min(by_group["zero-shot"].values())
    """,
    "the 16-shot probe gains the most over it": """
        all(by_group["16-shot probe"]["held-out pairs"] - by_group["zero-shot"]["held-out pairs"]
            >= by_group["16-shot probe"][g] - by_group["zero-shot"][g] for g in groups)
    """,
    "The probe never predicts a class it has no examples of: it scores nothing on them.":
        "unseen_probe_accuracy == 0",
    "Zero-shot names them from their words alone": "unseen_zero_shot_accuracy > 0.5",
    # section 3
    "L-BFGS lands on the same weights": """
        gap < 0.02 and abs(started_at_zero_shot.accuracy(test_features, test_targets)
                           - from_scratch.accuracy(test_features, test_targets)) <= 1 / len(test)
    """,
    "the 1-shot probe starts close to zero-shot instead of far below it": """
        abs(curve_prior.mean[0] - zero_shot_accuracy) < 0.03
        and curve.mean[0] < zero_shot_accuracy - 0.03
    """,
    "it crosses zero-shot after far fewer shots than the probe from scratch": """
        crossover_prior is not None and (crossover is None or crossover_prior < crossover / 2)
    """,
    "the gap between the two probes shrinks": """
        (curve_prior.mean - curve.mean)[0] > 2 * (curve_prior.mean - curve.mean)[-1]
    """,
    "Trained on photos alone, the probe does worse than zero-shot on the other looks": """
        wise["test in the other styles"].mean(dim=1)[-1]
        < wise["test in the other styles"].mean(dim=1)[0] - 0.02
    """,
    "the best mix is less than a point better than zero-shot itself": """
        all(acc.mean(dim=1).max() - acc.mean(dim=1)[0] < 0.01 for acc in wise.values())
    """,
    "half and half is no better than zero-shot": """
        all(acc.mean(dim=1)[5] <= acc.mean(dim=1)[0] + 0.002 for acc in wise.values())
    """,
    "the probe loses to zero-shot even on photos (the first line)": """
        wise["test in the shots' style"].mean(dim=1)[-1] < wise["test in the shots' style"].mean(dim=1)[0]
    """,
    # section 4
    "Most captions find their own image within the top 5, but far fewer in first place.": """
        text_to_image[5] > 0.5 and text_to_image[1] < text_to_image[5] - 0.2
    """,
    "nearly every wrong first hit shares a colour and a shape with the caption": """
        sum(near) > 0.8 * len(missed)
    """,
    "The alt-text and the plain \"a photo of ...\" list retrieve about equally well": """
        abs(recall_by_wording["alt-text (as drawn)"][5]
            - recall_by_wording["a photo of ... (all)"][5]) < 0.05
    """,
    "reversing the order of the objects changes little": """
        abs(recall_by_wording["reversed order"][5] - recall_by_wording["a photo of ... (all)"][5])
        < 0.05
    """,
    "Bare labels lose most of the recall": """
        recall_by_wording["bare labels"][5] < 0.5 * recall_by_wording["alt-text (as drawn)"][5]
    """,
    "naming only one object fits many images, so its R@1 collapses": """
        recall_by_wording["first object only"][1] < 0.5 * recall_by_wording["alt-text (as drawn)"][1]
    """,
    # summary
    "The few-shot curve crossed zero-shot late, about where the paper's ImageNet curve did rather "
    "than at its 4-shot average":
        "crossover is not None and 8 <= crossover <= 32",
    "one drawing in one look teaches a probe little": "curve.mean[0] < zero_shot_accuracy - 0.1",
    "A class with no labelled example is invisible to a probe; zero-shot still names it.":
        "unseen_probe_accuracy == 0 and unseen_zero_shot_accuracy > 0.5",
    "Starting the optimiser at zero-shot changes nothing": "gap < 0.02",
    "pulling the probe towards zero-shot lifts its 1-shot accuracy close to zero-shot's": """
        abs(curve_prior.mean[0] - zero_shot_accuracy) < 0.03 and curve_prior.mean[0] > curve.mean[0]
    """,
    "the probe lost to zero-shot even in that style, and a mix of their weights (WiSE-FT) added "
    "nothing to zero-shot.": """
        wise["test in the shots' style"].mean(dim=1)[-1] < wise["test in the shots' style"].mean(dim=1)[0]
        and all(acc.mean(dim=1).max() - acc.mean(dim=1)[0] < 0.01 for acc in wise.values())
    """,
    "Bare labels or a caption that names one object of several lose most of it.": """
        recall_by_wording["bare labels"][5] < 0.5 * recall_by_wording["alt-text (as drawn)"][5]
        and recall_by_wording["first object only"][5] < 0.5 * recall_by_wording["alt-text (as drawn)"][5]
    """,
}
