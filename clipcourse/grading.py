"""Grade learners' notebooks: run each one offline and score its exercise checks.

``python -m clipcourse grade DIR [DIR ...] --csv report.csv``: each ``DIR`` holds one learner's
notebooks (a collected copy of the student folder). For every lesson of the course, the
learner's notebook of the same name is copied into a temporary folder, its check cells are
restored from the course's lesson (so an edited check cannot pass itself), and it is executed
with ``CLIPCOURSE_MODEL=tiny-shapes`` and ``CLIPCOURSE_OFFLINE=1``, each in its own kernel, a
bounded number at once (one per usable CPU), each with a timeout. An exercise scores its points
when its check cell displayed a passed verdict (``clipcourse.exercises.RECORD_MIME``).

Restoring the check cells undoes edits to their text, nothing more: a learner's own cell runs in
the same kernel and could still replace ``cc.exercises.check`` (or what it reads) before the
restored checks run. nbgrader's read-only test cells have the same limit, and its documentation
says it does not protect against unsafe code. The grade is a guide for honest learners, not
proof against a determined one.

A notebook that is missing, is not a notebook, fails to start, or times out scores zero for its
exercises and is named in the report; the rest are graded as usual. The learners' files are only
read, never written.

Like nbgrader, grading runs the learners' code: run it in an account or container that holds
nothing you would not show them.

See ``docs/instructor.md``.
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, TextIO

__all__ = ["grade", "write_csv", "print_table", "course_exercises", "NotebookGrade",
           "DEFAULT_TIMEOUT"]

#: Seconds one notebook may run before it is stopped and scored zero.
DEFAULT_TIMEOUT = 900
_SKIP = {".ipynb_checkpoints", "__pycache__", ".git"}


@dataclass
class NotebookGrade:
    """The grade of one learner's notebook for one lesson.

    ``scores`` maps each exercise key ("03.2") to ``(points, max_points)``; ``problem`` says why
    the notebook scored zero without being judged (missing, not a notebook, timed out...), else
    ``None``; ``seconds`` is the time it ran.
    """

    learner: str
    lesson: str
    scores: dict[str, tuple[int, int]] = field(default_factory=dict)
    problem: str | None = None
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(p for p, _ in self.scores.values())

    @property
    def max_points(self) -> int:
        return sum(m for _, m in self.scores.values())


# -- the course's exercises --------------------------------------------------------------------
def course_exercises(src: str | os.PathLike | None = None) -> dict[str, dict[str, int]]:
    """``{lesson file name: {exercise key: points}}`` from the check cells of the lessons.

    Points come from ``clipcourse.exercises.EXERCISES`` (1 for a key it does not know).
    Introduced in ``docs/instructor.md`` (Grading).
    """
    from .student import _default_src

    return _points(_check_cells(Path(src) if src is not None else _default_src()))


def _check_cells(src: Path) -> dict[str, dict[str, dict]]:
    """``{lesson file name: {exercise key: the course's check cell}}``."""
    from .student import _read_notebook, check_key

    return {path.name: {k: c for c in _read_notebook(path)["cells"] if (k := check_key(c))}
            for path in sorted(src.glob("*.ipynb"))}


def _points(checks: dict[str, dict[str, dict]]) -> dict[str, dict[str, int]]:
    """:func:`_check_cells`' answer -> ``{lesson file name: {exercise key: points}}``."""
    from .exercises import EXERCISES

    return {lesson: {k: EXERCISES[k].points if k in EXERCISES else 1 for k in cells}
            for lesson, cells in checks.items()}


# -- running one notebook ----------------------------------------------------------------------
def _prepare(path: Path, course_checks: dict[str, dict]) -> dict:
    """The learner's notebook as JSON, with each check cell restored from the course.

    Raises ``student.NotebookError`` (a ValueError) with a readable reason when the file is not
    a notebook.
    """
    from .student import _read_notebook, check_key

    nb = _read_notebook(path)
    for cell in nb["cells"]:
        key = check_key(cell)
        if key in course_checks:
            cell["source"] = course_checks[key]["source"]
    # nbformat 4 needs these; a notebook saved by an old tool may lack them
    nb.setdefault("metadata", {}).setdefault("kernelspec", {"name": "python3",
                                                            "display_name": "Python 3",
                                                            "language": "python"})
    nb.setdefault("nbformat", 4)
    nb.setdefault("nbformat_minor", 5)
    return nb


def _execute(notebook: str, out: str, timeout: float) -> int:
    """Run ``notebook`` in a fresh kernel and save it to ``out`` (the worker process).

    Every cell runs even after an error (a skipped exercise must not stop the checks after it);
    the whole notebook gets ``timeout`` seconds. Exit status 0 when it ran to the end, 3 when it
    timed out, 4 when the kernel could not run it.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    deadline = time.monotonic() + timeout

    def remaining(_cell) -> int:
        return max(1, int(deadline - time.monotonic()))

    client = NotebookClient(nb, timeout_func=remaining, allow_errors=True, kernel_name="python3",
                            startup_timeout=max(1, int(timeout)),
                            resources={"metadata": {"path": str(Path(notebook).parent)}})
    status = 0
    try:
        client.execute()
    except CellTimeoutError:
        status = 3
    except DeadKernelError:
        status = 4
    except RuntimeError:  # "Kernel didn't respond in N seconds": on a busy machine, a timeout
        if time.monotonic() < deadline - 1:
            raise
        status = 3
    nbformat.write(nb, out)
    return status


def _run(path: Path, workdir: Path, course_checks: dict[str, dict], timeout: float,
         env: dict) -> tuple[dict[str, bool], str | None, float]:
    """Execute one learner notebook in ``workdir``: ``(passed per key, problem, seconds)``."""
    from .exercises import RECORD_MIME
    from .student import check_key

    start = time.monotonic()
    try:
        nb = _prepare(path, course_checks)
    except (OSError, ValueError) as err:
        # NotebookError says "<path>: not a notebook: <why>"; the path is our scratch copy
        reason = str(err).removeprefix(f"{path}: ").removeprefix("not a notebook: ")
        return {}, f"not a notebook: {reason}", 0.0
    notebook = workdir / path.name
    executed = workdir / f".{path.stem}.executed.ipynb"
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    # The worker runs this file as a script, isolated (-I: neither its folder nor the learner's
    # is on sys.path), so it starts without importing torch (only _execute runs there: stdlib,
    # nbformat and nbclient); the kernel it starts imports clipcourse as a lesson does.
    command = [sys.executable, "-I", __file__, str(notebook), str(executed), str(timeout)]
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout + 60)  # the worker's own deadline first
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        return {}, f"timed out after {timeout:.0f} s (killed)", time.monotonic() - start
    seconds = time.monotonic() - start
    problem = {0: None, 3: f"timed out after {timeout:.0f} s",
               4: "the kernel died while running it"}.get(process.returncode)
    if process.returncode not in (0, 3, 4):
        tail = output.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        problem = f"failed to run: {tail[0][:200]}"
    passed: dict[str, bool] = {}
    try:
        ran = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return passed, problem or "failed to run: no executed notebook", seconds
    for cell in ran.get("cells", []):
        key = check_key(cell)
        if key not in course_checks:
            continue  # only the restored check cells count, never a record printed elsewhere
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(RECORD_MIME)
            if isinstance(record, dict) and record.get("exercise") == key:
                passed[key] = passed.get(key, False) or record.get("passed") is True
    return passed, problem, seconds


def _kill_tree(process: subprocess.Popen) -> None:
    """Stop the worker and every process it started (the kernel runs in its own session)."""
    try:
        import psutil
    except ImportError:
        psutil = None  # then the process group below is all we stop
    children = []
    if psutil is not None:
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:  # NoSuchProcess: the worker ended on its own
            children = []
    for child in children:
        try:
            child.kill()
        except psutil.Error:  # NoSuchProcess: already gone
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _default_jobs() -> int:
    from .threads import usable_cpus

    return usable_cpus()[0]  # (n, why): the affinity set, capped by a cgroup CPU quota


def _find(learner_dir: Path, lesson: str) -> Path | None:
    """The learner's copy of ``lesson``: the same name, else the one notebook with its number,
    in the folder or, failing that, anywhere below it (an nbgitpuller clone inside it)."""
    number = lesson.split("_", 1)[0] + "_"
    for found in (learner_dir.glob, learner_dir.rglob):
        candidates = [p for p in found("*.ipynb") if p.is_file()
                      and not any(part in _SKIP for part in p.relative_to(learner_dir).parts)]
        exact = [p for p in candidates if p.name == lesson]
        numbered = [p for p in candidates if p.name.startswith(number)]
        if len(exact) == 1:
            return exact[0]
        if len(numbered) == 1:
            return numbered[0]
    return None


def _kernel_env(scratch: Path) -> dict:
    env = dict(os.environ)
    env.update(CLIPCOURSE_MODEL="tiny-shapes", CLIPCOURSE_OFFLINE="1", MPLBACKEND="Agg",
               CLIPCOURSE_CACHE_DIR=str(scratch / "cache"), PYTHONHASHSEED="0")
    # Kernels share one folder of busy markers, so the CPU thread policy sees all of them.
    env.setdefault("CLIPCOURSE_CPU_DIR", str(Path(tempfile.gettempdir()) / "clipcourse-cpu"))
    env.pop("NBGRADER_EXECUTION", None)  # checks print verdicts; the grader reads them
    return env


def grade(dirs: Sequence[str | os.PathLike], *, src: str | os.PathLike | None = None,
          timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None,
          stream: TextIO | None = None) -> list[NotebookGrade]:
    """Run and score every lesson notebook of each learner folder in ``dirs``.

    Parameters
    ----------
    dirs : paths
        One folder per learner; the folder's name is the learner's name in the report.
    src : path, optional
        The course's lessons, which say which exercises each lesson has and hold the check
        cells that are restored (default: the course's ``notebooks/``).
    timeout : float
        Seconds per notebook.
    jobs : int, optional
        Notebooks run at once (default: the usable CPUs, one kernel per core).
    stream : text file, optional
        Where one progress line per notebook goes (default ``sys.stderr``).

    Returns
    -------
    list of NotebookGrade
        One per learner and lesson, in order.

    Examples
    --------
    >>> grades = cc.grading.grade(["submissions/ada", "submissions/alan"])  # doctest: +SKIP
    """
    from .student import _default_src

    stream = stream or sys.stderr
    src = Path(src) if src is not None else _default_src()
    checks = _check_cells(src)  # each lesson read once
    expected = _points(checks)
    jobs = max(1, jobs or _default_jobs())
    grades: list[NotebookGrade] = []
    work = []
    with tempfile.TemporaryDirectory(prefix="clipcourse-grade-") as scratch:
        scratch = Path(scratch)
        env = _kernel_env(scratch)
        folders = [Path(d) for d in dirs]
        names = [folder.resolve().name or str(folder) for folder in folders]
        for n, folder in enumerate(folders):
            # the folder's name, or its whole path when two learners' folders share a name
            learner = names[n] if names.count(names[n]) == 1 else str(folder)
            copy = scratch / f"{n:03d}-{learner}"
            problem = None
            if not folder.is_dir():
                problem = "not a folder" if folder.exists() else "no such folder"
            else:
                try:
                    shutil.copytree(folder, copy, symlinks=False,
                                    ignore=lambda d, names: [x for x in names if x in _SKIP])
                except (OSError, shutil.Error) as err:
                    problem = f"cannot be copied: {err}"
            for lesson, keys in expected.items():
                if not keys:
                    continue  # a lesson without checks has nothing to grade
                entry = NotebookGrade(learner, Path(lesson).stem,
                                      {k: (0, points) for k, points in keys.items()})
                grades.append(entry)
                if problem is not None:
                    entry.problem = f"{folder}: {problem}"
                    continue
                found = _find(copy, lesson)
                if found is None:
                    entry.problem = f"no {lesson} in {folder}"
                    continue
                work.append((entry, found, lesson))

        def run(item):
            entry, path, lesson = item
            return entry, _run(path, path.parent, checks[lesson], timeout, env)

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for entry, (passed, problem, seconds) in pool.map(run, work):
                entry.problem, entry.seconds = problem, seconds
                if problem is not None:
                    passed = {}  # timed out or did not run: zero, as the report says
                for key, ok in passed.items():
                    if key in entry.scores and ok:
                        entry.scores[key] = (entry.scores[key][1], entry.scores[key][1])
                print(f"graded {entry.learner}/{entry.lesson}: {entry.points}/{entry.max_points}"
                      f" in {seconds:.0f} s" + (f" ({problem})" if problem else ""), file=stream)
    return grades


# -- the report --------------------------------------------------------------------------------
def write_csv(grades: Iterable[NotebookGrade], path: str | os.PathLike) -> None:
    """One row per learner × exercise: ``learner, lesson, exercise, points, max_points``.

    Introduced in ``docs/instructor.md`` (Grading).
    """
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["learner", "lesson", "exercise", "points", "max_points"])
        for g in grades:
            for key, (points, max_points) in g.scores.items():
                writer.writerow([g.learner, g.lesson, key, points, max_points])


def print_table(grades: Sequence[NotebookGrade], stream: TextIO | None = None) -> None:
    """A short table: one row per learner, one column per lesson (points/max), a total, and
    then one line per notebook that could not be graded normally.

    Introduced in ``docs/instructor.md`` (Grading).
    """
    stream = stream or sys.stdout
    learners = list(dict.fromkeys(g.learner for g in grades))
    lessons = list(dict.fromkeys(g.lesson for g in grades))
    width = max([len("learner")] + [len(name) for name in learners])
    print(f"{'learner':<{width}}" + "".join(f"{lesson[:2]:>7}" for lesson in lessons)
          + f"{'total':>9}", file=stream)
    for learner in learners:
        row = {g.lesson: g for g in grades if g.learner == learner}
        cells = "".join(f"{row[l].points:>4}/{row[l].max_points:<2}" if l in row else f"{'':>7}"
                        for l in lessons)
        total = sum(g.points for g in row.values())
        most = sum(g.max_points for g in row.values())
        print(f"{learner:<{width}}{cells}{total:>6}/{most:<3}", file=stream)
    problems = [g for g in grades if g.problem]
    if problems:
        print("\nScored zero without being judged:", file=stream)
        for g in problems:
            print(f"  {g.learner}/{g.lesson}: {g.problem}", file=stream)


if __name__ == "__main__":  # the worker: python -I clipcourse/grading.py IN OUT TIMEOUT
    sys.exit(_execute(sys.argv[1], sys.argv[2], float(sys.argv[3])))
