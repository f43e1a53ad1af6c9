"""clipcourse: the helper package behind the CLIP course notebooks.

``import clipcourse as cc`` gives the small public API below; each name's docstring says which
lesson introduces it. Importing sets no seeds, no rcParams and no other global state.

The modules, one idea each:

=============  ==========================================================================
lesson         ``start_lesson``: seed, load and announce the model in one line
models         ``load_model`` and the ``Model`` wrapper (encoders, preprocessing)
weights        where OpenAI weights live; verified, atomic, locked downloads
images         ``load_image`` for every odd file, ``sample_images`` from OpenAI's notebook
embed          trimmed text encoding, batched image encoding, ``cosine_similarity``
zeroshot       prompt ensembles (``build_classifier``) and ``zero_shot``
templates      OpenAI's 80 ImageNet templates, the 7 selected ones, shapes-world templates
shapes         the procedural shapes world the bundled model was trained on
train          contrastive training (InfoNCE with a learned temperature)
failures       small experiments for the failure-modes lab
cache, search  the on-disk embedding cache and image search
probe          linear probes, few-shot curves, zero-shot-initialised probes, WiSE-FT
retrieval      recall@k of text -> image and image -> text retrieval
threads        how many CPU threads torch uses when several kernels share a machine
plots          heatmaps, probability bars, image grids, embedding maps
widgets        the interactive pieces of the lessons
exercises      the self-check after every exercise (``cc.exercises.check``)
grading        ``python -m clipcourse grade``: run learners' notebooks, score the checks
student, cli   workshop tools and ``python -m clipcourse``
=============  ==========================================================================
"""

from importlib import import_module

from .embed import EncodedImages, ImageSkipWarning, cosine_similarity, normalize
from .images import ImageLoadError, SampleImage, load_image, sample_images
from .cache import EmbeddingCache
from .models import FallbackNotice, Model, TruncationWarning, available_models, load_model
from .lesson import only_real_clip, start_lesson
from .search import ImageIndex, SearchResult
from .seed import set_seed
from .weights import WeightsError, download, find_weights, weights_dirs
from .zeroshot import ZeroShotResult, build_classifier, zero_shot
from . import cache, search, templates

__version__ = "0.1.0"

# Heavier modules load on first use (cc.plots imports matplotlib, cc.widgets ipywidgets).
_LAZY_MODULES = ("shapes", "train", "failures", "plots", "widgets", "probe", "retrieval",
                 "student", "exercises", "grading", "cli", "threads")

__all__ = [
    # models and weights (00)
    "start_lesson", "only_real_clip", "load_model", "Model", "available_models", "FallbackNotice", "TruncationWarning",
    "download", "find_weights", "weights_dirs", "WeightsError",
    # images (00)
    "load_image", "sample_images", "SampleImage", "ImageLoadError", "set_seed",
    # embeddings and similarity (01, 02)
    "cosine_similarity", "normalize", "EncodedImages", "ImageSkipWarning",
    # zero-shot and prompts (03, 04)
    "build_classifier", "zero_shot", "ZeroShotResult", "templates",
    # image search and the embedding cache (07)
    "ImageIndex", "SearchResult", "EmbeddingCache",
    # modules
    *_LAZY_MODULES,
]


def __getattr__(name):
    if name in _LAZY_MODULES:
        module = import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'clipcourse' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
