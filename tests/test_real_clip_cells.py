"""The lessons' "real CLIP only" cells run, on a stand-in for OpenAI's weights.

No CLIP weights can be downloaded where the tests run, so these cells would otherwise execute
for the first time in a workshop with internet. Here each lesson runs under nbval with a small
random CLIP in ViT-B/32's input format (224-px images, 32-px patches, 77 tokens), which the
kernel is told to count as OpenAI's: an IPython startup file adds its checksum to
``clipcourse.models._openai_digests`` and logs every ``cc.only_real_clip`` answer. The stand-in's
outputs mean nothing and nothing here reads them (nbval compares only the model-independent
``# NBVAL_CHECK_OUTPUT`` cells). What this proves is narrower and still worth having: the
real-weights code path of every lesson runs to the end (photos, 224-px drawings, the cells that
branch on the model), and every guarded cell was entered.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clipcourse._clip import clip

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("0*.ipynb"))

STARTUP = '''\
# Written by tests/test_real_clip_cells.py for the stand-in run; not part of the course.
import json as _json
import clipcourse as _cc
import clipcourse.models as _models

_openai = _models._openai_digests
_models._openai_digests = lambda: _openai() | {DIGEST!r}
_guard = _cc.only_real_clip


def _logged(model, what):
    answer = _guard(model, what)
    with open(LOG, "a") as log:
        log.write(_json.dumps([what, answer]) + "\\n")
    return answer


_cc.only_real_clip = _logged
'''


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A random CLIP with ViT-B/32's input format, saved as a plain fp16 state dict."""
    folder = tmp_path_factory.mktemp("stand-in")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = clip.model.CLIP(embed_dim=64, image_resolution=224, vision_layers=2,
                                vision_width=64, vision_patch_size=32, context_length=77,
                                vocab_size=49408, transformer_width=64, transformer_heads=1,
                                transformer_layers=2)
    clip.model.convert_weights(model)  # fp16, as OpenAI ships its weights
    path = folder / "ViT-B-32-stand-in.pt"
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    log = folder / "only_real_clip.jsonl"
    (startup / "00-stand-in.py").write_text(
        STARTUP.replace("DIGEST!r", repr(digest)).replace("LOG", repr(str(log))))
    return {"path": path, "ipython": folder / "ipython", "log": log, "cache": folder / "cache"}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_real_clip_cells_run(lesson, stand_in):
    stand_in["log"].unlink(missing_ok=True)
    env = {**os.environ, "CLIPCOURSE_MODEL": str(stand_in["path"]), "CLIPCOURSE_OFFLINE": "1",
           "IPYTHONDIR": str(stand_in["ipython"]), "CLIPCOURSE_CACHE_DIR": str(stand_in["cache"]),
           "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(lesson), "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "notebooks" / "sanitize.cfg"),
         "-p", "no:cacheprovider", "-q", "-x"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    code = "\n".join("".join(c["source"]) for c in json.loads(lesson.read_text("utf-8"))["cells"]
                     if c["cell_type"] == "code")
    guards = set(re.findall(r'if cc\.only_real_clip\(model, "([^"]+)"\)', code))
    answers = ([json.loads(line) for line in stand_in["log"].read_text().splitlines()]
               if stand_in["log"].exists() else [])
    assert guards <= {what for what, _ in answers}, answers  # every guarded cell ran...
    assert all(answer for _, answer in answers), answers  # ...and went down the real-CLIP path
