"""Text -> image and image -> image search over a folder of images.

An :class:`ImageIndex` encodes every image once (through an :class:`~clipcourse.cache.
EmbeddingCache` when given one, so rebuilding it costs no model call) and keeps the unit-norm
``image_features``. A query is encoded the same way, and its cosine similarity with every image
is one matrix product: ``scores = query_features @ image_features.T``. Nothing cleverer (no
approximate nearest-neighbour index) is needed for the few thousand images of a lesson.

Introduced in ``07_image_search.ipynb``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Sequence

import torch
from PIL import Image

__all__ = ["ImageIndex", "SearchResult", "IMAGE_EXTENSIONS"]

#: File name endings (any case) that :class:`ImageIndex` picks up in a folder.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


class SearchResult(NamedTuple):
    """One hit of :meth:`ImageIndex.search`.

    Attributes
    ----------
    rank : int
        1 for the best match.
    path : pathlib.Path
    score : float
        Cosine similarity of the query and the image, in [-1, 1].

    Introduced in ``07_image_search.ipynb``.
    """

    rank: int
    path: Path
    score: float


class ImageIndex:
    """Every image of a folder (or a list of files), encoded once and ready to search.

    Parameters
    ----------
    model : clipcourse.Model
    images : folder, or sequence of paths
        A folder is searched recursively for :data:`IMAGE_EXTENSIONS`, skipping hidden files
        and folders (names starting with ``.``), in sorted order so that every run builds the
        same index. A sequence is used as given.
    cache : EmbeddingCache, optional
        Read embeddings from, and store them in, this cache. Query images use it too.
    batch_size : int
        Images encoded at once.
    progress : bool, optional
        Show a progress bar; by default only for more than four batches.

    Attributes
    ----------
    model
    paths : list of pathlib.Path
        The indexed images; ``paths[i]`` is the image of row ``i`` of ``image_features``.
    image_features : torch.Tensor
        ``[n_images, embed_dim]`` float32, unit-norm rows.
    skipped : list of (pathlib.Path, str)
        Files that could not be read (each also reported by an ``ImageSkipWarning``).

    Raises
    ------
    FileNotFoundError
        ``images`` names a folder that does not exist.
    ValueError
        No image was found, or none could be read.

    Examples
    --------
    >>> cache = cc.EmbeddingCache()  # doctest: +SKIP
    >>> index = cc.ImageIndex(model, "data/shapes", cache=cache)  # doctest: +SKIP
    >>> index.search("a red circle", k=3)  # doctest: +SKIP
    [SearchResult(rank=1, path=PosixPath('data/shapes/0007.png'), score=0.31), ...]

    Introduced in ``07_image_search.ipynb``.
    """

    def __init__(self, model, images: str | os.PathLike | Sequence[str | os.PathLike], *,
                 cache=None, batch_size: int = 32, progress: bool | None = None):
        self.model = model
        self.cache = cache
        if isinstance(images, (str, os.PathLike)):
            candidates = _list_images(Path(images))
        else:
            if isinstance(images, (bytes, bytearray, memoryview, Image.Image)) or not hasattr(
                    images, "__iter__"):
                raise TypeError(f"ImageIndex indexes image files: pass a folder or a list of "
                                f"paths, not {type(images).__name__}. Save in-memory images to "
                                "files first (image.save('folder/name.png')).")
            images = list(images)
            for i, p in enumerate(images):
                if not isinstance(p, (str, os.PathLike)):
                    raise TypeError(f"ImageIndex: item {i} of the list is a "
                                    f"{type(p).__name__}, not a path. Pass file paths only.")
            candidates = [Path(p) for p in images]
            if not candidates:
                raise ValueError("ImageIndex needs at least one image; got an empty list.")
        encoded = self._encode(candidates, batch_size=batch_size, progress=progress,
                               errors="skip")
        features, indices, failures = encoded
        self.paths = [candidates[i] for i in indices]
        self.image_features = features  # [n_images, embed_dim]
        self.skipped = [(candidates[i], reason) for i, _, reason in failures]
        if not self.paths:
            path, reason = self.skipped[0]
            raise ValueError(f"None of the {len(candidates)} images could be read. "
                             f"The first: {path}: {reason}")

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        name = getattr(self.model, "name", type(self.model).__name__)
        return (f"ImageIndex({len(self)} images, embed_dim={self.image_features.shape[1]}, "
                f"model={name!r}{skipped})")

    def search(self, query, k: int | None = 5) -> list[SearchResult]:
        """The ``k`` images most similar to ``query``, best first.

        Parameters
        ----------
        query : str, path, PIL image, or tensor
            A ``str`` is a text prompt, unless it names an existing image file (one of
            :data:`IMAGE_EXTENSIONS`); a ``pathlib.Path`` or a PIL image is an image; a
            tensor ``[embed_dim]`` is an embedding (it is normalised here).
        k : int or None
            How many results; more than the index holds gives them all, as does ``None``.

        Returns
        -------
        list of SearchResult
            ``(rank, path, score)``, sorted by cosine similarity, highest first; ties keep the
            order of ``paths``.

        Examples
        --------
        >>> index.search("a photo of a dog", k=3)  # doctest: +SKIP
        >>> index.search(Path("query.jpg"))  # an indexed image finds itself  # doctest: +SKIP

        Introduced in ``07_image_search.ipynb``.
        """
        return self.search_many([query], k=k)[0]

    def search_many(self, queries: Sequence, k: int | None = 5) -> list[list[SearchResult]]:
        """:meth:`search` for several queries, encoding texts in one call and images in one.

        Introduced in ``07_image_search.ipynb``.
        """
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1 (or None for all), not {k}")
        queries = list(queries)
        query_features = self._encode_queries(queries)  # [n_queries, embed_dim]
        scores = query_features @ self.image_features.T  # [n_queries, n_images]
        k = len(self) if k is None else min(k, len(self))
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]  # [n_q, k]
        return [[SearchResult(rank + 1, self.paths[i], float(row_scores[i]))
                 for rank, i in enumerate(row_order.tolist())]
                for row_scores, row_order in zip(scores, order)]

    # -- private ------------------------------------------------------------------------------
    def _encode(self, images: list, **kwargs):
        if self.cache is not None:
            return self.cache.encode_images(self.model, images, **kwargs)
        return self.model.encode_images(images, **kwargs)

    def _encode_queries(self, queries: list) -> torch.Tensor:
        """``[n_queries, embed_dim]`` unit-norm rows, in the order of ``queries``."""
        embed_dim = self.image_features.shape[1]
        query_features = torch.empty(len(queries), embed_dim)  # [n_queries, embed_dim]
        texts, images = {}, {}  # position -> query
        for i, query in enumerate(queries):
            if isinstance(query, torch.Tensor):
                vector = query.detach().float().cpu().reshape(-1)  # [embed_dim]
                if vector.shape[0] != embed_dim:
                    raise ValueError(f"A query embedding must have {embed_dim} values, "
                                     f"not shape {tuple(query.shape)}")
                query_features[i] = vector / vector.norm()
            elif isinstance(query, str) and not _is_image_file(query):
                texts[i] = query
            elif isinstance(query, (str, os.PathLike, Image.Image)):
                images[i] = query
            else:
                raise TypeError(f"A query is a str, a path, a PIL image or a tensor, "
                                f"not {type(query).__name__}")
        if texts:
            query_features[list(texts)] = self.model.encode_texts(list(texts.values()))
        if images:
            query_features[list(images)] = self._encode(list(images.values()))
        return query_features


def _is_image_file(text: str) -> bool:
    return text.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(text)


def _list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, no hidden ones), sorted for determinism."""
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"Cannot index {folder}: it {what}.")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .ipynb_checkpoints, .git...
        found += [Path(root, f) for f in files
                  if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise ValueError(f"No images found in {folder} (looked recursively for "
                         f"{', '.join(IMAGE_EXTENSIONS)}).")
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())
