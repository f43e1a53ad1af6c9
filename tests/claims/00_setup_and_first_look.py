"""Claims of 00_setup_and_first_look.ipynb: sentence -> check (tests/lesson_checks.py)."""

CLAIMS = {
    # section 3: the course text's snippet, as written and fixed
    "It runs, and the probabilities add up to 1.": "abs(float(probs.sum()) - 1) < 1e-3",
    "`encode_image` and `encode_text` do not return unit vectors": """
        (image_features.norm(dim=-1) - 1).abs().min() > 0.1
        and (text_features.norm(dim=-1) - 1).abs().min() > 0.1
    """,
    "its mean top probability rounds to 1 and almost every other probability is *exactly* 0": """
        as_written.max(dim=-1).values.mean() > 0.99995 and (as_written == 0).float().mean() > 0.9
    """,
    "numbers mostly in the hundreds or thousands": """
        (logits_per_image.abs() >= 100).float().mean() > 0.5
    """,
    "The fixed version keeps its doubts where a drawing is hard.": """
        fixed.max(dim=-1).values.min() < 0.9 and (fixed == 0).float().mean() < 0.5
    """,
    "With the bundled model the caption lengths are close to one another": """
        text_features.norm(dim=-1).max() / text_features.norm(dim=-1).min() < 1.5
    """,
    "so the damage is in the confidence; the hand-made example above": """
        changed == 0 and dots.argmax() != cos.argmax()
    """,
    # section 4
    "return float32 rows of length 1 on the CPU": {"check": """
        image_features.dtype == torch.float32 and image_features.device.type == "cpu"
        and torch.allclose(image_features.norm(dim=-1), torch.ones(len(image_features)),
                           atol=1e-4)
    """, "after": "l00-25"},
    # summary
    "The image's length acts like a temperature and pins the probabilities at 0 and 1": """
        as_written.max(dim=-1).values.mean() > 0.9999
    """,
    "each text's length biases its label and can change the winner": "dots.argmax() != cos.argmax()",
    # exercise solutions
    "The count never moves": "len({count for count, _ in results.values()}) == 1",
    "The confidence does: a bigger factor means larger logits": """
        [results[f][1] for f in sorted(results)] == sorted(results[f][1] for f in results)
        and results[min(results)][1] < 0.5 and results[max(results)][1] > 0.99
    """,
    "As written, the longer caption steals drawings; with cosines nothing moves.": """
        picks[max(picks)][0] > picks[min(picks)][0] and len({f for _, f in picks.values()}) == 1
    """,
}
