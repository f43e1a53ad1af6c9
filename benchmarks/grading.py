"""Grading one learner's full set against running the lessons once, measured side by side.

Issue 14 asks that ``python -m clipcourse grade`` take at most about as long for one learner's
eight lessons as running the lessons once. This runs both on the same machine, one after the
other, with the bundled model and fresh caches:

1. **lessons once**: every lesson executed in turn with ``jupyter nbconvert --execute`` (what
   ``make test``'s nbval run or a learner's Run All does), one kernel at a time;
2. **grade**: ``clipcourse.grading.grade`` on one learner folder holding the lessons themselves
   (every exercise solved, so every check does its full work), with its default parallelism.

    python benchmarks/grading.py            # all lessons
    python benchmarks/grading.py 03 05      # only these lessons (a quicker smoke run)

Run it on a quiet machine (here: ``flock /tmp/clipcourse-cpu.lock python benchmarks/grading.py``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clipcourse import grading  # noqa: E402


def main(prefixes: list[str]) -> None:
    lessons = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                     if not prefixes or p.name[:2] in prefixes)
    with tempfile.TemporaryDirectory(prefix="clipcourse-bench-grade-") as tmp:
        tmp = Path(tmp)
        learner = tmp / "learner"
        learner.mkdir()
        for path in lessons:
            shutil.copy(path, learner / path.name)
        env = dict(os.environ, CLIPCOURSE_MODEL="tiny-shapes", CLIPCOURSE_OFFLINE="1",
                   MPLBACKEND="Agg", CLIPCOURSE_CACHE_DIR=str(tmp / "cache-once"))
        once = {}
        start = time.monotonic()
        for path in lessons:
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                            "--execute", "--allow-errors", str(path), "--output-dir",
                            str(tmp / "once")], env=env, check=True, capture_output=True)
            once[path.name[:2]] = time.monotonic() - t
        lessons_once = time.monotonic() - start

        start = time.monotonic()
        grades = grading.grade([learner], src=ROOT / "notebooks", stream=io.StringIO())
        graded = time.monotonic() - start

    jobs = grading._default_jobs()
    print(f"{'lesson':<8}{'run once (s)':>14}{'in grading (s)':>16}  score")
    for g in grades:
        key = g.lesson[:2]
        print(f"{key:<8}{once.get(key, float('nan')):>14.1f}{g.seconds:>16.1f}  "
              f"{g.points}/{g.max_points}" + (f"  {g.problem}" if g.problem else ""))
    print(f"\nrunning the {len(lessons)} lessons once, one after another: {lessons_once:6.1f} s")
    print(f"grading one learner's full set ({jobs} at once):      {graded:6.1f} s")
    print(f"ratio grade / lessons once: {graded / lessons_once:.2f} (target: about 1 or less)")


if __name__ == "__main__":
    main(sys.argv[1:])
