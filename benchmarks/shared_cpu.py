"""Several kernels training at once on shared CPUs: the thread policy against fixed settings.

    flock /tmp/clipcourse-cpu.lock python benchmarks/shared_cpu.py          # about 6 minutes
    python benchmarks/shared_cpu.py --k 3 --settings policy "1 thread"     # a quicker look

Each run is a lesson-06-style training in a fresh process: ``cc.start_lesson()`` (the bundled
model), a small shapes dataset, then ``train_clip`` for 40 steps at batch 64. Only the
``train_clip`` call is timed; all processes of a round start it together (each prints "ready",
then waits for "go"), so process start-up and data generation do not overlap the timings.

For each setting:

* **alone**: one run at a time, ``--repeats`` times (the median is used);
* **K at once** (K = 3, then 6): K runs started together; the slowest of them counts;
* **ratio** = slowest concurrent run / (K × alone), i.e. against the same K runs done one
  after another. Below 1.0, running them together was the better deal.

Settings: ``policy`` (clipcourse's default, ``clipcourse.threads``), and the references
``1 thread`` and ``2 threads`` (``CLIPCOURSE_THREADS=1`` / ``2``, fixed). Targets (issue 13):
the policy alone within 1.15× of the best fixed setting alone, and the policy's ratio ≤ 1.0.

Run it while nothing else uses the CPUs (the ``flock`` above is the course team's CPU lock).
Every process gets a private ``CLIPCOURSE_CPU_DIR``, so kernels outside the benchmark do not
count as busy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETTINGS = {"policy": {}, "1 thread": {"CLIPCOURSE_THREADS": "1"},
            "2 threads": {"CLIPCOURSE_THREADS": "2"}}
STEPS, BATCH, N_PAIRS = 40, 64, 1024


def _worker() -> None:
    """One lesson-style training; prints ready, waits for go, prints its timing as JSON."""
    import torch

    import clipcourse as cc

    cc.start_lesson()  # applies the thread policy, as every lesson does
    data = cc.shapes.make_dataset(N_PAIRS, seed=0)
    model = cc.train.build_clip(seed=0)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    cc.train.train_clip(data, model=model, steps=STEPS, batch_size=BATCH, seed=0, progress=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "threads_after": torch.get_num_threads()}), flush=True)


def _round(k: int, env_extra: dict, cap: float) -> list[float] | None:
    """Start ``k`` workers, release them together; their train_clip seconds (None: over cap)."""
    env = {**os.environ, "CLIPCOURSE_MODEL": "tiny-shapes", "CLIPCOURSE_OFFLINE": "1",
           "PYTHONWARNINGS": "ignore"}
    env.pop("CLIPCOURSE_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    env.update(env_extra)
    with tempfile.TemporaryDirectory(prefix="clipcourse-bench-cpu-") as registry:
        env["CLIPCOURSE_CPU_DIR"] = registry
        procs = [subprocess.Popen([sys.executable, __file__, "--worker"], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                 for _ in range(k)]
        try:
            for proc in procs:
                line = proc.stdout.readline()
                while line and line.strip() != "ready":  # start_lesson's own lines
                    line = proc.stdout.readline()
                if not line:
                    raise RuntimeError("a worker died before it was ready")
            for proc in procs:  # go, all at once
                proc.stdin.write("go\n")
                proc.stdin.flush()
            deadline = time.monotonic() + cap
            seconds = []
            for proc in procs:
                try:
                    out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    return None
                seconds.append(json.loads(out.strip().splitlines()[-1])["seconds"])
            return seconds
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 6], help="concurrent runs")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=2, help="alone runs per setting")
    parser.add_argument("--cap", type=float, default=240.0,
                        help="give up on a concurrent round after this many seconds")
    args = parser.parse_args()
    if args.worker:
        _worker()
        return 0

    print(f"{os.cpu_count()} CPUs; train_clip {STEPS} steps at batch {BATCH}, tiny-shapes, "
          f"each run in a fresh process after cc.start_lesson()")
    alone, together = {}, {}
    for name in args.settings:
        runs = [_round(1, SETTINGS[name], args.cap)[0] for _ in range(args.repeats)]
        alone[name] = statistics.median(runs)
        print(f"  {name:<10} alone: " + ", ".join(f"{s:.2f} s" for s in runs), flush=True)
        for k in args.k:
            together[name, k] = _round(k, SETTINGS[name], args.cap)
            shown = ("over the cap" if together[name, k] is None
                     else ", ".join(f"{s:.1f}" for s in together[name, k]) + " s")
            print(f"  {name:<10} {k} at once: {shown}", flush=True)

    print()
    header = f"{'setting':<10} {'alone':>7}"
    for k in args.k:
        header += f" | {f'{k} at once (slowest)':>21} {f'{k} in a row':>11} {'ratio':>6}"
    print(header)
    for name in args.settings:
        line = f"{name:<10} {alone[name]:>6.2f}s"
        for k in args.k:
            row, sequential = together[name, k], k * alone[name]
            slowest = f">{args.cap:.0f}s" if row is None else f"{max(row):.1f}s"
            ratio = args.cap / sequential if row is None else max(row) / sequential
            line += f" | {slowest:>21} {sequential:>10.1f}s {ratio:>5.2f}" + (
                "+" if row is None else " ")
        print(line)
    if "policy" in args.settings:
        fixed = [n for n in args.settings if n != "policy"]
        print()
        if fixed:
            best = min(fixed, key=alone.get)
            factor = alone["policy"] / alone[best]
            print(f"policy alone / best fixed alone ({best}): {factor:.2f}  (target <= 1.15: "
                  f"{'met' if factor <= 1.15 else 'NOT met'})")
        for k in args.k:
            row = together["policy", k]
            ratio = None if row is None else max(row) / (k * alone["policy"])
            print(f"policy, {k} at once / {k} in a row: "
                  + ("over the cap" if ratio is None else f"{ratio:.2f}")
                  + f"  (target <= 1.0: {'met' if ratio is not None and ratio <= 1.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
