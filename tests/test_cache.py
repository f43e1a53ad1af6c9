"""The on-disk embedding cache (clipcourse/cache.py), with a fake model that counts its calls."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clipcourse.cache import CacheStats, CacheWarning, EmbeddingCache, default_cache_dir
from clipcourse.embed import ImageSkipWarning

EMBED_DIM = 16


def pixel_vector(image, fingerprint: str) -> np.ndarray:
    """A deterministic unit vector from an image's pixels (and the model's fingerprint)."""
    if not isinstance(image, Image.Image):
        with Image.open(image) as opened:
            image = opened.convert("RGB")
    seed = hashlib.sha256(fingerprint.encode() + image.tobytes()).digest()
    vector = np.random.default_rng(list(seed)).standard_normal(EMBED_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeModel:
    """Just what EmbeddingCache uses of a clipcourse Model; counts what it encodes."""

    embed_dim = EMBED_DIM

    def __init__(self, fingerprint="fake:0123456789abcdef", preprocess_fingerprint="fake:8px"):
        self.fingerprint = fingerprint
        self.preprocess_fingerprint = preprocess_fingerprint
        self.calls = 0  # calls to encode_images
        self.encoded = 0  # images encoded
        self.largest_call = 0  # most images passed in one call

    def encode_images(self, images, batch_size=32, progress=None, errors="raise"):
        self.calls += 1
        self.largest_call = max(self.largest_call, len(images))
        rows, indices, failures = [], [], []
        for i, image in enumerate(images):
            try:
                rows.append(pixel_vector(image, self.fingerprint))
            except OSError as err:  # missing file, or PIL.UnidentifiedImageError
                if errors == "raise":
                    raise
                failures.append((i, image, str(err)))
                continue
            indices.append(i)
        self.encoded += len(rows)
        features = torch.from_numpy(np.stack(rows)) if rows else torch.empty(0, EMBED_DIM)
        return (features, indices, failures) if errors == "skip" else features


def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def expected(model: FakeModel, paths) -> torch.Tensor:
    return torch.from_numpy(np.stack([pixel_vector(p, model.fingerprint) for p in paths]))


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".tmp-")]


@pytest.fixture
def images(tmp_path):
    return make_images(tmp_path / "images", 12)


@pytest.fixture
def cache(tmp_path):
    return EmbeddingCache(tmp_path / "cache")


def test_second_pass_calls_the_model_for_no_image(images, cache):
    model = FakeModel()
    first = cache.encode_images(model, images, batch_size=5)
    assert (model.encoded, model.calls, model.largest_call) == (12, 3, 5)  # misses in batches
    assert cache.stats == CacheStats(hits=0, misses=12, stored=12)
    assert first.dtype == torch.float32 and first.shape == (12, EMBED_DIM)
    assert torch.allclose(first, expected(model, images))

    model.calls = model.encoded = 0
    second = cache.encode_images(model, [str(p) for p in images], batch_size=5)
    assert (model.calls, model.encoded) == (0, 0)
    assert str(cache.stats) == "12 hits, 0 misses"
    assert torch.equal(first, second)
    assert cache.total_stats == CacheStats(hits=12, misses=12, stored=12)


def test_a_renamed_file_hits_and_an_edited_file_misses(images, cache):
    model = FakeModel()
    cache.encode_images(model, images)
    renamed = images[0].with_name("renamed.png")
    images[0].rename(renamed)
    Image.new("RGB", (8, 8), "red").save(images[1])  # edit in place: same path, new content

    result = cache.encode_images(model, [renamed, images[1]])
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    assert torch.allclose(result, expected(model, [renamed, images[1]]))
    assert cache.entry_path(model, renamed).exists()


@pytest.mark.parametrize("attr", ["fingerprint", "preprocess_fingerprint"])
def test_another_model_or_preprocessing_misses(images, cache, attr):
    cache.encode_images(FakeModel(), images)
    other = FakeModel(**{attr: "something else"})
    result = cache.encode_images(other, images)
    assert (other.encoded, cache.stats.hits) == (12, 0)
    assert torch.allclose(result, expected(other, images))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


CORRUPTIONS = {
    "truncated": _truncate,
    "empty": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(os.urandom(200)),
    "2-d": lambda path: np.save(path, np.eye(EMBED_DIM, dtype=np.float32)[:2]),
    "wrong length": lambda path: np.save(path, np.eye(EMBED_DIM + 1, dtype=np.float32)[0]),
    "float64": lambda path: np.save(path, np.eye(EMBED_DIM)[0]),
    "nan": lambda path: np.save(path, np.full(EMBED_DIM, np.nan, np.float32)),
    "not unit norm": lambda path: np.save(path, np.ones(EMBED_DIM, np.float32)),
    "pickled object": lambda path: np.save(path, np.array([{"a": 1}], dtype=object)),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_entry_is_reported_recomputed_and_rewritten(images, cache, corrupt):
    model = FakeModel()
    cache.encode_images(model, images)
    entry = cache.entry_path(model, images[3])
    corrupt(entry)

    model.encoded = 0
    with pytest.warns(CacheWarning, match=str(entry.name)):
        result = cache.encode_images(model, images)
    assert model.encoded == 1
    assert (cache.stats.hits, cache.stats.misses, cache.stats.corrupt) == (11, 1, 1)
    assert torch.allclose(result, expected(model, images))
    assert np.array_equal(np.load(entry), pixel_vector(images[3], model.fingerprint))


def test_no_temporary_files_are_left_behind(images, cache):
    cache.encode_images(FakeModel(), images)
    assert temp_files(cache.folder) == []
    assert len(list(cache.folder.rglob("*.npy"))) == 12


def test_a_crash_while_writing_leaves_no_entry(images, cache, monkeypatch):
    model = FakeModel()

    def crash(src, dst):
        raise KeyboardInterrupt("simulated crash just before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.encode_images(model, images[:1])
    assert not cache.entry_path(model, images[0]).exists()
    assert temp_files(cache.folder) == []


def test_a_failed_rename_warns_and_still_returns_embeddings(images, cache, monkeypatch):
    model = FakeModel()

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.warns(CacheWarning, match="No space left"):
        result = cache.encode_images(model, images, batch_size=4)
    assert torch.allclose(result, expected(model, images))
    assert cache.stats.stored == 0
    assert not cache.entry_path(model, images[0]).exists()
    assert temp_files(cache.folder) == []


def test_a_folder_that_cannot_be_created_does_not_stop_encoding(images, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    cache = EmbeddingCache(tmp_path / "a_file" / "cache")  # fails even for root
    model = FakeModel()
    with pytest.warns(CacheWarning, match="Cannot write") as caught:
        result = cache.encode_images(model, images)
    assert len([w for w in caught if issubclass(w.category, CacheWarning)]) == 1
    assert torch.allclose(result, expected(model, images))
    assert cache.stats == CacheStats(misses=12)


def test_a_read_only_folder_still_serves_hits(images, cache, monkeypatch):
    """Simulated: tests often run as root, for whom chmod does not block writes."""
    model = FakeModel()
    cache.encode_images(model, images[:6])

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.warns(CacheWarning, match="Permission denied"):
        result = cache.encode_images(model, images)
    assert torch.allclose(result, expected(model, images))
    assert cache.stats == CacheStats(hits=6, misses=6)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores chmod 0o555, so the folder would stay writable "
                           "(test_a_read_only_folder_still_serves_hits simulates it instead)")
@pytest.mark.skipif(sys.platform == "win32", reason="chmod does not make folders read-only")
def test_a_chmod_read_only_folder_does_not_crash(images, cache):
    model = FakeModel()
    cache.encode_images(model, images[:6])
    folders = [p for p in cache.folder.rglob("*") if p.is_dir()] + [cache.folder]
    for folder in folders:
        folder.chmod(0o555)
    try:
        with pytest.warns(CacheWarning, match="Cannot write"):
            result = cache.encode_images(model, images)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert torch.allclose(result, expected(model, images))
    assert cache.stats == CacheStats(hits=6, misses=6)


def test_in_memory_images_bypass_the_cache(images, cache):
    model = FakeModel()
    with Image.open(images[0]) as opened:
        pil = opened.convert("RGB")
    for _ in range(2):
        result = cache.encode_images(model, [pil, images[1]])
    assert cache.stats == CacheStats(hits=1, uncached=1)
    assert model.encoded == 3  # the PIL image twice, the file once
    assert torch.allclose(result, expected(model, images[:2]))
    assert len(list(cache.folder.rglob("*.npy"))) == 1


def test_errors_skip_maps_positions_across_batches_and_caches_no_failure(images, cache):
    broken = images[0].with_name("broken.png")
    broken.write_bytes(b"not a png")
    paths = images[:5] + [broken, images[0].with_name("missing.png")] + images[5:]
    model = FakeModel()
    for _ in range(2):
        with pytest.warns(ImageSkipWarning) as caught:
            result = cache.encode_images(model, paths, batch_size=3, errors="skip")
        assert [str(w.message).split(" (")[0] for w in caught] == [
            "Skipped image 5", "Skipped image 6"]  # numbered in the input, not in a batch
        features, indices, failures = result
        assert indices == [0, 1, 2, 3, 4] + list(range(7, 14))
        assert [(i, Path(source).name) for i, source, _ in failures] == [
            (5, "broken.png"), (6, "missing.png")]
        assert torch.allclose(features, expected(model, images))
    assert cache.stats == CacheStats(hits=12, misses=1, uncached=1)  # broken: miss, not stored
    assert len(list(cache.folder.rglob("*.npy"))) == 12


def test_errors_raise_lets_the_model_report_a_missing_file(images, cache):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        cache.encode_images(FakeModel(), [images[0], images[0].with_name("missing.png")])


def test_arguments_are_checked(images, cache):
    with pytest.raises(ValueError, match="errors"):
        cache.encode_images(FakeModel(), images, errors="ignore")
    with pytest.raises(ValueError, match="batch_size"):
        cache.encode_images(FakeModel(), images, batch_size=0)

    class NoFingerprint:
        preprocess_fingerprint = "x"

    with pytest.raises(TypeError, match="fingerprint"):
        cache.encode_images(NoFingerprint(), images)


def test_a_single_path_counts_as_one_image(images, cache):
    assert cache.encode_images(FakeModel(), str(images[0])).shape == (1, EMBED_DIM)


def test_clear_removes_only_cache_entries(images, cache):
    model, other = FakeModel(), FakeModel("other:1")
    cache.encode_images(model, images[:4])
    cache.encode_images(other, images[:2])
    (cache.folder / "notes.txt").write_text("keep me")
    assert cache.clear(other) == 2
    assert cache.entry_path(model, images[0]).exists()
    assert cache.clear() == 4
    assert [p.name for p in cache.folder.iterdir()] == ["notes.txt"]
    assert EmbeddingCache(cache.folder / "never_created").clear() == 0


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CLIPCOURSE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "clipcourse" / "embeddings"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert EmbeddingCache().folder == tmp_path / "xdg" / "clipcourse" / "embeddings"
    monkeypatch.setenv("CLIPCOURSE_CACHE_DIR", str(tmp_path / "mine"))
    assert EmbeddingCache().folder == tmp_path / "mine"


# Run by two processes at once over overlapping images. After a start barrier both go through
# the images in the same order, one call per image, so each often reads an entry while the
# other is writing it. Every round uses a fresh fingerprint, i.e. an empty cache. A warning (a
# half-written entry read as corrupt, a failed write) or a wrong vector fails the child.
_CHILD = r"""
import sys, time, warnings
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from test_cache import FakeModel, pixel_vector
from clipcourse.cache import CacheWarning, EmbeddingCache
warnings.simplefilter("error", CacheWarning)
folder, ready, me, rounds, *paths = sys.argv[2:]
ready, rounds = Path(ready), int(rounds)
(ready / me).touch()
deadline = time.monotonic() + 60
while len(list(ready.iterdir())) < 2:
    if time.monotonic() > deadline:
        sys.exit("the other process never started")
    time.sleep(0.001)
cache = EmbeddingCache(folder)
for round in range(rounds):
    model = FakeModel(f"fake:round{round}")
    for path in paths:
        row = cache.encode_images(model, [path])[0].numpy()
        assert (row == pixel_vector(path, model.fingerprint)).all(), path
"""
ROUNDS = 4


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    paths = [str(p) for p in make_images(tmp_path / "images", 40, seed=1)]
    ready = tmp_path / "ready"
    ready.mkdir()
    folder = tmp_path / "cache"
    tests_dir = str(Path(__file__).parent)
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, tests_dir, str(folder), str(ready), name,
                          str(ROUNDS), *chosen], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for name, chosen in (("a", paths[:30]), ("b", paths[10:]))
    ]
    try:
        for child in children:
            output, _ = child.communicate(timeout=120)
            assert child.returncode == 0, output
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()

    cache = EmbeddingCache(folder)
    for round in range(ROUNDS):
        model = FakeModel(f"fake:round{round}")
        for path in paths:
            stored = np.load(cache.entry_path(model, path), allow_pickle=False)
            assert np.array_equal(stored, pixel_vector(path, model.fingerprint)), path
    assert len(list(folder.rglob("*.npy"))) == ROUNDS * 40
    assert temp_files(folder) == []
