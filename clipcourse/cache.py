"""An on-disk cache of image embeddings, so the second pass over a folder costs no model call.

Each embedding is one small ``.npy`` file, found by *what* was encoded and *how*::

    <folder>/<namespace>/<content[:2]>/<content>.npy

* ``content`` is the SHA-256 of the image file's bytes, not its path or mtime: a renamed or
  copied file still hits, an edited file misses.
* ``namespace`` is the first 16 hex digits of the SHA-256 of the model's ``fingerprint`` (which
  weights), its ``preprocess_fingerprint`` (which resize/crop/normalisation) and its ``dtype``
  (fp16 on a GPU and fp32 on a CPU give slightly different vectors). Change any of them and you
  get a fresh namespace; nothing stale is ever returned. The fingerprint follows the weights
  as they are *now*: train a model in place (lesson 06) and its entries go to a new namespace.
* A file replaced while it is being encoded is not stored under its old hash (it is hashed
  again after encoding; see ``_unchanged``).

One file per embedding keeps concurrency simple. A write goes to a temporary file in the same
folder, is flushed and fsync'ed, and is then renamed onto its final name with ``os.replace``,
which is atomic: a reader (another kernel, another process) sees no file or a complete file,
never half of one. Every entry is checked when read (a ``.npy`` header, float32, the model's
``embed_dim``, finite, unit norm); a bad one is reported with a :class:`CacheWarning` naming
the file, recomputed and rewritten, never returned.

Only file paths are cached. In-memory inputs (PIL images, bytes) go straight to the model: they
are usually made on the fly and encoded once, and a key for them would have to hash pixels,
which would not match the key of the same picture saved as a file anyway.

Introduced in ``07_image_search.ipynb``.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from ._report import progress as _progress, warn as _warn
from .embed import EncodedImages, ImageSkipWarning, _as_list, _describe
from .weights import _sha256_of

__all__ = ["EmbeddingCache", "CacheStats", "CacheWarning", "default_cache_dir"]

_NORM_TOLERANCE = 1e-3  # float32 rows normalised by the model are within ~1e-6 of 1
_NAMESPACE_RE = re.compile(r"[0-9a-f]{16}")
_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_ENTRY_RE = re.compile(r"[0-9a-f]{64}\.npy")
_TEMP_PREFIX = ".tmp-"  # never matches _ENTRY_RE, so a reader can never pick up a temp file


class CacheWarning(UserWarning):
    """The embedding cache found a corrupt entry, or could not store one. Encoding went on."""


@dataclasses.dataclass
class CacheStats:
    """How an :meth:`EmbeddingCache.encode_images` call (or all of them) was served.

    Attributes
    ----------
    hits : int
        Embeddings read from the cache (no model call).
    misses : int
        Image files not in the cache (or with a corrupt entry), sent to the model.
    corrupt : int
        Of the misses, those whose entry existed but was bad, and was recomputed.
    uncached : int
        Inputs that bypass the cache: in-memory images, and paths that could not be read
        (the model then reports them).
    stored : int
        New entries written (less than ``misses`` when the folder is read-only).

    Introduced in ``07_image_search.ipynb``.
    """

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    uncached: int = 0
    stored: int = 0

    def __add__(self, other: "CacheStats") -> "CacheStats":
        return CacheStats(*(a + b for a, b in zip(dataclasses.astuple(self),
                                                  dataclasses.astuple(other))))

    def __str__(self) -> str:
        text = f"{self.hits} hits, {self.misses} misses"
        for name in ("corrupt", "uncached"):
            if getattr(self, name):
                text += f", {getattr(self, name)} {name}"
        return text


def default_cache_dir() -> Path:
    """Where :class:`EmbeddingCache` stores embeddings when no folder is given.

    ``$CLIPCOURSE_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/clipcourse/embeddings``, else
    ``~/.cache/clipcourse/embeddings``.

    Introduced in ``07_image_search.ipynb``.
    """
    folder = os.environ.get("CLIPCOURSE_CACHE_DIR")
    if folder:
        return Path(folder).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache_home).expanduser() / "clipcourse" / "embeddings"


class EmbeddingCache:
    """Image embeddings on disk, keyed by file content, model and preprocessing.

    Parameters
    ----------
    folder : str or path, optional
        Where to keep the entries; default :func:`default_cache_dir`. Created on the first
        write. A folder you cannot write to still serves hits; misses are then computed and
        not stored, with one :class:`CacheWarning` per call.

    Attributes
    ----------
    folder : pathlib.Path
    stats : CacheStats
        How the last :meth:`encode_images` call was served, e.g. ``200 hits, 0 misses``.
    total_stats : CacheStats
        The same, summed over every call on this object.

    Examples
    --------
    >>> cache = cc.EmbeddingCache()  # doctest: +SKIP
    >>> image_features = cache.encode_images(model, paths)  # doctest: +SKIP
    >>> print(cache.stats)  # first pass: everything is encoded  # doctest: +SKIP
    0 hits, 200 misses
    >>> image_features = cache.encode_images(model, paths)  # doctest: +SKIP
    >>> print(cache.stats)  # second pass: no model call  # doctest: +SKIP
    200 hits, 0 misses

    Introduced in ``07_image_search.ipynb``.
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder).expanduser() if folder is not None else default_cache_dir()
        self.stats = CacheStats()
        self.total_stats = CacheStats()

    def __repr__(self) -> str:
        return f"EmbeddingCache(folder={str(self.folder)!r})"

    # -- public -----------------------------------------------------------------------------
    def encode_images(self, model, images, batch_size: int = 32, progress: bool | None = None,
                      errors: str = "raise"):
        """``model.encode_images(images, ...)``, reading what it can from the cache.

        Every image file is hashed and looked up first; only the misses go through
        ``model.encode_images``, ``batch_size`` at a time (so memory holds one batch of decoded
        images), and each batch is stored as soon as it is encoded.

        Parameters
        ----------
        model : clipcourse.Model
            Anything with ``fingerprint``, ``preprocess_fingerprint`` and ``encode_images``.
        images : path, PIL image, bytes, or a sequence mixing them
            Only paths are cached; other inputs are encoded every time.
        batch_size : int
            Images per call to ``model.encode_images``.
        progress : bool, optional
            Show a progress bar; by default only when more than four batches miss.
        errors : {"raise", "skip"}
            As in ``model.encode_images``. Unreadable files are never cached, so the model
            reports them (raises, or warns and skips) exactly as it would without a cache.

        Returns
        -------
        torch.Tensor or EncodedImages
            What ``model.encode_images`` returns: ``[n_images, embed_dim]`` float32, unit-norm
            rows; with ``errors="skip"``, ``EncodedImages(features, indices, failures)``.

        Introduced in ``07_image_search.ipynb``.
        """
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        images = _as_list(images)
        namespace = self.folder / _namespace(model)
        expected_dim = getattr(model, "embed_dim", None)
        stats = CacheStats()
        try:
            return self._encode(model, images, namespace, expected_dim, stats,
                                batch_size=batch_size, progress=progress, errors=errors)
        finally:
            self.stats = stats
            self.total_stats = self.total_stats + stats

    def entry_path(self, model, image: str | os.PathLike) -> Path:
        """The file that holds (or would hold) the embedding of ``image`` by ``model``.

        Introduced in ``07_image_search.ipynb``.
        """
        return _entry_path(self.folder / _namespace(model), _sha256_of(image, remember=False))

    def clear(self, model=None) -> int:
        """Delete cached embeddings: all of them, or only those of ``model``.

        Only files this class writes are removed (entries, and temporary files left by a
        crash), so pointing the cache at a folder holding other things is harmless.

        Returns
        -------
        int
            The number of entries deleted.

        Introduced in ``07_image_search.ipynb``.
        """
        if model is not None:
            namespaces = [self.folder / _namespace(model)]
        elif self.folder.is_dir():
            namespaces = [p for p in self.folder.iterdir()
                          if p.is_dir() and _NAMESPACE_RE.fullmatch(p.name)]
        else:
            namespaces = []
        removed = 0
        for namespace in namespaces:
            if not namespace.is_dir():
                continue
            for shard in namespace.iterdir():
                if not (shard.is_dir() and _SHARD_RE.fullmatch(shard.name)):
                    continue
                for file in shard.iterdir():
                    if _ENTRY_RE.fullmatch(file.name):
                        file.unlink(missing_ok=True)
                        removed += 1
                    elif file.name.startswith(_TEMP_PREFIX):
                        file.unlink(missing_ok=True)
                _rmdir_if_empty(shard)
            _rmdir_if_empty(namespace)
        return removed

    # -- private ------------------------------------------------------------------------------
    def _encode(self, model, images: list, namespace: Path, expected_dim: int | None,
                stats: CacheStats, *, batch_size: int, progress: bool | None, errors: str):
        if not images:
            return model.encode_images([], batch_size=batch_size, progress=False, errors=errors)

        # 1. Look every path up. rows[i] is the [embed_dim] vector of input i once known.
        rows: dict[int, np.ndarray] = {}
        entries: dict[int, Path] = {}  # input position -> where its embedding belongs
        todo: list[int] = []  # input positions the model must encode
        corrupt: list[tuple[Path, str]] = []
        for i, image in enumerate(images):
            if not isinstance(image, (str, os.PathLike)):
                stats.uncached += 1
                todo.append(i)
                continue
            try:
                entry = _entry_path(namespace, _sha256_of(image, remember=False))
            except OSError:
                # Missing or unreadable: the model will raise or skip it with its own message.
                stats.uncached += 1
                todo.append(i)
                continue
            vector, problem = _read_entry(entry, expected_dim)
            if vector is not None:
                rows[i] = vector
                stats.hits += 1
                continue
            if problem is not None:
                corrupt.append((entry, problem))
                stats.corrupt += 1
            stats.misses += 1
            entries[i] = entry
            todo.append(i)
        if corrupt:
            listed = "; ".join(f"{path} ({problem})" for path, problem in corrupt[:5])
            more = f" and {len(corrupt) - 5} more" if len(corrupt) > 5 else ""
            _warn(f"Recomputing {len(corrupt)} corrupt embedding cache "
                  f"entr{'y' if len(corrupt) == 1 else 'ies'}: {listed}{more}", CacheWarning)

        # 2. Encode the rest, one batch at a time, storing each batch as soon as it is done.
        failures: list[tuple[int, object, str]] = []
        embed_dim = expected_dim
        store = True
        show = progress if progress is not None else len(todo) > 4 * batch_size
        with _progress(total=len(images), initial=len(images) - len(todo), unit="img",
                       desc="Encoding images (cached)", disable=not show) as bar:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                with warnings.catch_warnings():
                    # The model would number skipped images within this chunk; we renumber.
                    warnings.simplefilter("ignore", ImageSkipWarning)
                    result = model.encode_images([images[i] for i in chunk],
                                                 batch_size=batch_size, progress=False,
                                                 errors=errors)
                if errors == "skip":
                    features, ok, failed = result
                    positions = [chunk[j] for j in ok]
                    for j, source, reason in failed:
                        _warn(f"Skipped image {chunk[j]} ({_describe(source)}): {reason}",
                              ImageSkipWarning)
                        failures.append((chunk[j], source, reason))
                else:
                    features, positions = result, chunk
                features = np.asarray(torch.as_tensor(features).detach().cpu().float())  # [b, D]
                embed_dim = features.shape[1]
                for i, vector in zip(positions, features):
                    rows[i] = vector
                    if store and i in entries and _unchanged(images[i], entries[i]):
                        store = self._store(entries[i], vector, expected_dim, stats)
                bar.update(len(chunk))

        # 3. Put the rows back in input order.
        indices = sorted(rows)
        if indices:
            image_features = torch.from_numpy(np.stack([rows[i] for i in indices]))  # [n, D]
        else:
            image_features = torch.empty(0, embed_dim or 0)
        if errors == "skip":
            return EncodedImages(image_features, indices, failures)
        return image_features  # [n_images, embed_dim]

    def _store(self, entry: Path, vector: np.ndarray, expected_dim: int | None,
               stats: CacheStats) -> bool:
        """Write one entry atomically. Return False when the folder refuses writes."""
        problem = _problem(vector, expected_dim)
        if problem is not None:
            _warn(f"Not caching an invalid embedding for {entry.name}: {problem}", CacheWarning)
            return True  # this vector is bad, not the folder: keep storing the others
        try:
            _atomic_save(entry, vector)
        except OSError as err:
            # Read-only folder, full disk, a path under a file...: the embeddings are still
            # right, they just will not be there next time. Say so once for this call.
            _warn(f"Cannot write to the embedding cache {self.folder} ({err}); "
                  "embeddings are computed but not stored.", CacheWarning)
            return False
        stats.stored += 1
        return True


def _namespace(model) -> str:
    """16 hex digits naming the model + preprocessing (+ dtype) an entry was computed with."""
    parts = []
    for attr in ("fingerprint", "preprocess_fingerprint"):
        value = getattr(model, attr, None)
        if not isinstance(value, str) or not value:
            raise TypeError(f"EmbeddingCache needs a model with a non-empty str `{attr}` "
                            f"(a clipcourse Model has one); got {type(model).__name__} "
                            f"with {attr}={value!r}")
        parts.append(value)
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        parts.append(str(dtype))
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def _unchanged(image: str | os.PathLike, entry: Path) -> bool:
    """True when ``image`` still has the content hashed into ``entry``'s name.

    The file is hashed before it is encoded and read again by the model: if it was replaced in
    between, the embedding belongs to other bytes and must not be stored under the old hash.
    Hashing it again after encoding catches that (only misses pay, and a hash is much cheaper
    than the model).
    """
    try:
        same = _sha256_of(image, remember=False) == entry.stem
    except OSError:
        same = False
    if not same:
        _warn(f"{os.fspath(image)} changed while it was being encoded; its embedding was "
              "returned but not cached. Encode it again once the file is stable.", CacheWarning)
    return same


def _entry_path(namespace: Path, content_sha256: str) -> Path:
    return namespace / content_sha256[:2] / f"{content_sha256}.npy"


def _problem(vector: np.ndarray, expected_dim: int | None) -> str | None:
    """Why ``vector`` is not a valid embedding, or None when it is."""
    if not isinstance(vector, np.ndarray) or vector.dtype != np.float32:
        return f"dtype {getattr(vector, 'dtype', type(vector).__name__)}, expected float32"
    if vector.ndim != 1 or (expected_dim is not None and vector.shape[0] != expected_dim):
        return f"shape {tuple(vector.shape)}, expected ({expected_dim or 'embed_dim'},)"
    if not np.isfinite(vector).all():
        return "not finite"
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > _NORM_TOLERANCE:
        return f"norm {norm:.4g}, expected 1"
    return None


def _read_entry(entry: Path, expected_dim: int | None) -> tuple[np.ndarray | None, str | None]:
    """``(vector, None)`` for a good entry, ``(None, None)`` for none, ``(None, why)`` if bad."""
    try:
        vector = np.load(entry, allow_pickle=False)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None, None  # no entry (or none we may read): a plain miss, not a corrupt one
    except (OSError, ValueError, EOFError) as err:  # truncated, garbage, pickled...
        return None, f"unreadable: {err}"
    problem = _problem(vector, expected_dim)
    return (None, problem) if problem else (vector, None)


def _atomic_save(entry: Path, vector: np.ndarray) -> None:
    """Write ``vector`` to ``entry`` so that no reader ever sees a partial file.

    No lock is needed: the final name is the content hash, so two processes writing the same
    entry write the same embedding (up to float rounding), and ``os.replace`` is atomic:
    whichever rename lands last wins, and a reader opens either the old complete file or the
    new complete one. A lock would only make writers wait for each other to produce the same
    bytes. (``clear()`` racing a writer can at worst make that write fail with a warning.)
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=entry.parent, prefix=_TEMP_PREFIX, suffix=".npy",
                                      delete=False)
    try:
        with tmp:
            np.save(tmp, vector)
            tmp.flush()
            # fsync before the rename: otherwise, after a power cut, some file systems can
            # show the new name with no data in it. (We do not fsync the folder: losing the
            # rename itself only costs a recompute.)
            os.fsync(tmp.fileno())
            os.chmod(tmp.name, 0o644)  # NamedTemporaryFile makes 0o600 files
        os.replace(tmp.name, entry)
    except BaseException:
        # Anything, even KeyboardInterrupt, between creating and renaming: remove the temp
        # file, then let the error go on.
        Path(tmp.name).unlink(missing_ok=True)
        raise


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError as err:
        # Another process wrote a new entry meanwhile, or removed the folder first: both fine.
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            raise
