"""Image search (clipcourse/search.py) with a fake model that embeds colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clipcourse.cache import EmbeddingCache
from clipcourse.embed import ImageSkipWarning
from clipcourse.search import ImageIndex, SearchResult

# The fake embedding of an image is its mean colour; of a text, the colour it names.
COLOURS = {
    "red": (220, 20, 20),
    "orange": (230, 140, 20),
    "green": (20, 200, 30),
    "blue": (20, 30, 220),
    "navy": (10, 10, 120),
}


def unit(rgb) -> torch.Tensor:
    vector = torch.tensor([*rgb, 8.0], dtype=torch.float32)  # [4]: never all zeros
    return vector / vector.norm()


class ColourModel:
    """Just what ImageIndex and EmbeddingCache use of a clipcourse Model; counts calls."""

    name = "colours"
    embed_dim = 4
    fingerprint = "colours:0"
    preprocess_fingerprint = "colours:mean-rgb"

    def __init__(self):
        self.image_calls = self.text_calls = self.encoded = 0

    def encode_images(self, images, batch_size=32, progress=None, errors="raise"):
        self.image_calls += 1
        rows, indices, failures = [], [], []
        for i, image in enumerate(images):
            try:
                if not isinstance(image, Image.Image):
                    with Image.open(image) as opened:
                        image = opened.convert("RGB")
            except OSError as err:  # missing file, or PIL.UnidentifiedImageError
                if errors == "raise":
                    raise
                failures.append((i, image, str(err)))
                continue
            rows.append(unit(np.asarray(image, dtype=np.float32).mean(axis=(0, 1))))
            indices.append(i)
        self.encoded += len(rows)
        features = torch.stack(rows) if rows else torch.empty(0, self.embed_dim)
        return (features, indices, failures) if errors == "skip" else features

    def encode_texts(self, texts):
        self.text_calls += 1
        return torch.stack([unit(COLOURS[text]) for text in texts])


def save(path: Path, rgb) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), rgb).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "images"
    for name in ("red", "orange", "green", "blue"):
        save(folder / f"{name}.png", COLOURS[name])
    save(folder / "deep" / "navy.JPG", COLOURS["navy"])  # nested, upper-case extension
    save(folder / ".ipynb_checkpoints" / "red-checkpoint.png", COLOURS["red"])  # hidden: skipped
    (folder / "notes.txt").write_text("not an image")
    return folder


def names(results) -> list[str]:
    return [result.path.name for result in results]


def test_a_folder_is_indexed_recursively_in_sorted_order(folder):
    index = ImageIndex(ColourModel(), folder)
    assert [p.relative_to(folder).as_posix() for p in index.paths] == [
        "blue.png", "deep/navy.JPG", "green.png", "orange.png", "red.png"]
    assert index.image_features.shape == (5, 4) and len(index) == 5
    assert index.skipped == []
    assert repr(index) == "ImageIndex(5 images, embed_dim=4, model='colours')"


def test_text_search_ranks_by_cosine_similarity(folder):
    results = ImageIndex(ColourModel(), folder).search("red", k=2)
    assert names(results) == ["red.png", "orange.png"]
    assert all(isinstance(r, SearchResult) and isinstance(r.path, Path) for r in results)
    assert [r.rank for r in results] == [1, 2]
    assert results[0].score > results[1].score
    assert results[0].score == pytest.approx(float(unit(COLOURS["red"]) @ unit(COLOURS["red"])))


def test_image_queries_find_the_image_itself_first(folder):
    index = ImageIndex(ColourModel(), folder)
    blue = folder / "blue.png"
    with Image.open(blue) as opened:
        pil = opened.convert("RGB")
    for query in (blue, str(blue), pil):  # a str naming an existing image file is an image
        results = index.search(query, k=2)
        assert names(results) == ["blue.png", "navy.JPG"]
        assert results[0].score == pytest.approx(1.0)


def test_a_tensor_query_is_normalised(folder):
    index = ImageIndex(ColourModel(), folder)
    results = index.search(torch.tensor([0.0, 5.0, 0.0, 0.0]), k=1)
    assert names(results) == ["green.png"] and results[0].score <= 1.0
    with pytest.raises(ValueError, match="4 values"):
        index.search(torch.zeros(3))


def test_k_larger_than_the_index_gives_every_image(folder):
    index = ImageIndex(ColourModel(), folder)
    assert len(index.search("green", k=50)) == 5
    everything = index.search("green", k=None)
    assert names(everything)[0] == "green.png"
    assert [r.score for r in everything] == sorted((r.score for r in everything), reverse=True)
    with pytest.raises(ValueError, match="k must be"):
        index.search("green", k=0)


def test_search_many_encodes_all_texts_in_one_call(folder):
    model = ColourModel()
    index = ImageIndex(model, folder)
    image_calls = model.image_calls
    results = index.search_many(["red", folder / "green.png", "blue"], k=1)
    assert [names(r) for r in results] == [["red.png"], ["green.png"], ["blue.png"]]
    assert (model.text_calls, model.image_calls - image_calls) == (1, 1)


def test_a_broken_file_is_skipped_and_reported(folder, tmp_path):
    (folder / "broken.png").write_bytes(b"this is no png")
    with pytest.warns(ImageSkipWarning, match="broken.png"):
        index = ImageIndex(ColourModel(), folder, cache=EmbeddingCache(tmp_path / "cache"))
    assert len(index) == 5 and folder / "broken.png" not in index.paths
    [(path, reason)] = index.skipped
    assert path == folder / "broken.png" and reason
    assert "1 skipped" in repr(index)


def test_a_list_of_paths_keeps_its_order(folder):
    paths = [folder / "red.png", folder / "blue.png"]
    assert ImageIndex(ColourModel(), [str(p) for p in paths]).paths == paths


def test_ties_keep_the_order_of_paths(tmp_path):
    paths = [save(tmp_path / f"{name}.png", COLOURS["green"]) for name in ("b", "a", "c")]
    results = ImageIndex(ColourModel(), paths).search("green", k=3)
    assert names(results) == ["b.png", "a.png", "c.png"]


def test_a_cached_index_is_rebuilt_without_model_calls(folder, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    first = ImageIndex(ColourModel(), folder, cache=cache)
    model = ColourModel()
    second = ImageIndex(model, folder, cache=cache)
    assert model.image_calls == 0 and str(cache.stats) == "5 hits, 0 misses"
    assert torch.equal(first.image_features, second.image_features)
    assert names(second.search(folder / "red.png", k=1)) == ["red.png"]  # a hit, too
    assert model.image_calls == 0


def test_nothing_to_index_says_why(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match=r"No images found in .*empty.*\.png"):
        ImageIndex(ColourModel(), empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageIndex(ColourModel(), tmp_path / "nowhere")
    with pytest.raises(ValueError, match="empty list"):
        ImageIndex(ColourModel(), [])
    (empty / "broken.png").write_bytes(b"")
    with pytest.raises(ValueError, match="None of the 1 images could be read.*broken.png"):
        ImageIndex(ColourModel(), empty)


def test_an_unknown_query_type_is_refused(folder):
    with pytest.raises(TypeError, match="query"):
        ImageIndex(ColourModel(), folder).search(42)
