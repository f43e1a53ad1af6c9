"""Downloads against a loopback HTTP server: no test here touches the internet."""

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clipcourse import weights
from clipcourse._clip import clip

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
NAME = "Fake/32"
FILENAME = "Fake-32.pt"


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "good"  # good | cut | corrupt
    hits = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).hits.append(self.path)
        if not self.path.endswith(f"/{SHA}/{FILENAME}"):
            self.send_error(404)
            return
        body = PAYLOAD if self.mode != "corrupt" else PAYLOAD[:-1] + b"x"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.mode = "good"
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A fake model entry, an empty cache folder, and no shared folder."""
    monkeypatch.setitem(clip.clip._MODELS, NAME, f"https://unused.invalid/{SHA}/{FILENAME}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CLIPCOURSE_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("CLIPCOURSE_OFFLINE", raising=False)
    monkeypatch.delenv("CLIPCOURSE_BASE_URL", raising=False)
    return tmp_path


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_weights_dirs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPCOURSE_WEIGHTS_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.weights_dirs() == [tmp_path / "shared", tmp_path / "xdg" / "clip"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert weights.weights_dirs()[-1] == Path("~/.cache/clip").expanduser()


def test_download_verifies_and_lands_atomically(server, dirs):
    _, url = server
    path = weights.download(NAME, base_url=url, progress=False)
    assert path == dirs / "cache" / "clip" / FILENAME
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(path.parent) == []
    assert weights.find_weights(NAME) == path
    # a second call finds the file and does not touch the network
    hits = len(_Handler.hits)
    assert weights.download(NAME, base_url=url, progress=False) == path
    assert len(_Handler.hits) == hits


def test_base_url_from_environment(server, dirs, monkeypatch):
    _, url = server
    monkeypatch.setenv("CLIPCOURSE_BASE_URL", url)
    assert weights.download(NAME, progress=False).read_bytes() == PAYLOAD


@pytest.mark.parametrize("mode, message", [("corrupt", "SHA256 checksum mismatch"),
                                           ("cut", "failed|cut off")])
def test_bad_transfer_leaves_nothing(server, dirs, mode, message):
    _, url = server
    _Handler.mode = mode
    with pytest.raises(weights.WeightsError, match=message) as info:
        weights.download(NAME, base_url=url, progress=False)
    text = str(info.value)
    assert "Nothing was written" in text or "nothing was written" in text
    assert "python -m clipcourse download Fake/32" in text  # the fix-it command
    folder = dirs / "cache" / "clip"
    assert not (folder / FILENAME).exists()
    assert _leftovers(folder) == []
    # and the next, good, download works
    _Handler.mode = "good"
    assert weights.download(NAME, base_url=url, progress=False).read_bytes() == PAYLOAD


def test_corrupt_file_at_final_path_is_replaced(server, dirs):
    _, url = server
    folder = dirs / "cache" / "clip"
    folder.mkdir(parents=True)
    (folder / FILENAME).write_bytes(b"half a file")
    assert weights.find_weights(NAME) is None  # a bad file is not "found"
    assert weights.download(NAME, base_url=url, progress=False).read_bytes() == PAYLOAD


def test_offline_means_no_network(server, dirs, monkeypatch):
    _, url = server
    monkeypatch.setenv("CLIPCOURSE_OFFLINE", "1")
    with pytest.raises(weights.WeightsError) as info:
        weights.download(NAME, base_url=url, progress=False)
    assert _Handler.hits == []
    assert "CLIPCOURSE_OFFLINE=1" in str(info.value)
    assert str(dirs / "cache" / "clip") in str(info.value)  # names the folders searched


def test_unreachable_server_message(dirs):
    with pytest.raises(weights.WeightsError) as info:
        weights.download(NAME, base_url="http://127.0.0.1:9", progress=False, timeout=5)
    text = str(info.value)
    assert "Folders searched" in text and "python -m clipcourse download" in text


def test_read_only_shared_folder_is_used_and_left_untouched(server, dirs, monkeypatch):
    _, url = server
    shared = dirs / "shared"
    shared.mkdir()
    (shared / FILENAME).write_bytes(PAYLOAD)
    before = sorted(os.listdir(shared))
    monkeypatch.setenv("CLIPCOURSE_WEIGHTS_DIR", str(shared))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == shared
                        else real_access(p, mode))
    assert weights.download(NAME, base_url=url, progress=False) == shared / FILENAME
    assert _Handler.hits == []
    assert sorted(os.listdir(shared)) == before  # no lock, no temp file


def test_read_only_shared_folder_without_weights_downloads_to_cache(server, dirs, monkeypatch):
    _, url = server
    shared = dirs / "shared"
    shared.mkdir()
    monkeypatch.setenv("CLIPCOURSE_WEIGHTS_DIR", str(shared))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == shared
                        else real_access(p, mode))
    path = weights.download(NAME, base_url=url, progress=False)
    assert path == dirs / "cache" / "clip" / FILENAME
    assert os.listdir(shared) == []


def test_no_writable_folder(dirs, monkeypatch):
    blocker = dirs / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # .../a-file/clip cannot be created
    with pytest.raises(weights.WeightsError, match="writable"):
        weights.download(NAME, base_url="http://127.0.0.1:9", progress=False)


_CHILD = """
import sys
from clipcourse._clip import clip
from clipcourse import weights
clip.clip._MODELS[{name!r}] = "https://unused.invalid/{sha}/{filename}"
print(weights.download({name!r}, base_url=sys.argv[1], progress=False))
"""


def test_concurrent_downloaders_end_with_one_good_file(server, dirs):
    _, url = server
    code = _CHILD.format(name=NAME, sha=SHA, filename=FILENAME)
    env = {**os.environ, "XDG_CACHE_HOME": str(dirs / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code, url], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    folder = dirs / "cache" / "clip"
    assert (folder / FILENAME).read_bytes() == PAYLOAD
    assert _leftovers(folder) == []
    assert {out.strip() for out, _ in outputs} == {str(folder / FILENAME)}
    assert len(_Handler.hits) == 1  # the lock made the others wait and reuse the file
