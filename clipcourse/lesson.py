"""The few lines every lesson starts with, kept in one place instead of copied into each notebook.

Introduced in ``00_setup_and_first_look.ipynb``.
"""

from __future__ import annotations

from .models import Model, load_model
from .seed import set_seed

__all__ = ["start_lesson", "only_real_clip"]


def start_lesson(seed: int = 0, model: str | None = None, device: str | None = None) -> Model:
    """Seed the random generators, load the model, and say which model this lesson runs on.

    Parameters
    ----------
    seed : int
        Passed to :func:`clipcourse.set_seed`.
    model, device :
        Passed to :func:`clipcourse.load_model` (default: ``$CLIPCOURSE_MODEL``, then ViT-B/32
        if available, else the bundled tiny-shapes model).

    Examples
    --------
    >>> model = start_lesson()  # doctest: +SKIP
    Model: tiny-shapes on cpu (float32); chosen by $CLIPCOURSE_MODEL=tiny-shapes

    Introduced in ``00_setup_and_first_look.ipynb``.
    """
    set_seed(seed)
    loaded = load_model(model, device)
    dtype = str(loaded.dtype).replace("torch.", "")
    print(f"Model: {loaded.name} on {loaded.device} ({dtype}); {loaded.source}")
    if loaded.name == "tiny-shapes":
        print("This is the bundled model trained on the shapes world: cells marked "
              "'real CLIP' say what ViT-B/32 shows instead.")
    return loaded


def only_real_clip(model: Model, what: str) -> bool:
    """True when ``model`` is one of OpenAI's CLIPs; otherwise print why a cell needs one.

    "Real" means OpenAI's released weights (:attr:`Model.is_openai`, checked by checksum): the
    bundled tiny-shapes model and models you trained yourself are not.

    Use it to guard a cell whose result only means something with OpenAI's weights::

        if cc.lesson.only_real_clip(model, "reading text in photos"):
            ...

    Introduced in ``00_setup_and_first_look.ipynb``.
    """
    if model.is_openai:
        return True
    if model.name == "tiny-shapes":
        why = "the bundled tiny-shapes model has never seen a photo"
    else:
        why = (f"{model.name!r} is not one of OpenAI's released CLIP models (its weights match "
               "none of their checksums)")
    print(f"[real CLIP only] {what}: {why}, so this cell's result would mean nothing here. Run "
          "the lesson with ViT-B/32 (`python -m clipcourse download ViT-B/32`) to see it.")
    return False
