"""Where CLIP weights live, and how they get there without ever leaving a broken file.

OpenAI publishes each checkpoint at a URL whose second-to-last path segment is the file's
SHA-256, for example ``.../clip/models/<sha256>/ViT-B-32.pt``. We look for the file in

1. ``$CLIPCOURSE_WEIGHTS_DIR`` (may be a read-only folder shared by a whole JupyterHub), then
2. ``$XDG_CACHE_HOME/clip`` or ``~/.cache/clip`` (the folder ``clip.load`` itself uses),

and download into the first writable one. A download streams into a temporary file in the
target folder, is checked against the SHA-256, and only then is renamed onto the final path
with ``os.replace`` (atomic on POSIX and Windows). A ``filelock.FileLock`` makes two kernels that
download at once end with one good file. ``CLIPCOURSE_OFFLINE=1`` forbids any network access.

Introduced in ``00_setup_and_first_look.ipynb``; the instructor guide explains the folders.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock

from ._clip import clip
from ._report import progress as _progress

__all__ = ["WeightsError", "weights_dirs", "find_weights", "download", "is_offline",
           "weights_problems"]

#: Where OpenAI serves the weights. ``$CLIPCOURSE_BASE_URL`` overrides it (tests use loopback).
DEFAULT_BASE_URL = "https://openaipublic.azureedge.net/clip/models"

_CHUNK = 1 << 20  # 1 MiB
_MIN_PROGRESS = 64 << 10  # a download moving less than 64 KiB per `timeout` seconds has stalled


class WeightsError(RuntimeError):
    """Weights could not be found, downloaded or verified. The message says what to do."""


class _Stalled(Exception):
    """(bytes in the last window, its seconds): the transfer made too little progress."""


def is_offline() -> bool:
    """True when ``$CLIPCOURSE_OFFLINE`` is set to a true value (1, true, yes)."""
    return os.environ.get("CLIPCOURSE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def weights_dirs() -> list[Path]:
    """The folders searched for weights, in order.

    ``$CLIPCOURSE_WEIGHTS_DIR`` first when set, then ``$XDG_CACHE_HOME/clip`` (default
    ``~/.cache/clip``, the folder ``clip.load`` uses).

    Introduced in ``00_setup_and_first_look.ipynb``.
    """
    dirs = []
    shared = os.environ.get("CLIPCOURSE_WEIGHTS_DIR")
    if shared:
        dirs.append(Path(shared).expanduser())
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    dirs.append(Path(cache_home).expanduser() / "clip")
    return list(dict.fromkeys(dirs))  # drop a duplicate, keep the order


def _url_parts(name: str) -> tuple[str, str]:
    """``(sha256, filename)`` of an OpenAI model name such as ``"ViT-B/32"``."""
    url = clip.clip._MODELS[name]
    sha256, filename = url.split("/")[-2:]
    return sha256, filename


# SHA-256 of files already hashed in this process, keyed by what changes when a file does:
# loading ViT-B/32 a second time then costs a stat, not a 338 MB read.
_DIGESTS: dict[tuple, str] = {}


def _sha256_of(path: str | os.PathLike, *, remember: bool = True) -> str:
    """SHA-256 (hex) of the file at ``path``, the one file hasher of the package.

    With ``remember`` (weights, written once and replaced only by ``os.replace``) the digest is
    kept, keyed by path, device, inode, size and mtime_ns, so a replaced file is hashed again.
    ``remember=False`` always reads the file: an image rewritten in place within one mtime tick,
    with the same size, would otherwise keep its old digest (``cache`` needs the content).
    """
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        key = (os.path.abspath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if remember and key in _DIGESTS:
            return _DIGESTS[key]
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    if remember:
        _DIGESTS[key] = digest.hexdigest()
    return digest.hexdigest()


def weights_problems(name: str = "ViT-B/32") -> list[str]:
    """What is wrong with the weights folders for ``name``, one fix-it sentence per problem.

    Reports ``$CLIPCOURSE_WEIGHTS_DIR`` set to something that is not a folder, and a weights
    file whose SHA-256 does not match (a cut or corrupted download, which :func:`find_weights`
    ignores). The doctor and ``load_model``'s fallback notice print these.

    Introduced in ``00_setup_and_first_look.ipynb`` (``python -m clipcourse doctor``).
    """
    problems = []
    shared = os.environ.get("CLIPCOURSE_WEIGHTS_DIR")
    if shared:
        folder = Path(shared).expanduser()
        if folder.exists() and not folder.is_dir():
            problems.append(
                f"CLIPCOURSE_WEIGHTS_DIR={shared} is a file, not a folder, so it is not searched. "
                f"Point it at the folder that holds the weights files such as ViT-B-32.pt (e.g. "
                f"CLIPCOURSE_WEIGHTS_DIR={folder.parent}).")
    sha256, filename = _url_parts(name)
    for folder in weights_dirs():
        path = folder / filename
        try:
            if not path.is_file():
                continue
            actual = _sha256_of(path)
        except OSError as err:
            problems.append(f"{path} cannot be read ({err.strerror or err}). Fix its permissions "
                            "or delete it.")
            continue
        if actual != sha256:
            problems.append(
                f"{path} failed its SHA-256 checksum (expected {sha256[:12]}..., got "
                f"{actual[:12]}...): it is a cut or corrupted download, and is ignored. Delete it "
                f"and run `python -m clipcourse download {name}`.")
    return problems


def _fetch_command(name: str) -> str:
    sha256, filename = _url_parts(name)
    return (
        f"On a machine with internet, run `python -m clipcourse download {name}` "
        f"(or `curl -L -o {filename} {DEFAULT_BASE_URL}/{sha256}/{filename}`), then copy "
        f"{filename} into one of the folders above, or point $CLIPCOURSE_WEIGHTS_DIR at its folder."
    )


def _searched(dirs: list[Path]) -> str:
    return "Folders searched: " + ", ".join(str(d) for d in dirs) + "."


def find_weights(name: str) -> Path | None:
    """Return the path of verified weights for an OpenAI model name, or None.

    A file whose SHA-256 does not match is ignored (it is a cut or corrupted download).

    Examples
    --------
    >>> find_weights("ViT-B/32")  # doctest: +SKIP
    PosixPath('/home/me/.cache/clip/ViT-B-32.pt')
    """
    sha256, filename = _url_parts(name)
    for folder in weights_dirs():
        path = folder / filename
        try:
            if path.is_file() and _sha256_of(path) == sha256:
                return path
        except OSError:
            continue  # unreadable: weights_problems() says so
    return None


def _writable_dir(dirs: list[Path]) -> Path | None:
    for folder in dirs:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


def download(name: str, root: str | os.PathLike | None = None, *, base_url: str | None = None,
             progress: bool = True, timeout: float = 30.0) -> Path:
    """Download an OpenAI CLIP checkpoint, verify its SHA-256, and return its path.

    Already-present verified weights are returned without any network access.

    Parameters
    ----------
    name : str
        One of ``clip.available_models()``, e.g. ``"ViT-B/32"``.
    root : path, optional
        Folder to download into. Default: the first writable folder of :func:`weights_dirs`.
    base_url : str, optional
        Where to download from; default ``$CLIPCOURSE_BASE_URL`` or OpenAI's server.
    progress : bool
        Show a ``tqdm`` progress bar.
    timeout : float
        Seconds to wait for the server before giving up, and the window in which the transfer
        must make progress: less than 64 KiB in ``timeout`` seconds (a server that trickles
        bytes, or a dead connection) ends the download with a ``WeightsError``.

    Raises
    ------
    WeightsError
        Offline, unreachable server, a stalled or cut transfer, checksum mismatch, or no
        writable folder. The message names the folders searched and the command to fetch the
        weights elsewhere.

    Notes
    -----
    A download streams into a hidden ``.<file>.<random>.part`` file beside the target. If the
    process is killed, that file stays; the next download of the same model into the same
    folder deletes such leftovers first (it holds the folder's lock, so none is in use).

    Examples
    --------
    >>> path = download("ViT-B/32")  # doctest: +SKIP

    Introduced in ``00_setup_and_first_look.ipynb`` (``python -m clipcourse download``).
    """
    if name not in clip.available_models():
        raise WeightsError(f"Unknown model {name!r}; choose one of {clip.available_models()}.")
    sha256, filename = _url_parts(name)
    dirs = [Path(root).expanduser()] if root is not None else weights_dirs()
    for folder in dirs:  # already here? (the shared, read-only folder counts too)
        if (folder / filename).is_file() and _sha256_of(folder / filename) == sha256:
            return folder / filename
    if is_offline():
        problems = " ".join(weights_problems(name)) if root is None else ""
        raise WeightsError(
            f"{name} weights ({filename}) are not present and CLIPCOURSE_OFFLINE=1 forbids "
            f"downloading them. {problems + ' ' if problems else ''}{_searched(dirs)} "
            f"{_fetch_command(name)}"
        )
    target_dir = _writable_dir(dirs)
    if target_dir is None:
        raise WeightsError(
            f"Cannot download {name}: none of the weights folders is writable. {_searched(dirs)} "
            f"Set $CLIPCOURSE_WEIGHTS_DIR to a writable folder. {_fetch_command(name)}"
        )
    target = target_dir / filename
    base_url = (base_url or os.environ.get("CLIPCOURSE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    url = f"{base_url}/{sha256}/{filename}"
    with FileLock(str(target) + ".lock"):
        # Another kernel may have finished the download while we waited for the lock.
        if target.is_file() and _sha256_of(target) == sha256:
            return target
        _remove_partial_downloads(target, progress)
        _download_verified(url, target, sha256, name=name, progress=progress, timeout=timeout,
                           dirs=dirs)
    return target


def _remove_partial_downloads(target: Path, say: bool) -> int:
    """Delete the ``.part`` files a killed download of ``target`` left (we hold its lock)."""
    removed = size = 0
    for leftover in target.parent.glob(f".{target.name}.*.part"):
        try:
            size += leftover.stat().st_size
            leftover.unlink()
            removed += 1
        except OSError:
            continue  # not ours to delete (another user's): leave it
    if removed and say:
        print(f"Removed {removed} partial download{'s' if removed > 1 else ''} "
              f"({size / 2**20:.0f} MiB) left by an interrupted download of {target.name}.")
    return removed


def _download_verified(url: str, target: Path, sha256: str, *, name: str, progress: bool,
                       timeout: float, dirs: list[Path]) -> None:
    """Stream ``url`` into a temp file beside ``target``; verify; ``os.replace`` into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(url, timeout=timeout) as response:
                expected = int(response.headers.get("Content-Length") or 0) or None
                window_start, window_bytes = time.monotonic(), 0
                with _progress(total=expected, unit="B", unit_scale=True,
                               desc=f"Downloading {target.name}", disable=not progress) as bar:
                    # read1: whatever has arrived (up to 1 MiB), so a trickle is seen as one
                    for chunk in iter(lambda: response.read1(_CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        window_bytes += len(chunk)
                        bar.update(len(chunk))
                        now = time.monotonic()
                        if now - window_start >= timeout:
                            if window_bytes < _MIN_PROGRESS:
                                raise _Stalled(window_bytes, now - window_start)
                            window_start, window_bytes = now, 0
                out.flush()
                os.fsync(out.fileno())
        except _Stalled as err:
            raise WeightsError(
                f"Downloading {name} from {url} stalled: only {err.args[0]:,} bytes arrived in "
                f"the last {err.args[1]:.0f} s ({received:,} bytes in all), less than "
                f"{_MIN_PROGRESS // 1024} KiB per timeout={timeout:g} s. Nothing was written "
                f"to {target}. Try again later or from another network, or pass a larger "
                f"timeout. {_fetch_command(name)}"
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            # refused, timed out, HTTP errors, or a connection cut mid-body (IncompleteRead)
            raise WeightsError(
                f"Downloading {name} from {url} failed: {err}. Nothing was written to {target}. "
                f"{_searched(dirs)} {_fetch_command(name)}"
            ) from err
        if expected is not None and received != expected:
            raise WeightsError(
                f"Downloading {name} from {url} was cut off after {received:,} of {expected:,} "
                f"bytes. Nothing was written to {target}; run the download again. "
                f"{_fetch_command(name)}"
            )
        if digest.hexdigest() != sha256:
            raise WeightsError(
                f"SHA256 checksum mismatch for {name} from {url}: expected {sha256}, got "
                f"{digest.hexdigest()}. The file was discarded and nothing was written to "
                f"{target}; run the download again. {_fetch_command(name)}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
