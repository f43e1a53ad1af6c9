"""Claims of 03_zero_shot_classification.ipynb: sentence -> check (tests/lesson_checks.py)."""

_MISFITS = "list(by_group.values())[1:]"

CLAIMS = {
    # section 2
    "Both steps keep the order of the scores, so the winner cannot change.": {"check": """
        torch.equal(probs.argmax(dim=-1), nearest)
    """, "after": "00a7a591"},
    # section 5: no "I don't know"
    "so noise, blank squares and photos of cats are each handed to some coloured shape": f"""
        all(p in labels for r in {_MISFITS} for p in r.predictions)
    """,
    # summary
    "with top probabilities far above the 1/24 that \"none of these\" would give": f"""
        min(r.probs.max(dim=-1).values.mean().item() for r in {_MISFITS}) > 4 / len(labels)
        and len(labels) == 24
    """,
    "`logit_scale` and the softmax turn cosines into probabilities without changing the winner": """
        torch.equal(probs.argmax(dim=-1), nearest)
    """,
}
