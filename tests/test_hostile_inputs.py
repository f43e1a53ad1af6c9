"""Hostile inputs from issue 13: each gets a clear error (naming the file, template, argument or
device and saying what to do) or the right behaviour, and never an unbounded allocation."""

import hashlib
import http.server
import io
import os
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import clipcourse as cc
from clipcourse import _report, cli, images, models, templates, weights
from clipcourse._clip import clip
from clipcourse.cache import CacheWarning, EmbeddingCache
from clipcourse.embed import ImageSkipWarning
from clipcourse.images import ImageLoadError


@pytest.fixture(scope="module")
def model():
    return cc.load_model("tiny-shapes", device="cpu")


def _png(path: Path, size=(32, 32), colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# -- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(300_000, 1), (1, 300_000), (5000, 3)])
def test_a_tiny_very_long_image_is_refused_before_the_resize(model, tmp_path, size):
    path = tmp_path / "long.png"
    Image.new("L", size, 128).save(path, optimize=True)
    assert path.stat().st_size < 5000  # a few hundred bytes: the pixel-count check passes
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match=r"long\.png.*resize.*Crop it") as err:
        model.encode_images([path])
    assert time.perf_counter() - start < 5  # nothing was blown up (6.5 GB and 40 s before)
    assert "would make it" in str(err.value) and "B)" in str(err.value)  # the size it refused
    with pytest.warns(ImageSkipWarning, match="long.png"):
        result = model.encode_images([path, _png(tmp_path / "ok.png")], errors="skip")
    assert result.indices == [1] and "resize" in result.failures[0][2]


def test_an_elongated_but_sane_image_still_encodes(model):
    panorama = Image.new("RGB", (640, 20), (0, 0, 255))  # 32:1
    assert model.encode_images(panorama).shape == (1, model.embed_dim)


def test_a_0x0_image_is_an_image_load_error_and_is_skipped(model):
    empty = Image.new("RGB", (0, 0))
    with pytest.raises(ImageLoadError, match="0x0 pixels"):
        cc.load_image(empty)
    with pytest.warns(ImageSkipWarning, match="0x0"):
        result = model.encode_images([empty, Image.new("RGB", (8, 8))], errors="skip")
    assert result.indices == [1] and result.features.shape == (1, model.embed_dim)


def _deny_open(monkeypatch, denied: Path):
    """Make `denied` unreadable. Tests run as root in the course's containers, where chmod
    000 does not stop a read, so open() itself is made to refuse."""
    real_open = open

    def fake_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(denied):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(images, "open", fake_open, raising=False)


def test_an_unreadable_file_is_skipped_not_fatal(model, tmp_path, monkeypatch):
    good = [_png(tmp_path / f"{i}.png") for i in range(3)]
    denied = _png(tmp_path / "secret.png")
    if os.geteuid() == 0:
        _deny_open(monkeypatch, denied)
    else:
        denied.chmod(0)
    with pytest.raises(ImageLoadError, match=r"secret\.png.*permission denied.*chmod"):
        cc.load_image(denied)
    with pytest.warns(ImageSkipWarning, match="secret.png"):
        result = model.encode_images([good[0], denied, *good[1:]], errors="skip")
    assert result.indices == [0, 2, 3]
    assert result.failures[0][0] == 1 and "permission denied" in result.failures[0][2]


def test_a_symlink_loop_and_a_dangling_link_are_skipped(model, tmp_path):
    folder = tmp_path / "photos"
    _png(folder / "a.png")
    _png(folder / "b.png")
    os.symlink(folder / "loop.png", folder / "loop.png")  # points at itself: ELOOP
    os.symlink(folder / "gone.png", folder / "dangling.png")
    with pytest.raises(ImageLoadError, match=r"loop\.png.*symbolic link"):
        cc.load_image(folder / "loop.png")
    with pytest.raises(ImageLoadError, match=r"dangling\.png.*does not exist"):
        cc.load_image(folder / "dangling.png")
    with pytest.warns(ImageSkipWarning):
        index = cc.ImageIndex(model, folder)
    assert sorted(p.name for p in index.paths) == ["a.png", "b.png"]
    assert sorted(p.name for p, _ in index.skipped) == ["dangling.png", "loop.png"]


def test_one_numpy_image_is_one_image(model):
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    assert model.encode_images(rgb).shape == (1, model.embed_dim)
    assert model.encode_images(np.zeros((64, 64))).shape == (1, model.embed_dim)  # grey
    assert model.encode_images(np.zeros((5, 64, 64, 3), np.uint8)).shape == (5, model.embed_dim)
    result = cc.zero_shot(model, rgb, ["red circle", "blue square"])
    assert result.probs.shape == (1, 2)


def test_image_bytes_alone_are_one_image(model, tmp_path):
    data = _png(tmp_path / "x.png").read_bytes()
    for source in (data, bytearray(data), memoryview(data)):
        assert model.encode_images(source).shape == (1, model.embed_dim)
        assert cc.load_image(source).size == (32, 32)
    with pytest.raises(TypeError, match="ImageIndex indexes image files"):
        cc.ImageIndex(model, data)
    with pytest.raises(TypeError, match="not a tensor"):
        model.encode_images(torch.zeros(3, 64, 64))


@pytest.mark.parametrize("path, message", [
    ("", "the path is empty"),
    ("cat\0.png", "NUL character"),
])
def test_odd_paths_say_what_is_wrong(path, message):
    with pytest.raises(ImageLoadError, match=message):
        cc.load_image(path)


# -- templates, labels, batch sizes ---------------------------------------------------------------
@pytest.mark.parametrize("template, message", [
    ("a {} and a {}", "has 2 fields; a template takes exactly one"),
    ("{} {x}", r"has 2 fields"),
    ("a photo of {x}", r"has the field \{x\}; only '\{\}' is filled"),
    ("{} {", "stray brace"),
    ("} a {}", "stray brace"),
    ("a photo", r"has no '\{\}'"),
])
def test_bad_templates_are_named(model, template, message):
    for call in (lambda: templates.fill([template], "cat"),
                 lambda: cc.build_classifier(model, ["cat", "dog"], ["a photo of a {}.", template]),
                 lambda: cc.zero_shot(model, Image.new("RGB", (8, 8)), ["cat"], [template])):
        with pytest.raises(ValueError, match=message) as err:
            call()
        assert repr(template) in str(err.value)


def test_literal_braces_and_positional_zero_are_fine():
    assert templates.fill(["{{a}} {}", "a {0}."], "cat") == ["{a} cat", "a cat."]


def test_a_bare_string_is_one_template_not_letters(model):
    assert templates.fill("a photo of a {}.", "cat") == ["a photo of a cat."]
    one = cc.build_classifier(model, ["cat", "dog"], "a photo of a {}.")
    assert torch.allclose(one, cc.build_classifier(model, ["cat", "dog"], ["a photo of a {}."]))
    with pytest.raises(TypeError, match="list of strings"):
        templates.fill(3, "cat")
    with pytest.raises(ValueError, match="templates is empty"):
        cc.build_classifier(model, ["cat"], [])


def test_classifier_and_labels_must_agree(model):
    classifier = cc.build_classifier(model, ["a", "b", "c"])
    image = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match=r"shape \(3, 64\), but 2 labels.*build_classifier"):
        cc.zero_shot(model, [image], ["a", "b"], classifier=classifier)
    with pytest.raises(ValueError, match="another model"):
        cc.zero_shot(model, [image], ["a", "b"], classifier=torch.zeros(2, 512))
    assert cc.zero_shot(model, [image], ["a", "b", "c"], classifier=classifier).probs.shape == (1, 3)
    with pytest.raises(TypeError, match=r"not a single string: write \['cat'\]"):
        cc.zero_shot(model, [image], "cat")


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_batch_sizes_are_checked(model, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
        model.encode_texts(["a cat"], batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        model.encode_images([Image.new("RGB", (8, 8))], batch_size=batch_size)


# -- models -----------------------------------------------------------------------------------
@pytest.mark.parametrize("device, message", [
    ("cuda", "no CUDA GPU"), ("cuda:0", "no CUDA GPU"), ("mps", "Metal"), ("gpu", "'gpu' is not a device"),
])
def test_a_missing_device_is_named(device, message):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has Metal")
    with pytest.raises(ValueError, match=message) as err:
        cc.load_model("tiny-shapes", device=device)
    assert "device=" in str(err.value) and "cpu" in str(err.value)


def test_a_state_dict_missing_a_key_names_the_file(tmp_path):
    state_dict = torch.load(models.TINY_SHAPES_PATH, map_location="cpu", weights_only=True)
    del state_dict["ln_final.weight"]
    path = tmp_path / "my-clip.pt"
    torch.save(state_dict, path)
    with pytest.raises(ValueError, match=r"my-clip\.pt is missing the weight 'ln_final\.weight'"):
        cc.load_model(path)


@pytest.mark.parametrize("name, error, message", [
    ("", ValueError, "the model name is empty"),
    ("   ", ValueError, "the model name is empty"),
    ("ViT\0B/32", ValueError, "NUL character"),
    (b"ViT-B/32", TypeError, "not bytes"),
    (memoryview(b"\x80\x02}q"), TypeError, "not memoryview.*save them first"),
    (3, TypeError, "not int"),
])
def test_load_model_names_the_bad_argument(name, error, message):
    with pytest.raises(error, match=message):
        cc.load_model(name)


# -- weights ----------------------------------------------------------------------------------
@pytest.fixture
def weights_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CLIPCOURSE_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("CLIPCOURSE_MODEL", raising=False)
    monkeypatch.delenv("CLIPCOURSE_BASE_URL", raising=False)
    monkeypatch.setenv("CLIPCOURSE_OFFLINE", "1")
    return tmp_path


def test_corrupt_weights_are_reported_as_a_checksum_failure(weights_env, monkeypatch):
    shared = weights_env / "shared"
    shared.mkdir()
    (shared / "ViT-B-32.pt").write_bytes(b"half a download")
    monkeypatch.setenv("CLIPCOURSE_WEIGHTS_DIR", str(shared))
    with pytest.warns(cc.FallbackNotice, match=r"ViT-B-32\.pt failed its SHA-256 checksum") as w:
        cc.load_model()
    assert "Delete it" in str(w[0].message)
    assert Path(w[0].filename) == Path(__file__)  # the notice points at the learner's call
    out = io.StringIO()
    assert cli.doctor(out) == 1
    assert "PROBLEM" in out.getvalue() and "failed its SHA-256 checksum" in out.getvalue()
    assert "All good" not in out.getvalue()


def test_weights_dir_pointing_at_a_file_is_reported(weights_env, monkeypatch):
    afile = weights_env / "ViT-B-32.pt"
    afile.write_bytes(b"x")
    monkeypatch.setenv("CLIPCOURSE_WEIGHTS_DIR", str(afile))
    problems = weights.weights_problems("ViT-B/32")
    assert any("is a file, not a folder" in p and str(weights_env) in p for p in problems)
    out = io.StringIO()
    assert cli.doctor(out) == 1 and "is a file, not a folder" in out.getvalue()
    with pytest.raises(weights.WeightsError, match="is a file, not a folder"):
        weights.download("ViT-B/32")  # offline: the message says why nothing was found


PAYLOAD = os.urandom(200_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "trickle"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if self.mode == "junk":
            self.wfile.write(os.urandom(len(PAYLOAD)))
            return
        try:
            for i in range(200):  # 1 byte every 20 ms, for at most 4 s
                self.wfile.write(PAYLOAD[i:i + 1])
                self.wfile.flush()
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server(weights_env, monkeypatch):
    monkeypatch.delenv("CLIPCOURSE_OFFLINE")
    monkeypatch.setitem(clip.clip._MODELS, "Fake/32", f"https://unused.invalid/{SHA}/Fake-32.pt")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_trickling_server_times_out_clearly(server, weights_env):
    _Handler.mode = "trickle"
    root = weights_env / "w"
    start = time.perf_counter()
    with pytest.raises(weights.WeightsError, match=r"stalled: only \d+ bytes arrived") as err:
        weights.download("Fake/32", root=root, base_url=server, timeout=0.5, progress=False)
    assert time.perf_counter() - start < 3
    assert "timeout" in str(err.value) and "Fake-32.pt" in str(err.value)
    assert not list(root.glob("*.part")) and not (root / "Fake-32.pt").exists()


def test_stale_partial_downloads_are_cleaned(server, weights_env, capsys):
    _Handler.mode = "junk"
    root = weights_env / "w"
    root.mkdir()
    for i in range(2):  # what two killed downloads leave
        (root / f".Fake-32.pt.killed{i}.part").write_bytes(b"\0" * 1000)
    other = root / ".Other.pt.x.part"  # another model's: not ours to touch
    other.write_bytes(b"")
    with pytest.raises(weights.WeightsError, match="checksum mismatch"):
        weights.download("Fake/32", root=root, base_url=server, progress=True)
    assert not list(root.glob(".Fake-32.pt.*.part"))
    assert other.exists()
    assert "Removed 2 partial downloads" in capsys.readouterr().out


# -- the embedding cache follows the weights -------------------------------------------------------
def test_training_in_place_changes_the_fingerprint_and_the_cache_misses(tmp_path):
    model = cc.load_model("tiny-shapes", device="cpu")
    paths = [_png(tmp_path / "img" / f"{i}.png", colour=(40 * i, 0, 0)) for i in range(5)]
    cache = EmbeddingCache(tmp_path / "cache")
    before = cache.encode_images(model, paths)
    text_before = model.encode_texts(["a red circle"])
    fingerprint = model.fingerprint
    optimizer = torch.optim.AdamW(model.clip.parameters(), lr=1e-2, fused=True)  # as train_clip
    model.clip.train()
    loss = (model.clip.encode_image(torch.randn(2, 3, 64, 64)).pow(2).mean()
            + model.clip.encode_text(clip.tokenize(["a blue square"])).pow(2).mean())
    loss.backward()
    optimizer.step()
    model.clip.eval()
    assert model.fingerprint != fingerprint
    after = cache.encode_images(model, paths)
    assert (cache.stats.hits, cache.stats.misses) == (0, 5)
    assert torch.allclose(after, model.encode_images(paths), atol=1e-5)  # fresh, not stale
    assert not torch.allclose(before, after, atol=1e-3)
    assert not torch.allclose(text_before, model.encode_texts(["a red circle"]), atol=1e-3)
    cache.encode_images(model, paths)
    assert cache.stats.hits == 5  # and the new weights cache as usual


def test_a_file_replaced_while_encoding_is_not_stored_under_its_old_hash(model, tmp_path):
    path = _png(tmp_path / "photo.png", colour=(255, 0, 0))
    old_hash = hashlib.sha256(path.read_bytes()).hexdigest()

    class Swapping:
        """The model, but the file is replaced after hashing, just before decoding."""

        def __getattr__(self, name):
            return getattr(model, name)

        def encode_images(self, images, **kwargs):
            _png(path, colour=(0, 0, 255))
            return model.encode_images(images, **kwargs)

    cache = EmbeddingCache(tmp_path / "cache")
    with pytest.warns(CacheWarning, match=r"photo\.png changed while it was being encoded") as w:
        features = cache.encode_images(Swapping(), [path])
    assert Path(w[0].filename) == Path(__file__)
    assert torch.allclose(features, model.encode_images([path]), atol=1e-5)  # the new content
    assert not list((tmp_path / "cache").rglob(f"{old_hash}.npy"))
    assert cache.stats.stored == 0


# -- where warnings point, what progress leaves ---------------------------------------------------
def test_skip_and_cache_warnings_point_at_the_callers_code(model, tmp_path):
    folder = tmp_path / "imgs"
    _png(folder / "a.png")
    (folder / "broken.png").write_bytes(b"not a png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cc.ImageIndex(model, folder, cache=EmbeddingCache(tmp_path / "c"))
        model.encode_images([folder / "broken.png"], errors="skip")
        entry = EmbeddingCache(tmp_path / "c").entry_path(model, folder / "a.png")
        entry.write_bytes(b"garbage")
        EmbeddingCache(tmp_path / "c").encode_images(model, [folder / "a.png"])
    kinds = {w.category for w in caught}
    assert {ImageSkipWarning, CacheWarning} <= kinds
    for w in caught:
        if w.category in (ImageSkipWarning, CacheWarning):
            assert Path(w.filename) == Path(__file__), (w.category, w.filename)


def test_progress_in_a_notebook_saves_its_final_state(monkeypatch):
    """In a kernel the bar is a text line updated in place, so a saved notebook keeps the end."""
    shown = []

    class Handle:
        def update(self, data, raw):
            shown.append(data["text/plain"])

    import IPython.display

    monkeypatch.setattr(_report, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw, display_id: shown.append(data["text/plain"]) or Handle())
    with _report.progress(total=240, desc="Encoding images", unit="img") as bar:
        for _ in range(24):
            bar.update(10)
    assert "0/240" in shown[0]
    assert "100%" in shown[-1] and "240/240" in shown[-1] and shown[-1].startswith("Encoding")
