"""Accuracy of the bundled ``tiny-shapes`` CLIP: the table behind its targets.

    python benchmarks/tiny_shapes.py             # evaluate data/tiny-shapes.pt (about 1 minute)
    python benchmarks/tiny_shapes.py --retrain   # retrain it first, into a temporary folder,
                                                 # and measure the training time here

Rows: single-object colour × shape zero-shot on combinations seen in training and on the
held-out ones (bare labels "red circle", the default template "a photo of a {}.", and the
``SHAPES_TEMPLATES`` ensemble), counting (4-way), left/right relations (2-way), and single
shapes drawn by other renderers (matplotlib patches and plain PIL at 128 px, pure named colours,
not our drawing code). Test images use seeds the model never trained on.

Then issue 11's table on a mixed-style test set (``train.accuracy_by_style``: every look of
``shapes.LOOKS``, every colour × shape, seen and held-out, 960 + 960 images by default): per text
side (bare, one template, each look's template alone, the ensemble, OpenAI's 80 ImageNet
templates), per look, with binomial standard errors; each side's gain over "a photo of a {}."
with the paired standard error (same images, per-image differences) and the unpaired one; the
mean length of a class's average unit prompt vector; and class-name variants (the usual name,
an ensemble over the known names ``templates.SHAPE_NAME_VARIANTS``, words never in training).
The ensemble appears twice: OpenAI's renormalised mean embedding, and the mean of the prompts'
scores (``build_classifier(renormalize=False)``).

Last, lesson 06's from-scratch model (``train.learner_run``) for seeds 0 and 1: accuracy on
seen and held-out combinations and training seconds (``--lesson06-seeds`` to change, or skip).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw

import clipcourse as cc
from clipcourse import shapes
from clipcourse.train import (accuracy_by_style, accuracy_table, default_text_sides,
                              name_variant_sides)
from clipcourse.templates import DEFAULT_TEMPLATE, SHAPES_TEMPLATES

JSON_PATH = Path(__file__).resolve().parent.parent / "data" / "tiny-shapes.json"


# -- other people's renderers -----------------------------------------------------------------
def _star(cx: float, cy: float, r: float, inner: float = 0.4) -> list[tuple[float, float]]:
    return [(cx + (r if k % 2 == 0 else r * inner) * math.cos(math.pi / 2 + k * math.pi / 5),
             cy + (r if k % 2 == 0 else r * inner) * math.sin(math.pi / 2 + k * math.pi / 5))
            for k in range(10)]


def draw_matplotlib(colour: str, shape: str, rng: np.random.Generator,
                    size: int = 128) -> Image.Image:
    """One shape drawn with matplotlib patches: named colours, white background, axes off."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib import patches

    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_aspect("equal"), ax.axis("off")
    r = rng.uniform(0.18, 0.32)
    x, y = rng.uniform(r + 0.02, 0.98 - r, 2)
    if shape == "circle":
        patch = patches.Circle((x, y), r, color=colour)
    elif shape == "square":
        patch = patches.Rectangle((x - 0.8 * r, y - 0.8 * r), 1.6 * r, 1.6 * r, color=colour)
    elif shape == "triangle":
        patch = patches.RegularPolygon((x, y), 3, radius=r * 1.1, color=colour)
    else:
        patch = patches.Polygon(_star(x, y, r * 1.1), closed=True, color=colour)
    ax.add_patch(patch)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def draw_pil(colour: str, shape: str, rng: np.random.Generator, size: int = 128) -> Image.Image:
    """One shape drawn with plain PIL calls: CSS named colours, no anti-aliasing, some outlined."""
    grey = int(rng.integers(225, 256))
    image = Image.new("RGB", (size, size), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    rgb = ImageColor.getrgb(colour)
    r = rng.uniform(0.18, 0.32) * size
    x, y = rng.uniform(r + 2, size - r - 2, 2)
    outline = rng.random() < 0.3
    kwargs = {"outline": rgb, "width": max(2, size // 24)} if outline else {"fill": rgb}
    if shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], **kwargs)
    elif shape == "square":
        draw.rectangle([x - 0.8 * r, y - 0.8 * r, x + 0.8 * r, y + 0.8 * r], **kwargs)
    elif shape == "triangle":
        draw.regular_polygon((x, y, r * 1.1), 3, **kwargs)
    else:
        points = [(px, 2 * y - py) for px, py in _star(x, y, r * 1.1)]  # flip: point up
        draw.polygon(points, **kwargs)
    return image


def other_renderer_set(n: int, seed: int, renderer) -> shapes.LabelledShapes:
    """``n`` single shapes from ``renderer``, cycling through all 24 colour × shape labels."""
    rng = np.random.default_rng(seed)
    pairs = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES]
    images, labels = [], []
    for i in range(n):
        colour, shape = pairs[i % len(pairs)]
        images.append(renderer(colour, shape, rng))
        labels.append(shapes.label(colour, shape))
    return shapes.LabelledShapes(images=images, labels=labels, objects=[None] * n)


# -- measuring --------------------------------------------------------------------------------
def _accuracy(model, image_features, labels, templates) -> float:
    return cc.zero_shot(model, image_features, shapes.all_labels(), templates).accuracy(labels)


def measure(model, n: int = 480, seed: int = 1) -> dict:
    """The accuracy table of ``model`` (a ``cc.Model``): ``train.accuracy_table`` (the same test
    sets as the checkpoint's metadata) plus shapes drawn by other renderers."""
    table = accuracy_table(model, n=n, seed=seed)
    for name, renderer in (("matplotlib", draw_matplotlib), ("pil", draw_pil)):
        test = other_renderer_set(240, seed + 4000, renderer)
        image_features = model.encode_images(test.images, progress=False)
        table[f"other_{name}"] = {
            "template": _accuracy(model, image_features, test.labels, [DEFAULT_TEMPLATE]),
            "ensemble": _accuracy(model, image_features, test.labels, SHAPES_TEMPLATES)}
    return table


def measure_styles(model, n: int = 960, seed: int = 1) -> dict:
    """Issue 11's tables: ``accuracy_by_style`` on the mixed-style set and on ordinary photos."""
    sides = {**default_text_sides(), **name_variant_sides()}
    return {"mixed": accuracy_by_style(model, sides, n=n, seed=seed),
            "photo": accuracy_by_style(model, sides, looks=("photo",), n=n, seed=seed)}


def _pm(cell: dict) -> str:
    return f"{cell['accuracy']:.1%}±{cell['se']:.1%}"


def format_styles(styles: dict) -> str:
    mixed, photo = styles["mixed"], styles["photo"]
    looks = list(dict.fromkeys(mixed["looks"]))
    n_seen = mixed["splits"].count("seen")
    n_held = mixed["splits"].count("held_out")
    lines = ["", f"Mixed-style test set: {n_seen} seen + {n_held} held-out images, looks "
             f"{', '.join(looks)} in equal shares, seeds {mixed['seed']} and "
             f"{mixed['seed'] + 1000} (± is one binomial standard error)",
             f"{'text side':<34}" + "".join(f"{look:>14}" for look in looks)
             + f"{'seen':>14}{'held-out':>14}{'all':>14}"]
    for side, table in mixed["table"].items():
        cells = "".join(f"{_pm(table['all'][look]):>14}" for look in looks)
        lines.append(f"{side[:33]:<34}" + cells
                     + f"{_pm(table['seen']['all']):>14}{_pm(table['held_out']['all']):>14}"
                     f"{_pm(table['all']['all']):>14}")
    ref = mixed["reference"]
    lines += ["", f"Gain over {ref!r} on the mixed-style set (all {n_seen + n_held} images; "
              "paired SE from per-image differences, unpaired SE as if independent)",
              f"{'text side':<34}{'gain':>8}{'paired SE':>11}{'gain/SE':>9}{'unpaired SE':>13}"
              f"{'held-out gain':>15}{'mean length':>13}"]
    for side, versus in mixed["vs_reference"].items():
        if side == ref:
            continue
        v, h = versus["all"]["all"], versus["held_out"]["all"]
        ratio = v["gain"] / v["paired_se"] if v["paired_se"] else float("nan")
        lines.append(f"{side[:33]:<34}{v['gain']:>+8.1%}{v['paired_se']:>11.2%}{ratio:>9.1f}"
                     f"{v['unpaired_se']:>13.2%}{h['gain']:>+15.1%}"
                     f"{mixed['mean_length'][side]:>13.3f}")
    lines += ["", "Ordinary photos (today's test set: plain look, filled/outline/textured objects)",
              f"{'text side':<34}{'seen':>14}{'held-out':>14}"]
    for side, table in photo["table"].items():
        lines.append(f"{side[:33]:<34}{_pm(table['seen']['all']):>14}"
                     f"{_pm(table['held_out']['all']):>14}")
    return "\n".join(lines)


def lesson06_rows(seeds=(0, 1)) -> list[str]:
    """Lesson 06's from-scratch run (``train.learner_run``) for each seed: accuracy, seconds."""
    from clipcourse.train import LESSON_RECIPE, learner_run

    lines = ["", f"Lesson 06's own model: {LESSON_RECIPE['steps']} steps at batch "
             f"{LESSON_RECIPE['batch_size']} from scratch, 24-way zero-shot with "
             f"{DEFAULT_TEMPLATE!r} (the lesson runs seed 0; chance 4.2%)",
             f"{'seed':>6}{'seen':>8}{'held-out':>10}{'train s':>9}{'data s':>8}{'threads':>9}"]
    for seed in seeds:
        run = learner_run(seed, verbose=False)
        lines.append(f"{seed:>6}{run['seen']:>8.1%}{run['held_out']:>10.1%}"
                     f"{run['train_seconds']:>9.1f}{run['data_seconds']:>8.1f}{run['threads']:>9}")
    return lines


def format_table(table: dict, meta: dict | None) -> str:
    lines = ["tiny-shapes zero-shot accuracy (24 colour × shape labels; chance 4.2%)",
             f"{'test set':<38}{'bare label':>12}{'a photo of a {}.':>18}{'ensemble':>10}"
             f"   best single template of the ensemble  (ensemble: OpenAI's renormalised mean; "
             "the mean-score ensemble is in the mixed-style table below)"]
    names = {"seen": "seen combinations", "held_out": "held-out combinations"}
    for split in ("seen", "held_out"):
        row = table[split]
        lines.append(f"{names[split]:<38}{row['bare']:>12.1%}{row['template']:>18.1%}"
                     f"{row['ensemble']:>10.1%}   {row['best_single']:.1%} "
                     f"{table['best_single_template']!r}")
    for name in ("matplotlib", "pil"):
        row = table[f"other_{name}"]
        lines.append(f"{'other renderer: ' + name + ' (128 px)':<38}{'':>12}"
                     f"{row['template']:>18.1%}{row['ensemble']:>10.1%}")
    lines.append(f"{'counting, 1-4 objects (4-way)':<38}{'':>12}{table['counting']:>18.1%}")
    lines.append(f"{'left/right relation (2-way)':<38}{'':>12}{table['relations']:>18.1%}")
    if meta is not None:
        t = meta["training"]
        lines.append(f"training: {t['steps']} steps, {t['train_seconds']:.0f} s training + "
                     f"{t['data_seconds']:.0f} s data = {t['total_seconds']:.0f} s on "
                     f"{t['threads']} threads (torch {meta['torch']})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--retrain", action="store_true", help="retrain, measuring the time")
    parser.add_argument("--n", type=int, default=480, help="test images per split")
    parser.add_argument("--seed", type=int, default=1, help="seed of the test images")
    parser.add_argument("--n-styles", type=int, default=960,
                        help="mixed-style test images per split (a multiple of 120)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="evaluate this checkpoint instead of data/tiny-shapes.pt")
    parser.add_argument("--lesson06-seeds", type=int, nargs="*", default=[0, 1],
                        help="seeds of lesson 06's from-scratch run to train and score "
                             "(about a minute each; none to skip)")
    args = parser.parse_args(argv)

    if args.retrain:
        from clipcourse.train import train_tiny

        folder = Path(tempfile.mkdtemp(prefix="tiny-shapes-"))
        start = time.perf_counter()
        meta = train_tiny(out=folder / "tiny-shapes.pt", evaluate=False)
        print(f"retrained in {time.perf_counter() - start:.0f} s -> {folder}")
        model = cc.load_model(folder / "tiny-shapes.pt", device="cpu")
    elif args.checkpoint is not None:
        meta_path = args.checkpoint.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        model = cc.load_model(args.checkpoint, device="cpu")
    else:
        meta = json.loads(JSON_PATH.read_text()) if JSON_PATH.is_file() else None
        model = cc.load_model("tiny-shapes", device="cpu")
    print(format_table(measure(model, n=args.n, seed=args.seed), meta))
    print(format_styles(measure_styles(model, n=args.n_styles, seed=args.seed)))
    for line in lesson06_rows(args.lesson06_seeds):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
