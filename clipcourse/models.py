"""Loading a CLIP model, real or bundled, and the small ``Model`` wrapper the lessons use.

``load_model`` accepts any name of ``clip.available_models()`` (weights found or downloaded by
:mod:`clipcourse.weights`), ``"tiny-shapes"`` (the small CLIP this project trains on its shapes
world and ships in ``data/``), or a path to a checkpoint: an OpenAI TorchScript archive or a
plain state dict. Every route ends in ``clip.model.build_model``, so the bundled model and
ViT-B/32 are the same Python class, tokenised and preprocessed the same way.

Introduced in ``00_setup_and_first_look.ipynb``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import torch

from . import threads
from ._clip import clip
from ._report import warn as _warn
from .embed import EncodedImages, _as_list, _encode_image_batches, _encode_text_trimmed, normalize
from .weights import (WeightsError, _sha256_of, download, find_weights, is_offline,
                      weights_dirs, weights_problems)

__all__ = ["Model", "load_model", "available_models", "TINY_SHAPES_PATH", "FallbackNotice",
           "TruncationWarning"]

#: The bundled checkpoint (a plain OpenAI-format state dict) and its metadata beside it.
TINY_SHAPES_PATH = Path(__file__).resolve().parent.parent / "data" / "tiny-shapes.pt"
_DEFAULT_REAL_MODEL = "ViT-B/32"
# What torch.load raises on a truncated or foreign file (its unpickler fails in many ways).
_UNREADABLE = (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, IndexError,
               KeyError, TypeError, AttributeError)
_TEXT_CACHE_SIZE = 4096


class FallbackNotice(UserWarning):
    """``load_model()`` fell back to the bundled tiny-shapes model; the message says why."""


class TruncationWarning(UserWarning):
    """A prompt was longer than the model's context and was cut; the message names it."""


def available_models() -> list[str]:
    """Names ``load_model`` accepts: OpenAI's models plus ``"tiny-shapes"``.

    Introduced in ``00_setup_and_first_look.ipynb``.
    """
    return clip.available_models() + ["tiny-shapes"]


class Model:
    """A CLIP model ready for the lessons: the ``clip`` module, its preprocessing, and encoders.

    Attributes
    ----------
    name : str
        ``"ViT-B/32"``, ``"tiny-shapes"``, or the checkpoint path.
    device : torch.device
    clip : clip.model.CLIP
        The OpenAI module itself (``encode_image``, ``encode_text``, ``logit_scale``...).
    preprocess : callable
        PIL image -> ``[3, R, R]`` tensor, exactly ``clip.load``'s transform.
    input_resolution, context_length, embed_dim : int
    dtype : torch.dtype
        float16 on CUDA (as OpenAI ships the weights), float32 on CPU.
    logit_scale : float
        ``exp`` of the learned temperature parameter (100 for OpenAI's models).
    source : str
        How this model was chosen and where its weights came from.
    fingerprint, preprocess_fingerprint : str
        Identify the weights and the preprocessing (keys of the embedding cache).

    Introduced in ``00_setup_and_first_look.ipynb``.
    """

    def __init__(self, clip_model: torch.nn.Module, *, name: str, device: torch.device | str,
                 source: str = "", weights_sha256: str | None = None):
        self.clip = clip_model.eval()
        self.name = name
        self.device = torch.device(device)
        self.source = source
        self.input_resolution = int(clip_model.visual.input_resolution)
        self.context_length = int(clip_model.context_length)
        self.embed_dim = int(clip_model.text_projection.shape[1])
        self.preprocess = clip.clip._transform(self.input_resolution)
        self.preprocess_fingerprint = (
            f"clip-transform:{self.input_resolution}px:bicubic:center-crop:"
            "mean=0.48145466,0.4578275,0.40821073:std=0.26862954,0.26130258,0.27577711"
        )
        if weights_sha256 is None:
            weights_sha256 = _state_dict_digest(clip_model)
        self._weights_sha256 = weights_sha256
        self._weights_version = _weights_version(clip_model)
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @property
    def fingerprint(self) -> str:
        """Identifies the weights *as they are now* (a key of the embedding cache).

        Computed from the file's SHA-256 when loaded, and recomputed from the tensors after
        they change in place (training, ``load_state_dict``): every tensor's version counter,
        which torch bumps on each in-place write, is compared first, so an unchanged model
        costs a few microseconds per call.
        """
        self._sync_weights()
        return f"{self.name}:{self._weights_sha256[:16]}"

    def _sync_weights(self) -> None:
        """After an in-place change of the weights: new digest, forget remembered prompts."""
        version = _weights_version(self.clip)
        if version != self._weights_version:
            self._weights_sha256 = _state_dict_digest(self.clip)
            self._weights_version = version
            self._text_cache.clear()

    # -- properties ---------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.clip.dtype

    @property
    def logit_scale(self) -> float:
        return float(self.clip.logit_scale.detach().exp())

    def __repr__(self) -> str:
        return (f"Model(name={self.name!r}, device={str(self.device)!r}, dtype={self.dtype}, "
                f"embed_dim={self.embed_dim}, input_resolution={self.input_resolution}, "
                f"context_length={self.context_length})")

    # -- text -----------------------------------------------------------------------------
    def token_count(self, text: str) -> int:
        """Number of tokens ``text`` takes, counting the start and end tokens.

        Compare with ``context_length``: a longer prompt is truncated.
        Introduced in ``01_embeddings.ipynb``.
        """
        return len(clip.clip._tokenizer.encode(text)) + 2

    def tokenize(self, texts: str | Sequence[str]) -> torch.Tensor:
        """``clip.tokenize`` at this model's context length; long prompts are cut with a warning.

        Returns ``[n_texts, context_length]`` int64 token ids.
        Introduced in ``01_embeddings.ipynb``.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"Prompts must be strings, got {type(text).__name__}: {text!r}")
            n = self.token_count(text)
            if n > self.context_length:
                _warn(
                    f"Prompt {text[:60]!r}{'...' if len(text) > 60 else ''} has {n} tokens; "
                    f"{self.name} reads at most {self.context_length}, so it was truncated. "
                    "Shorten it to keep its end.", TruncationWarning)
        return clip.tokenize(texts, context_length=self.context_length, truncate=True)

    def encode_texts(self, texts: str | Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Embed prompts: ``[n_texts, embed_dim]`` float32 on the CPU, unit-norm rows.

        Runs the text transformer only up to the longest prompt's end token (same result as
        ``clip``'s ``encode_text``, several times faster) and remembers each prompt's embedding,
        so re-encoding a prompt list where one prompt changed encodes just that prompt.
        Over-long prompts are truncated with a ``TruncationWarning`` naming them.

        Examples
        --------
        >>> text_features = model.encode_texts(["a photo of a dog", "a photo of a cat"])
        >>> text_features.shape  # doctest: +SKIP
        torch.Size([2, 512])

        Introduced in ``01_embeddings.ipynb``.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"encode_texts: batch_size must be a whole number of at least 1, "
                             f"not {batch_size!r}")
        texts = [texts] if isinstance(texts, str) else list(texts)
        self._sync_weights()  # weights trained in place: the remembered prompts are stale
        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            tokens = self.tokenize(chunk).to(self.device)  # [n, context_length]
            with torch.inference_mode():
                text_features = _encode_text_trimmed(self.clip, tokens)  # [n, embed_dim]
            text_features = normalize(text_features.float()).cpu()
            for text, row in zip(chunk, text_features):
                self._text_cache[text] = row
        for text in texts:
            self._text_cache.move_to_end(text)
        while len(self._text_cache) > _TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        if not texts:
            return torch.empty(0, self.embed_dim)
        return torch.stack([self._text_cache[t] for t in texts])  # [n_texts, embed_dim]

    def clear_cache(self) -> None:
        """Forget remembered prompt embeddings (call after changing ``self.clip``'s weights)."""
        self._text_cache.clear()

    # -- images ---------------------------------------------------------------------------
    def encode_images(self, images, batch_size: int = 32, progress: bool | None = None,
                      errors: str = "raise"):
        """Embed images: ``[n_images, embed_dim]`` float32 on the CPU, unit-norm rows.

        Parameters
        ----------
        images : path, PIL image, bytes, or a sequence mixing them
        batch_size : int
            Images decoded and encoded at once; memory holds one batch of decoded images.
        progress : bool, optional
            Show a progress bar; by default only for more than four batches.
        errors : {"raise", "skip"}
            ``"raise"``: an unreadable image raises ``cc.ImageLoadError`` (or
            ``FileNotFoundError``) naming the file. ``"skip"``: it is reported with an
            ``ImageSkipWarning`` and left out; the result is then an :class:`EncodedImages`
            ``(features, indices, failures)`` saying which input each row belongs to.

        Examples
        --------
        >>> image_features = model.encode_images(["cat.jpg", "dog.png"])  # doctest: +SKIP
        >>> result = model.encode_images(paths, errors="skip")  # doctest: +SKIP
        >>> result.features.shape, result.failures  # doctest: +SKIP

        Introduced in ``01_embeddings.ipynb``.
        """
        images = _as_list(images)
        features, indices, failures = [], [], []
        for batch_features, batch_indices, batch_failures in _encode_image_batches(
                self, images, batch_size=batch_size, progress=progress, errors=errors):
            features.append(batch_features)
            indices += batch_indices
            failures += batch_failures
        image_features = torch.cat(features) if features else torch.empty(0, self.embed_dim)
        if errors == "skip":
            return EncodedImages(image_features, indices, failures)
        return image_features  # [n_images, embed_dim]

    @property
    def is_openai(self) -> bool:
        """True when the weights are one of OpenAI's released checkpoints.

        Checked by SHA-256 against the checksums in ``clip``'s download URLs, so a copy of
        ``ViT-B-32.pt`` loaded by path counts, and a model you trained yourself does not.
        """
        self._sync_weights()
        return self._weights_sha256 in _openai_digests()

    # -- construction ---------------------------------------------------------------------
    def _with_source(self, source: str) -> "Model":
        self.source = source
        return self

    @classmethod
    def from_clip(cls, clip_model: torch.nn.Module, name: str = "custom",
                  device: str | torch.device | None = None, source: str = "") -> "Model":
        """Wrap a ``clip.model.CLIP`` you built or trained yourself (lesson 06).

        The model is moved to ``device`` (default: where its parameters are).
        Introduced in ``06_train_your_own_clip.ipynb``.
        """
        if device is None:
            device = next(clip_model.parameters()).device
        return cls(clip_model.to(device), name=name, device=device,
                   source=source or "built in this session")


def _openai_digests() -> set[str]:
    """SHA-256 of every OpenAI checkpoint: ``clip`` puts it in each download URL."""
    return {_url_sha(name) for name in clip.clip._MODELS}


def _weights_version(module: torch.nn.Module) -> tuple:
    """Changes whenever the weights change: swapped, retyped, or written in place.

    Torch bumps a tensor's ``_version`` on in-place writes, but not in every kernel (fused
    AdamW does not), so a strided sample of each tensor is hashed as well: every
    ``numel // 64``-th value, i.e. 64 to 127 values (all of a tensor of fewer than 128). A
    training step changes nearly every weight, and the samples, gathered as bytes into one
    tensor and copied off the device once, cost microseconds.
    """
    digest = hashlib.blake2b(digest_size=16)
    keys = []
    samples = []
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            keys.append((id(tensor), tensor._version, tensor.data_ptr(), tensor.dtype))
            flat = tensor.detach().reshape(-1)
            if flat.numel():
                sample = flat[::max(1, flat.numel() // 64)]  # [64..127], or [numel] if < 128
                samples.append(sample.contiguous().view(torch.uint8))  # [n_values * itemsize]
        if samples:
            digest.update(torch.cat(samples).cpu().numpy().tobytes())  # one copy off the device
    return tuple(keys), digest.hexdigest()


def _state_dict_digest(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _read_state_dict(path: Path) -> dict:
    """State dict from an OpenAI TorchScript archive or a plain ``torch.save``'d state dict.

    ``clip.load(path)`` tries ``torch.jit.load`` and then ``torch.load`` on the *same* open file
    without rewinding it, which fails on a plain state dict with current torch (``EOFError``).
    We open the path afresh for each attempt.
    """
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        with warnings.catch_warnings():
            # torch 2.10+ flags torch.jit as deprecated; OpenAI's files are still TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:  # not a TorchScript archive
        pass
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as err:
        raise ValueError(
            f"{path} is neither an OpenAI TorchScript archive nor a plain CLIP state dict "
            f"({err}). Re-download it or check the path."
        ) from err
    if isinstance(state_dict, dict) and "state_dict" in state_dict:  # a training checkpoint
        state_dict = state_dict["state_dict"]
    has_visual = isinstance(state_dict, dict) and (
        "visual.conv1.weight" in state_dict or "visual.layer1.0.conv1.weight" in state_dict)
    if not has_visual:
        raise ValueError(f"{path} does not look like a CLIP state dict (no visual encoder "
                         "weights). Pass an OpenAI checkpoint or one saved by clipcourse.")
    return state_dict


def _build(path: Path, name: str, device: torch.device, source: str,
           sha256: str | None = None) -> Model:
    state_dict = _read_state_dict(path)
    threads.apply()  # the CPU thread policy for shared machines (clipcourse.threads)
    try:
        clip_model = clip.model.build_model(state_dict)  # OpenAI's builder; infers every size
    except KeyError as err:
        raise ValueError(
            f"{path} is missing the weight {err.args[0]!r}, which a CLIP model needs: the file "
            "is incomplete or was saved from another model. Re-download or re-save it (e.g. "
            "torch.save(model.clip.state_dict(), path)).") from None
    except (RuntimeError, ValueError, IndexError, AttributeError, TypeError) as err:
        raise ValueError(
            f"{path} does not hold a complete CLIP state dict: building the model from it failed "
            f"({type(err).__name__}: {str(err)[:300]}). Re-download or re-save it.") from None
    clip_model = clip_model.to(device)
    if device.type == "cpu":
        clip_model = clip_model.float()  # fp16 matmuls are slow or missing on CPU
    return Model(clip_model, name=name, device=device, source=source,
                 weights_sha256=sha256 or _sha256_of(path))


def _tiny_shapes(device: torch.device, source: str) -> Model:
    if not TINY_SHAPES_PATH.is_file():
        raise FileNotFoundError(
            f"The bundled model is missing: {TINY_SHAPES_PATH}. Restore it with "
            f"`git checkout -- data/tiny-shapes.pt`, or rebuild it with "
            f"`python -m clipcourse train-tiny --out {TINY_SHAPES_PATH}`.")
    return _build(TINY_SHAPES_PATH, "tiny-shapes", device, source)


def load_model(name: str | os.PathLike | None = None,
               device: str | torch.device | None = None) -> Model:
    """Load a CLIP model for the lessons.

    Parameters
    ----------
    name : str or path, optional
        An OpenAI model name (``clip.available_models()``), ``"tiny-shapes"`` (bundled, offline),
        or a checkpoint path (OpenAI TorchScript archive or plain state dict). ``None`` means:
        ``$CLIPCOURSE_MODEL`` if set; else ``"ViT-B/32"`` if its weights are present or can be
        downloaded; else ``"tiny-shapes"``, with a :class:`FallbackNotice` that says why and how
        to get the real weights. ``model.source`` records which route was taken.
    device : str or torch.device, optional
        Default: ``"cuda"`` when available, else ``"cpu"``. On CUDA the model runs in fp16;
        embeddings always come back as float32 CPU tensors.

    Returns
    -------
    Model

    Raises
    ------
    clipcourse.weights.WeightsError
        An OpenAI model's weights are missing and cannot be downloaded (the message lists the
        folders searched and the command to fetch them elsewhere).

    Examples
    --------
    >>> model = load_model("tiny-shapes")
    >>> model.name, model.embed_dim  # doctest: +SKIP
    ('tiny-shapes', 64)

    Introduced in ``00_setup_and_first_look.ipynb``.
    """
    device = _checked_device(device)
    if name is None:
        env = os.environ.get("CLIPCOURSE_MODEL", "").strip()
        if env:
            return load_model(env, device)._with_source(f"chosen by $CLIPCOURSE_MODEL={env}")
        return _load_default(device)
    name_str = _checked_name(name)
    if name_str == "tiny-shapes":
        return _tiny_shapes(device, "the bundled tiny-shapes model (data/tiny-shapes.pt)")
    if name_str in clip.available_models():
        path = find_weights(name_str)
        if path is not None:
            return _build(path, name_str, device, f"weights found at {path}",
                          sha256=_url_sha(name_str))
        path = download(name_str)  # raises WeightsError with folders and the fetch command
        return _build(path, name_str, device, f"downloaded to {path}", sha256=_url_sha(name_str))
    path = Path(name_str).expanduser()
    if path.exists():
        return _build(path, name_str, device, f"checkpoint file {path}")
    raise ValueError(
        f"Unknown model {name_str!r}: not one of {available_models()} and no such file. "
        f"Weights folders: {', '.join(map(str, weights_dirs()))}.")


def _checked_device(device) -> torch.device:
    """A usable torch.device, or a ValueError that names the device and says what to do."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"load_model: device={device!r} is not a device torch knows ({err}). "
                         "Use 'cpu', 'cuda', 'cuda:0' or 'mps', or leave it out to pick the "
                         "best one.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"load_model: device={str(device)!r} was asked for, but torch sees no CUDA GPU "
                f"here (torch {torch.__version__}, torch.cuda.is_available() is False). Use "
                "device='cpu', or leave device out to pick the best one available.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"load_model: device={str(device)!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s), numbered from 0.")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                "load_model: device='mps' was asked for, but Apple's Metal backend is not "
                "available here (it needs an Apple-silicon Mac and a torch built for it). Use "
                "device='cpu', or leave device out to pick the best one available.")
    elif device.type != "cpu":
        raise ValueError(f"load_model: device={str(device)!r} is not supported by the course; "
                         "use 'cpu', 'cuda' or 'mps'.")
    return device


def _checked_name(name) -> str:
    """The model name or path as a str, or a clear error for inputs that cannot be one."""
    if isinstance(name, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"load_model takes a model name (e.g. 'ViT-B/32' or 'tiny-shapes') or the path of "
            f"a checkpoint file, not {type(name).__name__} ({memoryview(name).nbytes} bytes). "
            "To load weights you hold in memory, save them first: "
            "torch.save(state_dict, 'my-clip.pt'), then load_model('my-clip.pt').")
    try:
        name_str = os.fspath(name)
    except TypeError:
        raise TypeError(f"load_model takes a model name or a path, not {type(name).__name__}: "
                        f"{name!r}") from None
    if isinstance(name_str, bytes):
        name_str = os.fsdecode(name_str)
    if not name_str.strip():
        raise ValueError(f"load_model: the model name is empty ({name_str!r}). Pass one of "
                         f"{available_models()}, a checkpoint path, or nothing for the default.")
    if "\0" in name_str:
        raise ValueError(f"load_model: {name_str!r} contains a NUL character ('\\x00'), which "
                         "no model name or file name can hold. Check how it was built.")
    return name_str


def _url_sha(name: str) -> str:
    return clip.clip._MODELS[name].split("/")[-2]


def _load_default(device: torch.device) -> Model:
    try:
        model = load_model(_DEFAULT_REAL_MODEL, device)
    except WeightsError as err:
        why = "offline mode (CLIPCOURSE_OFFLINE=1)." if is_offline() else str(err)
        problems = weights_problems(_DEFAULT_REAL_MODEL)
        if problems:  # a corrupt file or a misplaced folder: say so, not just "offline"
            why = " ".join(problems) + (" Offline mode (CLIPCOURSE_OFFLINE=1), so no download "
                                        "was tried." if is_offline() else f" ({err})")
        message = (
            f"Using the bundled tiny-shapes model instead of {_DEFAULT_REAL_MODEL}: {why} "
            f"It runs every lesson offline on the shapes world; results that need real CLIP are "
            f"marked in the lessons. To get real weights: `python -m clipcourse download "
            f"{_DEFAULT_REAL_MODEL}`, or set CLIPCOURSE_MODEL=tiny-shapes to silence this notice."
        )
        _warn(message, FallbackNotice)
        return _tiny_shapes(device, f"fallback: {message}")
    return model._with_source(f"default real model; {model.source}")

