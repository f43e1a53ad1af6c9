"""Claims of 02_cosine_similarity.ipynb: sentence -> check (tests/lesson_checks.py)."""

CLAIMS = {
    # section 2: the 8 x 8 similarity matrix
    "every column's brightest cell is on the diagonal": "on_diagonal == len(texts)",
    "from below 0 to above 0.7": "similarity.min() < 0 and similarity.max() > 0.7",
    # section 3: matched against unmatched, 24 x 24
    "Matched pairs score well above unmatched ones.": "matched.mean() > unmatched.mean() + 0.3",
    "matched pairs also sit far above the 0.3 to look for with real CLIP": "matched.min() > 0.5",
    "With the bundled model there is none: the best-scoring wrong pair stays below the lowest "
    "matched pair": "unmatched.max() < matched.min()",
    "with the bundled model they are captions with the right colour and the wrong shape": """
        all(test.labels[i].split()[0] == all_texts[j].split()[-2]
            and test.labels[i].split()[1] != all_texts[j].split()[-1]
            for i, j in (divmod(k, len(cos)) for k in top.indices.tolist()))
    """,
    "both within-modality means are above the image-vs-text mean": """
        min(drawings_gap["image"], drawings_gap["text"]) > drawings_gap["across"]
    """,
    "the two centres lie apart (the last number; 0 would mean no gap)": "drawings_gap['gap'] > 0.2",
    "Its matched pairs still score high, so the gap is not hiding them.": "matched.min() > 0.5",
    # section 4: logit_scale
    "The bundled model's cosines are spread far wider, and it learned a much smaller scale": """
        cos.max() - cos.min() > 0.5 and model.logit_scale < 50
    """,
    "The winner never changes: the scale sharpens or flattens, it does not reorder.": """
        len({int(cc.widgets.scaled_softmax(similarity[:, 0], s).argmax())
             for s in (1.0, model.logit_scale, 100.0)}) == 1
    """,
    # summary
    "Matched pairs score higher than unmatched ones.": "matched.mean() > unmatched.mean()",
    "The bundled model has a gap too, and its own, much higher, cosines.": """
        drawings_gap["gap"] > 0.2 and matched.mean() > 0.5
    """,
    # exercise 1's solution
    "the matched mean goes up, the unmatched mean goes down": """
        gap["centred"][0] > gap["as trained"][0] and gap["centred"][1] < gap["as trained"][1]
    """,
    "with the bundled model, by at most one drawing":
        'abs(gap["centred"][2] - gap["as trained"][2]) <= 1',
}
