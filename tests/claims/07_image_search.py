"""Claims of 07_image_search.ipynb (checked by tests/lesson_checks.py)."""

_NEAREST = "in_common(neighbour_pairs, kinds[{0!r}])"
_BASELINE = "in_common(all_pairs, kinds[{0!r}])"
# the queries that fit nothing score below the good one, by less than a fifth of a cosine
_BELOW_NOT_FAR = """
    all(good - 0.2 < index.search(text, k=1)[0].score < good
        for good in [index.search("a photo of a red star", k=1)[0].score]
        for text in ["a photo of a dog", "a sun", "asdf qwerty"])
"""

CLAIMS = {
    # section 3
    "a nearest neighbour nearly always shares a colour with its image, far above the baseline": f"""
        {_NEAREST.format("a colour")} > 0.9
        and {_NEAREST.format("a colour")} > {_BASELINE.format("a colour")} + 0.3
    """,
    "it shares a shape less often": f"""
        {_NEAREST.format("a shape")} < {_NEAREST.format("a colour")}
    """,
    # section 7
    "the queries that fit nothing score below the good one, but not far below": _BELOW_NOT_FAR,
    # summary
    "which for the bundled model is first of all \"the same colours\"": {"check": f"""
        {_NEAREST.format("a colour")} > {_NEAREST.format("a shape")}
        and {_NEAREST.format("a colour")} > {_NEAREST.format("a colour × shape")}
    """, "after": "b0aa501a"},
    "scored not far below a good query": {"check": _BELOW_NOT_FAR, "after": "cf4704a6"},
    # Exercise 1 (solution comment)
    "Here the ensemble finds fewer right images than the one prompt, by more than its standard error":
        "difference.mean() < -difference.std() / len(difference) ** 0.5",
    "(not by two: 144 images give a wide error bar)":
        "difference.mean() > -2 * difference.std() / len(difference) ** 0.5",
    "the ensemble finds a few more faded images but far fewer grainy ones": """
        0 < found["ensemble"]["faded"] - found["one prompt"]["faded"] <= 6
        and found["ensemble"]["grainy"] < found["one prompt"]["grainy"] - 4
    """,
    # Exercise 2 (solution comment)
    # the scenes of each pair that was not planted, by their .png names
    "Pairs that were not planted but score as high are different scenes in the same colours, often "
    "with other shapes": """
        [all(kinds["a colour"](a) & kinds["a colour"](b) for a, b in look_alikes)
         and sum(contents[a] != contents[b] for a, b in look_alikes) >= 2
         for look_alikes in [[(a, b) for a, b in ((x.stem.split("_copy")[0] + ".png",
                                                   y.stem.split("_copy")[0] + ".png")
                                                  for x, y, _ in top_pairs) if a != b]]][0]
    """,
}
