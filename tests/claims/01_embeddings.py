"""Claims of 01_embeddings.ipynb: sentence -> check (tests/lesson_checks.py)."""

# Distances between the points of the 2-D map, as cc.plots.plot_embedding_map draws it. "Apart"
# and "among" are measured against the largest gap between a drawing and its nearest drawing.
_MAP_DISTANCES = "torch.cdist(*[torch.as_tensor(cc.plots._pca_2d(map_features.numpy())[0]).float()] * 2)"
_IS_PHOTO = "torch.tensor([label == 'photos' for label in map_labels])"

CLAIMS = {
    # section 1
    "The dtype and device are the model's: float32 on a CPU, float16 on a GPU": """
        raw_image_features.dtype == model.dtype
        and model.dtype == (torch.float16 if str(model.device).startswith("cuda") else torch.float32)
    """,
    "always hands back **float32 on the CPU**": {"check": """
        image_features.dtype == torch.float32 and image_features.device.type == "cpu"
    """, "after": "l01-08"},
    # section 2
    "The raw encoder output has rows of varying length": {"check": """
        raw_image_features.float().norm(dim=-1).std() > 0.05 * raw_image_features.float().norm(dim=-1).mean()
    """, "after": "l01-11"},
    # section 4
    "And so the model cannot tell a red circle from a blue square": {"check": """
        (pair[0] @ pair[1]).item() > 0.9999
    """, "after": "l01-27"},
    # section 5: the map
    "With the bundled model the drawings spread out by shape": """
        (lambda f, lab: (lambda c, same: c[same & ~torch.eye(len(c), dtype=torch.bool)].mean()
                                         > c[~same].mean() + 0.1)(
            f @ f.T, torch.tensor([[a == b for b in lab] for a in lab])))(
            map_features[:len(drawings)], map_labels[:len(drawings)])
    """,
    "some of the photos sit apart, in a region where no drawing goes": f"""
        (lambda d, p: d[p][:, ~p].min(dim=1).values.max()
                      > 2 * d[~p][:, ~p].sort(dim=1).values[:, 1].max())({_MAP_DISTANCES}, {_IS_PHOTO})
    """,
    "Others land among the drawings anyway": f"""
        (lambda d, p: d[p][:, ~p].min(dim=1).values.min()
                      < d[~p][:, ~p].sort(dim=1).values[:, 1].max())({_MAP_DISTANCES}, {_IS_PHOTO})
    """,
    "drawings resemble other drawings more than photos resemble anything": """
        mean_cos(~is_photo, ~is_photo) > max(mean_cos(is_photo, is_photo),
                                             mean_cos(is_photo, ~is_photo))
    """,
    "photos resemble drawings least of all": """
        mean_cos(is_photo, ~is_photo) < min(mean_cos(is_photo, is_photo),
                                            mean_cos(~is_photo, ~is_photo))
    """,
    # summary
    "On a 2-D map of the bundled model's embeddings, the drawings group by shape.": """
        (lambda f, lab: (lambda c, same: c[same & ~torch.eye(len(c), dtype=torch.bool)].mean()
                                         > c[~same].mean() + 0.1)(
            f @ f.T, torch.tensor([[a == b for b in lab] for a in lab])))(
            map_features[:len(drawings)], map_labels[:len(drawings)])
    """,
    "on average they resemble drawings least of all": """
        mean_cos(is_photo, ~is_photo) < min(mean_cos(is_photo, is_photo),
                                            mean_cos(~is_photo, ~is_photo))
    """,
    "some closer than two drawings are on average (Exercise 1)": {"check": """
        best_cos.max() > mean_cos(~is_photo, ~is_photo)
    """, "after": "l01-38"},
}
