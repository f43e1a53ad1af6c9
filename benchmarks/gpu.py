"""GPU path check: fp16 on CUDA, batched, pinned host memory, float32 results.

Run it whenever a GPU is available (CI has none):

    python benchmarks/gpu.py

It builds the ViT-B/32 architecture with random weights (speed does not depend on weight values),
moves it to CUDA in fp16 as ``load_model`` does, and reports images/s and prompts/s for
``Model.encode_images`` (decode + preprocess on the CPU + forward), the raw forward on ready
tensors, and ``Model.encode_texts``; the peak GPU memory; and checks that embeddings come back
float32 on the CPU with unit norm and agree with an fp32 run.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from PIL import Image

import clipcourse as cc
from clipcourse._clip import clip

from encode import VIT_B_32


def _rate(fn, n_items: int, repeats: int = 3) -> float:
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return n_items / best


def main() -> int:
    if not torch.cuda.is_available():
        print("No CUDA device: nothing to measure (this script is for GPU machines).")
        return 0
    torch.manual_seed(0)
    reference = clip.model.CLIP(**VIT_B_32).eval()  # fp32, CPU
    gpu_clip = clip.model.CLIP(**VIT_B_32).eval()
    gpu_clip.load_state_dict(reference.state_dict())
    clip.model.convert_weights(gpu_clip)  # fp16, as OpenAI ships and load_model keeps on CUDA
    model = cc.Model.from_clip(gpu_clip, name="ViT-B/32-random", device="cuda")
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, model dtype {model.dtype}")

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (256, 320, 3), dtype=np.uint8))
              for _ in range(512)]
    torch.cuda.reset_peak_memory_stats()

    for batch_size in (64, 256):
        rate = _rate(lambda: model.encode_images(images, batch_size=batch_size, progress=False),
                     len(images))
        print(f"encode_images (decode+preprocess+forward), batch {batch_size}: {rate:8.0f} img/s")
    ready = torch.stack([model.preprocess(im) for im in images[:256]])  # [256, 3, 224, 224]
    ready = ready.pin_memory()

    def raw():
        with torch.inference_mode():
            model.clip.encode_image(ready.to("cuda", non_blocking=True).half())

    print(f"raw forward on ready tensors, batch 256:          {_rate(raw, 256):8.0f} img/s")
    prompts = [f"a photo of a number {i} thing." for i in range(2048)]

    def texts():
        model.clear_cache()
        model.encode_texts(prompts)

    print(f"encode_texts, 2048 prompts:                       {_rate(texts, 2048):8.0f} text/s")
    print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")

    features = model.encode_images(images[:8])
    text_features = model.encode_texts(prompts[:8])
    assert features.dtype == torch.float32 and features.device.type == "cpu"
    assert text_features.dtype == torch.float32 and text_features.device.type == "cpu"
    assert torch.allclose(features.norm(dim=-1), torch.ones(8), atol=1e-3)
    cpu_model = cc.Model.from_clip(reference, name="ViT-B/32-random", device="cpu")
    image_diff = (cpu_model.encode_images(images[:8]) - features).abs().max().item()
    text_diff = (cpu_model.encode_texts(prompts[:8]) - text_features).abs().max().item()
    print(f"fp16 GPU vs fp32 CPU embeddings: max |diff| images {image_diff:.1e}, "
          f"texts {text_diff:.1e}")
    print("float32 CPU results with unit norm: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
