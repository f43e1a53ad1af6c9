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

Lesson 06 is left out of the stand-in run: it trains its own CLIP for two minutes whatever model
is loaded, has no real-CLIP-only cell, and uses the loaded model in three lines only (its
device, its scale, and the bundled model it loads for comparison). Running it again here cost a
tenth of CI's time budget; a test below fails if it ever gains a guarded cell.
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clipcourse._clip import clip

ROOT = Path(__file__).resolve().parent.parent
#: Trains for minutes whatever the model, and has no real-CLIP-only cell (see the docstring).
NOT_RUN = {"06_train_your_own_clip"}
ALL_LESSONS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
LESSONS = [lesson for lesson in ALL_LESSONS if lesson.stem not in NOT_RUN]


def _code(lesson: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(lesson.read_text("utf-8"))["cells"]
                     if c["cell_type"] == "code")


@pytest.mark.parametrize("lesson", [p for p in ALL_LESSONS if p.stem in NOT_RUN],
                         ids=lambda p: p.stem)
def test_lessons_left_out_have_no_real_clip_only_cell(lesson):
    assert "only_real_clip" not in _code(lesson), (
        f"{lesson.name} now has a real-CLIP-only cell: take it out of NOT_RUN so the stand-in "
        "run enters it")

STARTUP = '''\
# Written by tests/test_real_clip_cells.py for the stand-in run; not part of the course.
import json as _json
import os as _os
import clipcourse as _cc
import clipcourse.models as _models

_openai = _models._openai_digests
_models._openai_digests = lambda: _openai() | {DIGEST!r}
_guard = _cc.only_real_clip


def _logged(model, what):
    answer = _guard(model, what)
    with open(_os.environ["CLIPCOURSE_STAND_IN_LOG"], "a") as log:
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
    (startup / "00-stand-in.py").write_text(STARTUP.replace("DIGEST!r", repr(digest)))
    return {"path": path, "ipython": folder / "ipython", "folder": folder}


def _run_lesson(lesson: Path, stand_in: dict) -> tuple[subprocess.CompletedProcess, list]:
    """Run one lesson under nbval on the stand-in: (the pytest run, its only_real_clip log)."""
    log = stand_in["folder"] / f"{lesson.stem}.jsonl"
    env = {**os.environ, "CLIPCOURSE_MODEL": str(stand_in["path"]), "CLIPCOURSE_OFFLINE": "1",
           "IPYTHONDIR": str(stand_in["ipython"]), "CLIPCOURSE_STAND_IN_LOG": str(log),
           "CLIPCOURSE_CACHE_DIR": str(stand_in["folder"] / f"cache-{lesson.stem}"),
           "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(lesson), "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "notebooks" / "sanitize.cfg"),
         "-p", "no:cacheprovider", "-q", "-x"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    answers = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return run, answers


@pytest.fixture(scope="module")
def stand_in_runs(stand_in):
    """Every lesson run on the stand-in, two at a time (the kernels share the CPUs through
    clipcourse.threads, so two at once take less time than one after the other)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(LESSONS, pool.map(lambda lesson: _run_lesson(lesson, stand_in), LESSONS)))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_real_clip_cells_run(lesson, stand_in_runs):
    run, answers = stand_in_runs[lesson]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    code = _code(lesson)
    guards = set(re.findall(r'if cc\.only_real_clip\(model, "([^"]+)"\)', code))
    assert guards <= {what for what, _ in answers}, answers  # every guarded cell ran...
    assert all(answer for _, answer in answers), answers  # ...and went down the real-CLIP path
