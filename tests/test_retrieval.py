"""Retrieval ranks and recall@k (clipcourse.retrieval)."""

import pytest
import torch

import clipcourse as cc
from clipcourse.retrieval import recall_at_k, retrieval_ranks


def test_ranks_and_recall_by_hand():
    similarity = torch.tensor([[0.9, 0.1, 0.2],
                               [0.7, 0.5, 0.1],
                               [0.8, 0.6, 0.3]])
    assert retrieval_ranks(similarity, [0, 1, 2]).tolist() == [1, 2, 3]
    assert recall_at_k(similarity, [0, 1, 2], ks=(1, 2, 3)) == pytest.approx(
        {1: 1 / 3, 2: 2 / 3, 3: 1.0})


def test_perfect_and_reversed_retrieval():
    similarity = torch.eye(5)
    assert recall_at_k(similarity, torch.arange(5)) == {1: 1.0, 5: 1.0, 10: 1.0}
    assert retrieval_ranks(-torch.eye(5), torch.arange(5)).tolist() == [5] * 5


def test_ties_count_against_the_query():
    similarity = torch.zeros(4, 4)  # a model that says nothing ranks every right answer last
    assert retrieval_ranks(similarity, torch.arange(4)).tolist() == [4, 4, 4, 4]
    assert recall_at_k(similarity, torch.arange(4), ks=(1,)) == {1: 0.0}


def test_several_relevant_items_use_the_best_placed():
    similarity = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    relevant = torch.tensor([[True, False, False, True]])  # items 0 and 3: 3 ranks third
    assert retrieval_ranks(similarity, relevant).tolist() == [3]


def test_text_and_image_directions_are_transposes():
    g = torch.Generator().manual_seed(0)
    text_features = cc.normalize(torch.randn(30, 16, generator=g))
    image_features = cc.normalize(text_features + 0.8 * torch.randn(30, 16, generator=g))
    similarity = text_features @ image_features.T  # [30 captions, 30 images]
    right = torch.arange(30)
    by_hand = (similarity.argsort(dim=1, descending=True)[:, :5] == right[:, None]).any(dim=1)
    assert recall_at_k(similarity, right, ks=(5,))[5] == pytest.approx(by_hand.float().mean().item())
    by_hand_images = (similarity.T.argsort(dim=1, descending=True)[:, :5] == right[:, None]).any(1)
    assert recall_at_k(similarity.T, right, ks=(5,))[5] == pytest.approx(
        by_hand_images.float().mean().item())


@pytest.mark.parametrize("relevant, message", [
    ([0, 1], "relevant indices for"),
    ([0, 1, 7], "must lie in"),
    (torch.zeros(3, 2, dtype=torch.bool), "shape"),
    (torch.zeros(3, 3, dtype=torch.bool), "at least one relevant"),
])
def test_bad_relevance_is_rejected(relevant, message):
    with pytest.raises(ValueError, match=message):
        retrieval_ranks(torch.rand(3, 3), relevant)


def test_bad_k_and_shape():
    with pytest.raises(ValueError, match="at least 1"):
        recall_at_k(torch.eye(3), torch.arange(3), ks=(0,))
    with pytest.raises(ValueError, match="n_queries, n_items"):
        retrieval_ranks(torch.rand(3), [0, 1, 2])
