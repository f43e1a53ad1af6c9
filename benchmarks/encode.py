"""Speed of clipcourse's encoders against the reference pipelines, measured side by side.

Everything runs in one process on the same inputs, so the printed ratios are comparable even on
a noisy machine; each timing is the median of ``--repeats`` runs. Speed does not depend on the
weight values, so the ViT-B/32 *architecture* runs with random weights (no download needed).

    python benchmarks/encode.py            # ViT-B/32 architecture (default)
    python benchmarks/encode.py --quick    # fewer images/repeats, for a smoke run

Rows
----
text   ours: ``Model.encode_texts`` (trimmed context, cache cleared each run)
       clip: ``model.clip.encode_text(clip.tokenize(prompts))`` (77 positions)
       hf:   ``transformers.CLIPModel.get_text_features`` (same config, random weights)
images ours: ``Model.encode_images(paths)`` (decode + preprocess + batched forward)
       per-image loop: the course text's pattern, preprocess then ``encode_image`` one at a time
       raw forward: ``encode_image`` on ready, preprocessed batches (the arithmetic floor)
       hf: ``CLIPImageProcessor`` + ``get_image_features``, batched
comparator  one prompt edit -> refreshed probabilities, 8 images already encoded (p50, p90)
cache       first vs second pass of ``EmbeddingCache`` over a folder of images
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import clipcourse as cc
from clipcourse._clip import clip
from clipcourse.embed import _encode_text_trimmed

VIT_B_32 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                vision_patch_size=32, context_length=77, vocab_size=49408,
                transformer_width=512, transformer_heads=8, transformer_layers=12)
PROMPTS = ["a photo of a red circle.", "a photo of a corgi.", "a blurry photo of a cat.",
           "a drawing of two blue stars.", "a photo of the large green square."]


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        array = rng.integers(0, 255, (256, 320, 3), dtype=np.uint8)
        path = folder / f"img_{i:04d}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


def _hf_model():
    try:
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel
    except ImportError:
        return None, None
    config = CLIPConfig(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8,
                         num_hidden_layers=12, max_position_embeddings=77, vocab_size=49408,
                         hidden_act="quick_gelu"),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                           num_hidden_layers=12, image_size=224, patch_size=32,
                           hidden_act="quick_gelu"),
        projection_dim=512)
    return CLIPModel(config).eval(), CLIPImageProcessor()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    n_images = 32 if args.quick else 64
    n_cache = 40 if args.quick else 200

    torch.manual_seed(0)
    model = cc.Model.from_clip(clip.model.CLIP(**VIT_B_32).eval(), name="ViT-B/32-random",
                               device=args.device)
    if model.device.type == "cuda":
        model.clip.half()
    print(f"ViT-B/32 architecture, random weights, {model.device}, {model.dtype}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    rows = []

    # -- text ---------------------------------------------------------------------------
    tokens = clip.tokenize(PROMPTS).to(model.device)  # [5, 77]
    max_len = max(model.token_count(p) for p in PROMPTS)

    def ours_text():
        model.clear_cache()
        return model.encode_texts(PROMPTS)

    def clip_text():
        with torch.inference_mode():
            return model.clip.encode_text(tokens)

    t_ours = _median_seconds(ours_text, repeats)
    t_clip = _median_seconds(clip_text, repeats)
    diff = (ours_text() - cc.normalize(clip_text().float()).cpu()).abs().max().item()
    rows.append(("text: 5 prompts (<= %d tokens)" % max_len, "clip encode_text", t_clip, t_ours,
                 diff))
    one = clip.tokenize(PROMPTS[:1]).to(model.device)
    t1_clip = _median_seconds(lambda: model.clip.encode_text(one), repeats)
    with torch.inference_mode():
        t1_ours = _median_seconds(lambda: _encode_text_trimmed(model.clip, one), repeats)
    rows.append(("text: 1 prompt", "clip encode_text", t1_clip, t1_ours, float("nan")))
    t_cached = _median_seconds(lambda: model.encode_texts(PROMPTS), repeats)
    rows.append(("text: 5 prompts, cached", "clip encode_text", t_clip, t_cached, float("nan")))

    hf, processor = (None, None) if model.device.type == "cuda" else _hf_model()
    if hf is not None:
        ids = tokens[:, :max_len]  # HF pads to the longest prompt in the batch

        def hf_text():
            with torch.inference_mode():
                return hf.get_text_features(input_ids=ids, attention_mask=(ids > 0).long())

        rows.append(("text: 5 prompts", "HF get_text_features", _median_seconds(hf_text, repeats),
                     t_ours, float("nan")))

    # -- images -------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_images(Path(tmp), n_images)

        def ours_images():
            return model.encode_images(paths, batch_size=32, progress=False)

        def per_image_loop():
            out = []
            with torch.inference_mode():
                for path in paths:
                    image = model.preprocess(Image.open(path)).unsqueeze(0).to(model.device)
                    out.append(model.clip.encode_image(image.type(model.dtype)))
            return torch.cat(out)

        ready = [torch.stack([model.preprocess(Image.open(p)) for p in paths[i:i + 32]])
                 for i in range(0, len(paths), 32)]  # [32, 3, 224, 224] each

        def raw_forward():
            with torch.inference_mode():
                return torch.cat([model.clip.encode_image(b.to(model.device).type(model.dtype))
                                  for b in ready])

        t_ours = _median_seconds(ours_images, repeats)
        t_loop = _median_seconds(per_image_loop, repeats)
        t_raw = _median_seconds(raw_forward, repeats)
        diff = (ours_images() - cc.normalize(per_image_loop().float()).cpu()).abs().max().item()
        rows.append((f"images: {n_images} files", "per-image loop", t_loop, t_ours, diff))
        rows.append((f"images: {n_images} files", "raw batched forward", t_raw, t_ours,
                     float("nan")))
        if hf is not None:
            def hf_images():
                with torch.inference_mode():
                    out = []
                    for i in range(0, len(paths), 32):
                        batch = [Image.open(p).convert("RGB") for p in paths[i:i + 32]]
                        pixel_values = processor(images=batch, return_tensors="pt").pixel_values
                        out.append(hf.get_image_features(pixel_values=pixel_values))
                    return out
            rows.append((f"images: {n_images} files", "HF processor + forward",
                         _median_seconds(hf_images, repeats), t_ours, float("nan")))
        del ready
        gc.collect()

        # -- prompt comparator: an edit -> refreshed probabilities -------------------------
        comparator_line = _comparator_latency(model, paths[:8])

        # -- embedding cache ----------------------------------------------------------------
        cache_line = _cache_speedup(model, Path(tmp), n_cache)

    print()
    print(f"{'workload':<30} {'reference':<24} {'ref s':>8} {'ours s':>8} {'speed-up':>9} "
          f"{'max |diff|':>10}")
    for workload, reference, t_ref, t_new, diff in rows:
        diff_text = "" if diff != diff else f"{diff:.1e}"  # NaN: not comparable
        print(f"{workload:<30} {reference:<24} {t_ref:8.3f} {t_new:8.3f} {t_ref / t_new:8.2f}x "
              f"{diff_text:>10}")
    print()
    print(comparator_line)
    print(cache_line)
    print(f"peak RSS of this process: {_peak_rss_mb():.0f} MB")
    print("hf rows run HF's own random weights: speeds compare, embeddings do not.")
    return 0


def _comparator_latency(model, image_paths) -> str:
    try:
        from clipcourse.widgets import prompt_comparator
    except ImportError as err:
        return f"comparator: skipped ({err})"
    prompts = ["a photo of a red circle", "a photo of a blue square", "a photo of a green star"]
    widget = prompt_comparator(model, [Image.open(p).convert("RGB") for p in image_paths],
                               prompts)
    control = widget.prompts
    times = []
    for i in range(30):
        edited = prompts[:2] + [f"a photo of a green star number {i}"]
        start = time.perf_counter()
        control.value = "\n".join(edited)  # the observer refreshes the output synchronously
        times.append(time.perf_counter() - start)
    times.sort()
    p50, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
    return (f"comparator: edit -> refreshed probabilities, 8 images: p50 {p50 * 1e3:.1f} ms, "
            f"p90 {p90 * 1e3:.1f} ms (target p50 <= 20 ms)")


def _cache_speedup(model, folder: Path, n: int) -> str:
    try:
        from clipcourse.cache import EmbeddingCache
    except ImportError as err:
        return f"cache: skipped ({err})"
    paths = _write_images(folder, n, seed=1)
    cache = EmbeddingCache(folder / "cache")
    start = time.perf_counter()
    first = cache.encode_images(model, paths, progress=False)
    t_first = time.perf_counter() - start
    start = time.perf_counter()
    second = cache.encode_images(model, paths, progress=False)
    t_second = time.perf_counter() - start
    same = torch.equal(first, second)
    return (f"cache: {n} images, first pass {t_first:.2f} s, second pass {t_second:.3f} s, "
            f"{t_first / t_second:.0f}x faster (target >= 20x); identical: {same}")


if __name__ == "__main__":
    sys.exit(main())
