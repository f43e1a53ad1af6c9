"""Retrieval measured the way the papers do: the rank of the right answer, and recall@k.

Given a similarity matrix between queries and a gallery (texts × images for text → image
retrieval, images × texts for image → text), each query has one or more *relevant* items. The
rank of the best-placed relevant item is 1 when it comes first. **Recall@k** is the fraction of
queries whose relevant item is among the top ``k``: for a search box that shows ``k`` results, the
share of searches where what you were looking for is on the screen.

CLIP's paper and open_clip report text → image ("image retrieval") and image → text ("text
retrieval") R@1, R@5 and R@10 on Flickr30k (1,000 test images, 5 captions each) and MSCOCO
(5,000 images). Ties are broken against the query: a relevant item tied with irrelevant ones
ranks behind them all, so a constant similarity scores no better than chance.

Introduced in ``08_beyond_zero_shot.ipynb``.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["retrieval_ranks", "recall_at_k"]


def _relevance(relevant, n_queries: int, n_items: int) -> torch.Tensor:
    """``[n_queries, n_items]`` bool matrix from indices or a bool/0-1 matrix."""
    relevant = torch.as_tensor(relevant)
    if relevant.dim() == 1:  # one relevant item per query: its index
        if len(relevant) != n_queries:
            raise ValueError(f"{len(relevant)} relevant indices for {n_queries} queries")
        if len(relevant) and (int(relevant.min()) < 0 or int(relevant.max()) >= n_items):
            raise ValueError(f"relevant indices must lie in 0..{n_items - 1}")
        mask = torch.zeros(n_queries, n_items, dtype=torch.bool)
        mask[torch.arange(n_queries), relevant.long()] = True
        return mask
    if tuple(relevant.shape) != (n_queries, n_items):
        raise ValueError(f"relevant has shape {tuple(relevant.shape)}, expected "
                         f"{(n_queries, n_items)} or ({n_queries},)")
    mask = relevant.bool()
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every query needs at least one relevant item")
    return mask


def retrieval_ranks(similarity: torch.Tensor, relevant) -> torch.Tensor:
    """For each query, the rank (1 = first) of its best-placed relevant item.

    Parameters
    ----------
    similarity : torch.Tensor
        ``[n_queries, n_items]``, higher is more similar: for text → image retrieval,
        ``text_features @ image_features.T``; for image → text, its transpose.
    relevant : tensor or sequence
        ``[n_queries]`` index of each query's one relevant item, or a ``[n_queries, n_items]``
        boolean matrix when a query has several (an image with 5 captions).

    Returns
    -------
    torch.Tensor
        ``[n_queries]`` long, in ``1..n_items``. A relevant item tied with irrelevant ones is
        ranked behind them.

    Examples
    --------
    >>> retrieval_ranks(torch.tensor([[0.9, 0.1], [0.8, 0.3]]), [0, 1])
    tensor([1, 2])

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    similarity = torch.as_tensor(similarity).float()
    if similarity.dim() != 2:
        raise ValueError(f"similarity must be [n_queries, n_items], not {tuple(similarity.shape)}")
    mask = _relevance(relevant, *similarity.shape)  # [n_queries, n_items]
    best = similarity.masked_fill(~mask, float("-inf")).max(dim=1).values  # [n_queries]
    # items strictly better than the best relevant one, plus irrelevant ones tied with it
    ahead = (similarity > best[:, None]) | ((similarity == best[:, None]) & ~mask)
    return ahead.sum(dim=1) + 1  # [n_queries]


def recall_at_k(similarity: torch.Tensor, relevant, ks: Sequence[int] = (1, 5, 10)
                ) -> dict[int, float]:
    """Recall@k: the fraction of queries with a relevant item among their top ``k``.

    Parameters
    ----------
    similarity, relevant
        As in :func:`retrieval_ranks`.
    ks : sequence of int
        The cut-offs (the papers use 1, 5 and 10).

    Returns
    -------
    dict of int to float
        ``{k: recall}``, each in [0, 1].

    Examples
    --------
    >>> similarity = text_features @ image_features.T  # doctest: +SKIP
    >>> recall_at_k(similarity, torch.arange(len(similarity)))  # doctest: +SKIP
    {1: 0.42, 5: 0.8, 10: 0.9}

    Introduced in ``08_beyond_zero_shot.ipynb``.
    """
    ranks = retrieval_ranks(similarity, relevant)  # [n_queries]
    for k in ks:
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
    return {int(k): float((ranks <= k).float().mean()) for k in ks}
