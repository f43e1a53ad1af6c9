"""``python -m clipcourse``: the doctor, weight downloads, training and workshop tools.

Subcommands
-----------
doctor                    check this machine for the course; exits non-zero with a fix-it line
download [MODEL ...]      pre-fetch OpenAI weights (default ViT-B/32) into the weights folder
train-tiny --out PATH     retrain the bundled tiny-shapes model
student OUT_DIR [--check]  write student copies of the lessons (solutions removed)
grade DIR ... [--csv F]   run each learner's notebooks offline and score the exercise checks
strip-notebooks FILE ...  strip outputs, keeping the reference outputs of check cells

Introduced in ``00_setup_and_first_look.ipynb`` (doctor) and the instructor guide.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
import time
from pathlib import Path

__all__ = ["main", "doctor"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _widget_frontend() -> Path | None:
    """Folder of the JupyterLab widget manager extension, if installed."""
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return None
    for root in jupyter_path("labextensions"):
        candidate = Path(root) / "@jupyter-widgets" / "jupyterlab-manager"
        if (candidate / "package.json").is_file():
            return candidate
    return None


def doctor(out=None) -> int:
    """Check this machine for the course and print a report.

    Reports versions, the device, which weights are present and where, whether the JupyterLab
    widget frontend is installed, and whether the bundled model loads and classifies a drawn
    shape correctly. Returns 0 when all is well, else 1 after printing a fix-it line per problem.

    Introduced in ``00_setup_and_first_look.ipynb``; run it as ``python -m clipcourse doctor``.
    """
    out = out or sys.stdout
    problems: list[str] = []

    def say(line: str = "") -> None:
        print(line, file=out)

    say("clipcourse doctor")
    say(f"  python        {platform.python_version()} ({sys.executable})")
    for dist in ("clipcourse", "torch", "torchvision", "openai-clip", "setuptools", "jupyterlab",
                 "ipywidgets", "jupyterlab_widgets", "nbval"):
        say(f"  {dist:<13} {_version(dist) or 'not installed'}")
    for dist in ("torch", "torchvision", "openai-clip", "jupyterlab", "ipywidgets"):
        if _version(dist) is None:
            problems.append(f"{dist} is not installed. Fix: run `make lab` (or "
                            f"`pip install -e .`) in the course folder.")

    try:
        from ._clip import clip  # noqa: F401
        say("  import clip   ok")
    except ModuleNotFoundError as err:
        say(f"  import clip   FAILED: {err}")
        problems.append("`import clip` fails. Fix: pip install 'setuptools<81' 'openai-clip==1.0.1'")

    import torch

    if torch.cuda.is_available():
        say(f"  device        cuda ({torch.cuda.get_device_name(0)}), models run in fp16")
    else:
        say(f"  device        cpu ({torch.get_num_threads()} threads), models run in fp32")

    import warnings

    from .threads import ENV_VAR, choose_threads

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        choice = choose_threads()
    say(f"  threads       {choice.threads} for torch; {choice.reason}")
    for warning in caught:
        problems.append(f"{warning.message}")
    if choice.mode == "fixed" and choice.threads > choice.usable:
        problems.append(f"{choice.threads} threads are fixed, but only {choice.usable} CPUs are "
                        f"usable here: kernels will slow each other down. Fix: unset {ENV_VAR} "
                        "and OMP_NUM_THREADS (the policy then adapts), or lower them.")

    from .weights import _url_parts, find_weights, is_offline, weights_dirs, weights_problems

    say("  weights dirs  " + ", ".join(str(d) for d in weights_dirs()))
    found = []
    for name in ("ViT-B/32", "ViT-B/16", "ViT-L/14", "RN50"):
        path = find_weights(name)
        if path is not None:
            found.append(name)
            say(f"  weights       {name}: {path}")
    weight_problems = list(dict.fromkeys(
        problem for name in ("ViT-B/32", "ViT-B/16", "ViT-L/14", "RN50")
        for problem in weights_problems(name)))
    for problem in weight_problems:
        say(f"  weights       PROBLEM: {problem}")
    problems += weight_problems
    if not found:
        filename = _url_parts("ViT-B/32")[1]
        say(f"  weights       none of OpenAI's found ({filename} is the usual one); lessons use "
            "tiny-shapes" + (" (offline mode)" if is_offline() else " unless it downloads"))

    frontend = _widget_frontend()
    if frontend is None:
        say("  widgets       JupyterLab widget frontend NOT found")
        problems.append("Widgets will not render in JupyterLab. Fix: pip install "
                        "'ipywidgets>=8' 'jupyterlab_widgets>=3' in the environment that runs "
                        "JupyterLab, then restart JupyterLab.")
    else:
        say(f"  widgets       frontend at {frontend}")

    try:
        from . import shapes
        from .models import load_model
        from .zeroshot import zero_shot

        model = load_model("tiny-shapes", device="cpu")
        image = shapes.draw_scene([shapes.ShapeSpec("red", "circle")], seed=0)
        result = zero_shot(model, [image], ["red circle", "blue square", "green triangle"])
        ok = result.predictions == ["red circle"]
        say(f"  tiny-shapes   loads; a drawn red circle -> {result.predictions[0]!r} "
            f"({float(result.probs.max()):.0%})" + ("" if ok else "  WRONG"))
        if not ok:
            problems.append("The bundled model loads but misclassifies a red circle. Fix: "
                            "`git checkout -- data/tiny-shapes.pt` to restore the file.")
    except (OSError, ValueError, RuntimeError, ImportError, AttributeError) as err:
        say(f"  tiny-shapes   FAILED: {err}")
        problems.append(f"The bundled model does not load ({err}). Fix: `git checkout -- data/` "
                        "or `python -m clipcourse train-tiny --out data/tiny-shapes.pt`.")

    say()
    if problems:
        for problem in problems:
            say(f"PROBLEM: {problem}")
        return 1
    say("All good: open the course with `make lab`.")
    return 0


def _download(names: list[str]) -> int:
    from .weights import WeightsError, download

    status = 0
    for name in names or ["ViT-B/32"]:
        try:
            print(f"{name}: {download(name)}")
        except WeightsError as err:
            print(f"{name}: FAILED: {err}", file=sys.stderr)
            status = 1
    return status


def _grade(args) -> int:
    from .grading import DEFAULT_TIMEOUT, grade, print_table, write_csv

    start = time.monotonic()
    grades = grade(args.dirs, src=args.src, timeout=args.timeout or DEFAULT_TIMEOUT,
                   jobs=args.jobs)
    print_table(grades)
    learners = len({g.learner for g in grades})
    print(f"graded {learners} learner(s), {len(grades)} notebook(s) in "
          f"{time.monotonic() - start:.0f} s")
    if args.csv is not None:
        try:
            write_csv(grades, args.csv)
        except OSError as err:
            print(f"grade: cannot write {args.csv}: {err}", file=sys.stderr)
            return 1
        print(f"report: {args.csv}")
    missing = [d for d in args.dirs if not d.is_dir()]
    for folder in missing:
        print(f"grade: {folder} is not a folder", file=sys.stderr)
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m clipcourse``."""
    parser = argparse.ArgumentParser(prog="python -m clipcourse", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check this machine for the course")
    p = sub.add_parser("download", help="pre-fetch OpenAI CLIP weights (default ViT-B/32)")
    p.add_argument("models", nargs="*", metavar="MODEL")
    p = sub.add_parser("train-tiny", help="retrain the bundled tiny-shapes model")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: the recipe's 2; the same count reproduces the "
                        "shipped weights bit for bit)")
    p = sub.add_parser("student", help="write student copies of the lessons")
    p.add_argument("out", type=Path, nargs="?", help="folder for the copies (not with --check)")
    p.add_argument("--src", type=Path, default=None, help="lesson folder (default: notebooks/)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks a learner edited")
    p.add_argument("--check", action="store_true",
                   help="only check that every exercise in the lessons has a solution")
    p = sub.add_parser("grade", help="run learners' notebooks offline and score their exercises")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="one folder per learner")
    p.add_argument("--csv", type=Path, default=None, help="write the report here (one row per "
                   "learner and exercise)")
    p.add_argument("--src", type=Path, default=None, help="lesson folder (default: notebooks/)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per notebook (default 900)")
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks run at once (default: one per usable CPU)")
    p = sub.add_parser("strip-notebooks", help="strip outputs except check cells' references")
    p.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)

    if args.command == "doctor":
        return doctor()
    if args.command == "download":
        return _download(args.models)
    if args.command == "train-tiny":
        from .train import train_tiny

        kwargs = {k: v for k, v in (("steps", args.steps), ("threads", args.threads))
                  if v is not None}
        train_tiny(out=args.out, seed=args.seed, **kwargs)
        return 0
    if args.command == "student":
        from .student import (NotebookError, SolutionMarkerError, StudentCopyError,
                              check_solutions, make_student_copies)

        if args.check:
            problems = check_solutions(args.src)
            for problem in problems:
                print(f"PROBLEM: {problem}", file=sys.stderr)
            print(f"{len(problems)} problem(s) found" if problems
                  else "Every exercise has a solution.")
            return 1 if problems else 0
        if args.out is None:
            parser.error("student needs an OUT_DIR (or --check)")
        try:
            make_student_copies(src=args.src, out=args.out, force=args.force)
        except (FileNotFoundError, SolutionMarkerError, StudentCopyError, NotebookError) as err:
            print(f"student: {err}", file=sys.stderr)
            return 1
        except OSError as err:  # a disk full or a permission error while writing
            print(f"student: cannot write the copies: {err}", file=sys.stderr)
            return 1
        return 0
    if args.command == "grade":
        return _grade(args)
    if args.command == "strip-notebooks":
        from .student import strip_notebooks

        return strip_notebooks(args.files)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
