"""A small CLIP with random weights, built in the tests themselves.

Tests of the loading and encoding plumbing use it so they do not depend on the bundled
checkpoint's training; tests of what the bundled model *knows* live in test_tiny_shapes.py.
"""

import torch

from clipcourse._clip import clip


def random_clip(seed: int = 0, context_length: int = 77) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = clip.model.CLIP(
        embed_dim=32, image_resolution=32, vision_layers=1, vision_width=64, vision_patch_size=16,
        context_length=context_length, vocab_size=49408, transformer_width=64,
        transformer_heads=2, transformer_layers=2,
    )
    clip.model.convert_weights(model)  # fp16, as OpenAI ships weights
    return model.eval()


def save_state_dict(path, seed: int = 0) -> None:
    torch.save(random_clip(seed).state_dict(), path)
