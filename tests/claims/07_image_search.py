"""Claims of 07_image_search.ipynb (checked by tests/lesson_checks.py)."""

CLAIMS = {
    # Exercise 1 (solution comment)
    "Here the ensemble finds fewer right images than the one prompt, by more than its standard error":
        "difference.mean() < -difference.std() / len(difference) ** 0.5",
}
