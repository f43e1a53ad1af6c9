"""Claims of 04_prompt_engineering_and_ensembling.ipynb (checked by tests/lesson_checks.py)."""

_TEMPLATE_BEATS_BARE = """
    accuracy(baseline["a photo of a {}."] - baseline["{}"])[0]
    > 2 * accuracy(baseline["a photo of a {}."] - baseline["{}"])[1]
    and (baseline["a photo of a {}."] - baseline["{}"])[held_out].mean()
    > (baseline["a photo of a {}."] - baseline["{}"]).mean()
"""
_NO_GAIN = "all(abs(gain) < 2 * se for gain, se in gains.values())"
_SAME_ON_EVERY_LOOK = """
    all(abs(per_look[x][look][0] - per_look[y][look][0]) < per_look[x][look][1] + per_look[y][look][1]
        for look in LOOKS for x in shown[1:] for y in shown[1:])
"""
_CONTEXT_SMALL = "all(abs(gain) < 2 * se or gain == 0 for gain, se in context_gains.values())"
_KNOWN_NO_HARM = "abs(name_gains['known name variants'][0]) < 2 * name_gains['known name variants'][1]"
_NEVER_IN_CAPTIONS = "all(sum(unknown[s] in c.split() for c in captions) == 0 for s in cc.shapes.SHAPES)"
_AGREE = """
    0.8 < (answers["shapes ensemble"][0] == answers["shapes ensemble"][1]).float().mean() < 1
    and (answers["ImageNet all (80)"][0] == answers["ImageNet all (80)"][1]).float().mean()
    > (answers["shapes ensemble"][0] == answers["shapes ensemble"][1]).float().mean()
"""

CLAIMS = {
    # 1. bare label vs one template
    "the template scores higher on all images, and by more on the held-out combinations": _TEMPLATE_BEATS_BARE,
    'signs and labels saying "red circle", 4% of the images': 'cc.train.TINY_RECIPE["p_text"] == 0.04',
    # 3. the ensemble by hand
    "The mean of unit vectors is shorter than 1 by as much as they disagree": "mean.norm() < 0.95",
    # 4. measured
    "it is smaller than either row's own error bar, because most images are right under both text sides": """
        (results[ensemble] == results["'a photo of a {}.'"]).float().mean() > 0.5
        and accuracy(results[ensemble] - results["'a photo of a {}.'"])[1]
        < min(accuracy(results[ensemble])[1], accuracy(results["'a photo of a {}.'"])[1])
    """,
    "neither the shapes ensemble nor the 80 ImageNet templates beats": _NO_GAIN,
    "The gap between the bare label and the templates is widest on the blurry images.": """
        max(LOOKS, key=lambda look: per_look[shown[1]][look][0] - per_look[shown[0]][look][0]) == "blurry"
    """,
    "The three sentence-shaped text sides stay within each other's error bars on every look": _SAME_ON_EVERY_LOOK,
    # 5. dataset context
    "On this model, no row's gain reaches two standard errors: naming the look buys little.": _CONTEXT_SMALL,
    "40% of the training captions of unusual looks did not name the look":
        'abs(cc.train.TINY_RECIPE["p_look_caption"] - 0.6) < 1e-9',
    # 6. names
    "Known name variants do no harm here: their row is within two standard errors of one name per class.":
        _KNOWN_NO_HARM,
    "Adding a word no caption uses to the usual name changes little either":
        "abs(name_gains['plus an unknown word'][0]) < 2 * name_gains['plus an unknown word'][1]",
    "A word the text encoder never saw during training has an embedding that was never trained": _NEVER_IN_CAPTIONS,
    # 7. embeddings vs probabilities
    "the two methods give the same answer on most images, and disagree more often with the six look templates than with the 80 ImageNet ones":
        _AGREE,
    "Where they disagree, neither method is right much more often than the other":
        "len(disagree) > 0 and abs(right_emb - right_prob) <= max(3, 0.25 * len(disagree))",
    # summary
    "For the bundled model a template beats the bare label, by most on the held-out combinations": _TEMPLATE_BEATS_BARE,
    "The six look templates point in different directions (their plain mean is shorter than 1)": "mean.norm() < 0.95",
    "On this model the ensemble of look templates is no better than": _NO_GAIN + " and " + _SAME_ON_EVERY_LOOK.strip(),
    "on the shapes world's looks it gains less than two standard errors": _CONTEXT_SMALL,
    "known name variants do no harm, and a word no caption uses is noise to the model":
        _KNOWN_NO_HARM + " and " + _NEVER_IN_CAPTIONS,
    "different classifiers that disagree on a few images": _AGREE,
    # exercise 1 (solution comment)
    "The known variants keep the accuracy; the unknown word loses accuracy for most shapes.": """
        all(name_accuracy[w] > base.mean().item() - 0.02 for s in cc.shapes.SHAPES for w in variants[s][1:])
        and sum(name_accuracy[unknown[s]] < base.mean().item() - 0.05 for s in cc.shapes.SHAPES) >= 3
    """,
}
