"""Claims of 06_train_your_own_clip.ipynb: sentence -> check (tests/lesson_checks.py)."""

CLAIMS = {
    # section 1: the loss on hand-made batches
    "Perfectly matched pairs at CLIP's starting scale give a loss of practically 0.":
        "contrastive_loss(aligned, aligned, 1 / 0.07).item() < 1e-3",
    "The *same* perfect features at scale 1 cost 0.744.":
        "abs(contrastive_loss(aligned, aligned, 1.0).item() - 0.744) < 5e-4",
    "When nothing tells the pairs apart, every logit is equal and the loss is exactly `log(B)`.":
        "abs(contrastive_loss(identical, identical, 1 / 0.07).item() - math.log(batch)) < 1e-5",
    "but not zero ones (a spread of about `1 / sqrt(64)`)": "0.06 < float(cosines.std()) < 0.2",
    "a confident wrong answer costs more than an even spread": "float(ours) > math.log(8)",
    # section 2
    "so a batch often holds two captions that say the same thing":
        "len({scene.key for scene in data.scenes[:BATCH_SIZE]}) < BATCH_SIZE",
    # section 4: the learned temperature
    "Against the dashed lines, the learned scale has hardly moved.":
        "0.5 < scale[-1] / scale[0] < 1.5 and abs(scale[-1] - scale[0]) < 0.2 * abs(100 - scale[0])",
    "The trained features are best served by a higher scale than the untrained ones":
        "best_scale['untrained'] < best_scale[f'after {STEPS} steps']",
    # section 5: held-out combinations
    "So your model has learned both words on the seen combinations, and it names some combinations it never saw.": """
        mine['seen combinations']['both'] >= 0.7
        and max(named.values()) >= 0.5 and mine['held-out combinations']['both'] > 3 / 24
    """,
    "The colour carries over almost every time;": "mine['held-out combinations']['colour'] >= 0.9",
    "the shape only for some of the held-out combinations, and for the others your model answers with a shape it has seen in that colour.": """
        min(named.values()) < 0.5 <= max(named.values())
        and all(Counter(p for p, t in zip(predicted, held_out_test.labels) if t == label)
                .most_common(1)[0][0].split()[0] == label.split()[0]
                for label, share in named.items() if share < 0.5)
    """,
    # section 6: batch sizes over two seeds
    # the seconds of section 6 are wall-clock time on a possibly shared machine: no claim on them
    # summary
    "its snapshots showed the diagonal forming": """
        result.snapshots[-1]['logits_per_image'].softmax(-1).diagonal().mean()
        > result.snapshots[0]['logits_per_image'].softmax(-1).diagonal().mean() + 0.2
    """,
    "The scale bounds how low the loss can go (0.744 for perfect pairs at scale 1, batch 4).":
        "abs(contrastive_loss(torch.eye(4), torch.eye(4), 1.0).item() - 0.744) < 5e-4",
    "names the colour × shape combinations it was trained on":
        "mine['seen combinations']['both'] >= 0.7",
    "on held-out combinations its colours carried over but its shapes far less, while the bundled model, trained longer on a richer world, names them.": """
        mine['held-out combinations']['colour'] >= 0.9
        and mine['held-out combinations']['shape'] < mine['held-out combinations']['colour'] - 0.2
        and theirs['held-out combinations']['both'] >= 0.8
    """,
}
