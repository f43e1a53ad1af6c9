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
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock
from tqdm.auto import tqdm

from ._clip import clip

__all__ = ["WeightsError", "weights_dirs", "find_weights", "download", "is_offline"]

#: Where OpenAI serves the weights. ``$CLIPCOURSE_BASE_URL`` overrides it (tests use loopback).
DEFAULT_BASE_URL = "https://openaipublic.azureedge.net/clip/models"

_CHUNK = 1 << 20  # 1 MiB


class WeightsError(RuntimeError):
    """Weights could not be found, downloaded or verified. The message says what to do."""


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


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        if path.is_file() and _sha256_of(path) == sha256:
            return path
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
        Seconds to wait for the server before giving up.

    Raises
    ------
    WeightsError
        Offline, unreachable server, checksum mismatch, a cut transfer, or no writable folder.
        The message names the folders searched and the command to fetch the weights elsewhere.

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
        raise WeightsError(
            f"{name} weights ({filename}) are not present and CLIPCOURSE_OFFLINE=1 forbids "
            f"downloading them. {_searched(dirs)} {_fetch_command(name)}"
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
        _download_verified(url, target, sha256, name=name, progress=progress, timeout=timeout,
                           dirs=dirs)
    return target


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
                with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=f"Downloading {target.name}", disable=not progress) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
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
