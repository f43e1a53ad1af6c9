"""Turning text and images into unit-length CLIP embeddings, fast.

Two tricks, both measured in ``benchmarks/encode.py``:

* **Trimmed text.** ``clip.tokenize`` pads every prompt to the full context (77 tokens for
  ViT-B/32). The text transformer is causal and CLIP reads the feature at the end-of-text (EOT)
  token, so positions after the longest prompt's EOT never influence the result. We run the
  transformer on the first ``L`` positions only (``L`` = longest prompt in the batch), slicing
  the positional embedding and the causal mask to match.
* **Batched images.** Images are decoded, preprocessed and encoded a batch at a time, so memory
  holds one batch of decoded images, and a bad file is reported instead of crashing the kernel.

Every function returns float32 CPU tensors with unit-norm rows, also when the model runs in
fp16 on a GPU. Introduced in ``01_embeddings.ipynb``.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._report import progress as _progress, warn as _warn
from .images import ImageLoadError, load_image
from .threads import paced

__all__ = ["cosine_similarity", "normalize", "EncodedImages", "ImageSkipWarning"]


class ImageSkipWarning(UserWarning):
    """An image could not be read and was skipped (``errors="skip"``)."""


class EncodedImages(NamedTuple):
    """What ``Model.encode_images(..., errors="skip")`` returns.

    Attributes
    ----------
    features : torch.Tensor
        ``[n_ok, embed_dim]`` float32, unit-norm rows, one per image that could be read.
    indices : list of int
        ``indices[row]`` is the position in the input of ``features[row]``.
    failures : list of (int, object, str)
        ``(input position, source, reason)`` for every image that was skipped.
    """

    features: torch.Tensor
    indices: list
    failures: list


def normalize(features: torch.Tensor) -> torch.Tensor:
    """Scale each row to unit length (the projection onto the unit hypersphere).

    Introduced in ``01_embeddings.ipynb``.
    """
    return features / features.norm(dim=-1, keepdim=True)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``.

    Parameters
    ----------
    a : tensor ``[n, d]`` or ``[d]``
    b : tensor ``[m, d]`` or ``[d]``

    Returns
    -------
    tensor ``[n, m]`` (1-D inputs count as one row; two vectors give a 0-d tensor)
        Values in [-1, 1]. The inputs need not be normalised: this function normalises them,
        which is exactly the step the course text's first example forgets.

    Examples
    --------
    >>> cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([[1.0, 1.0], [0.0, 2.0]]))
    tensor([0.7071, 0.0000])

    Introduced in ``02_cosine_similarity.ipynb``.
    """
    a = torch.as_tensor(a, dtype=torch.float32)
    b = torch.as_tensor(b, dtype=torch.float32)
    sim = normalize(a.reshape(-1, a.shape[-1])) @ normalize(b.reshape(-1, b.shape[-1])).T  # [n, m]
    if a.dim() == 1 and b.dim() == 1:
        return sim[0, 0]
    if a.dim() == 1:
        return sim[0]
    if b.dim() == 1:
        return sim[:, 0]
    return sim


def _encode_text_trimmed(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text(tokens)``, running only up to the longest prompt's EOT token.

    ``tokens`` is ``[n_texts, context_length]`` from ``clip.tokenize``; returns the raw
    (unnormalised) ``[n_texts, embed_dim]`` features in the model's dtype. The attention is
    CLIP's own weights run through ``scaled_dot_product_attention`` with ``is_causal=True``,
    which is exactly CLIP's causal mask, sliced to ``L`` positions.
    """
    eot = tokens.argmax(dim=-1)  # [n_texts]: EOT has the largest id in CLIP's vocabulary
    length = int(eot.max()) + 1
    tokens = tokens[:, :length]  # [n_texts, L]
    x = model.token_embedding(tokens).type(model.dtype)  # [n_texts, L, width]
    x = x + model.positional_embedding[:length].type(model.dtype)
    n_texts, _, width = x.shape
    for block in model.transformer.resblocks:
        attn = block.attn  # nn.MultiheadAttention: packed q, k, v projection, then out_proj
        heads = attn.num_heads
        q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.view(n_texts, length, heads, width // heads).transpose(1, 2)
                   for t in (q, k, v))  # [n_texts, heads, L, head_dim] each
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [n_texts, heads, L, hd]
        x = x + attn.out_proj(y.transpose(1, 2).reshape(n_texts, length, width))
        x = x + block.mlp(block.ln_2(x))
    x = model.ln_final(x).type(model.dtype)  # [n_texts, L, width]
    return x[torch.arange(n_texts), eot] @ model.text_projection  # [n_texts, embed_dim]


#: How far CLIP's resize may blow an image up: its output (shorter side scaled to the model's
#: resolution R) may hold at most this many times R x R pixels, i.e. a long side of at most
#: 64 R. A 300000 x 1 PNG of 952 bytes would otherwise become 67 million x 224 pixels (6.5 GB).
_MAX_RESIZE_FACTOR = 64


def _as_list(images) -> list:
    """One image or many -> a list.

    One image: a str path, a path object, the bytes of a file (``bytes``, ``bytearray``,
    ``memoryview``), a PIL image, or a numpy array of one image (``[H, W]`` or ``[H, W, C]``).
    Many: any other sequence, or a numpy array ``[N, H, W, C]``.
    """
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, np.ndarray):
        return [images] if images.ndim <= 3 else list(images)
    if isinstance(images, torch.Tensor):
        raise TypeError("encode_images takes images (paths, PIL images, bytes or numpy arrays), "
                        "not a tensor. For a [3, H, W] tensor use "
                        "torchvision.transforms.functional.to_pil_image(tensor) first.")
    try:
        return list(images)
    except TypeError:
        raise TypeError(f"encode_images takes an image or a list of images, not "
                        f"{type(images).__name__}") from None


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


def _check_resize(image: Image.Image, resolution: int, label: str) -> None:
    """Refuse an image whose resize to ``resolution`` (shorter side) would be huge."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if long > _MAX_RESIZE_FACTOR * short:  # the resize scales both sides alike: R cancels
        most = _MAX_RESIZE_FACTOR * short
        out = (round(width * resolution / short), round(height * resolution / short))
        raise ImageLoadError(
            f"Cannot encode image {label}: it is {width}x{height} pixels, so CLIP's resize "
            f"(shorter side to {resolution}) would make it {out[0]:,}x{out[1]:,} pixels "
            f"({_size(out[0] * out[1] * 3)}). Crop it to a less elongated shape first "
            f"(at most {_MAX_RESIZE_FACTOR}:1), e.g. image.crop((0, 0, {min(width, most)}, "
            f"{min(height, most)})).")


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{memoryview(source).nbytes} bytes>"
    if isinstance(source, np.ndarray):
        return f"<numpy array, shape {tuple(source.shape)}>"
    return f"<{type(source).__name__}>"


def _encode_image_batches(model, images: Sequence, *, batch_size: int, progress: bool | None,
                          errors: str):
    """Yield ``(features [b, embed_dim] float32 CPU unit-norm, input indices, failures)``.

    Decodes at most one batch of images at a time.
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
    n = len(images)
    show = progress if progress is not None else n > 4 * batch_size
    on_gpu = model.device.type == "cuda"
    with _progress(total=n, unit="img", desc="Encoding images", disable=not show) as bar:
        for start in paced(range(0, n, batch_size)):  # a busy kernel: see clipcourse.threads
            pixels, indices, failures = [], [], []
            for i in range(start, min(start + batch_size, n)):
                try:
                    image = load_image(images[i])
                    _check_resize(image, model.input_resolution, repr(_describe(images[i])))
                    pixels.append(model.preprocess(image))  # [3, R, R]
                except (ImageLoadError, OSError) as err:
                    # OSError: missing, unreadable (permissions), a symlink loop, a folder...
                    if errors == "raise":
                        raise
                    _warn(f"Skipped image {i} ({_describe(images[i])}): {err}", ImageSkipWarning)
                    failures.append((i, images[i], str(err)))
                    continue
                indices.append(i)
            bar.update(min(start + batch_size, n) - start)
            if not pixels:
                yield torch.empty(0, model.embed_dim), indices, failures
                continue
            batch = torch.stack(pixels)  # [b, 3, R, R]
            if on_gpu:
                batch = batch.pin_memory().to(model.device, non_blocking=True)
            with torch.inference_mode():
                image_features = model.clip.encode_image(batch.type(model.dtype))  # [b, D]
            yield normalize(image_features.float()).cpu(), indices, failures
