"""Workshop tools for the lesson notebooks: student copies, solution checks, clean git.

``make_student_copies`` writes every lesson with its exercise solutions replaced by a stub and
all outputs cleared (``python -m clipcourse student OUT_DIR``). ``check_solutions`` checks that
every exercise of the source lessons has a solution between the markers, and that the markers
are balanced. ``strip_notebooks`` strips outputs and execution counts before a commit, but keeps
the reference output *and* execution count of each ``# NBVAL_CHECK_OUTPUT`` cell, which nbval
needs (``python -m clipcourse strip-notebooks FILE...``, the pre-commit hook).

The markers are nbgrader's, each alone on its line, in code or markdown cells::

    ### BEGIN SOLUTION
    answer = 42
    ### END SOLUTION

Lines before ``### BEGIN SOLUTION`` and after ``### END SOLUTION`` stay in the student copy.
A code solution becomes ``# YOUR CODE HERE`` (plus ``pass`` inside a block), not nbgrader's
``raise NotImplementedError()``: the exercise's answer variable, set to ``None`` on a line before
the markers, stays unanswered, and its check cell says so, so Run All goes on past a skipped
exercise. The copies carry nbgrader's cell metadata on solution and check cells
(:func:`add_nbgrader_metadata`), so they also work as an nbgrader assignment.

``make_student_copies`` never writes into its own source folder (or a folder inside it) and
never overwrites a notebook that holds solution markers: a lesson's solutions cannot be lost.

These functions work on the notebooks' JSON as plain dicts and write it back the way JupyterLab
does (``indent=1``, sorted keys, a final newline), so a stripped notebook that JupyterLab saves
again does not change. See ``docs/instructor.md``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterable, TextIO

__all__ = [
    "make_student_copies", "check_solutions", "strip_notebooks", "strip_notebook",
    "notebook_problems", "to_student", "add_nbgrader_metadata", "check_key", "SolutionMarkerError",
    "NotebookError", "StudentCopyError",
    "BEGIN_SOLUTION", "END_SOLUTION", "CHECK_OUTPUT_MARK", "CHECK_CALL", "CODE_STUB",
    "MARKDOWN_STUB",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
#: A code cell whose source contains this keeps its output: nbval compares against it.
CHECK_OUTPUT_MARK = "# NBVAL_CHECK_OUTPUT"
#: What a code solution becomes in the student copy. Not nbgrader's ``raise
#: NotImplementedError()``: a raise would stop Run All at the first skipped exercise, whose check
#: cell already says "not answered yet". Inside a block (an indented solution) ``pass`` follows.
CODE_STUB = "# YOUR CODE HERE"
#: What a markdown solution becomes in the student copy.
MARKDOWN_STUB = "*Your answer here.*"

#: Notebook metadata key recording the hash of the student copy as written.
_HASH_KEY = "student_hash"
_META_NS = "clipcourse"
# Notebook and cell metadata that only records a session (nbstripout strips the same keys).
_NOTEBOOK_NOISE = ("widgets", "signature")
_CELL_NOISE = ("collapsed", "scrolled", "ExecuteTime", "execution", "heading_collapsed", "hidden")
# Files of the lesson folder that are for the course's own tests, not for learners.
_NOT_ASSETS = {"sanitize.cfg"}
_SKIP_DIRS = {".ipynb_checkpoints", "__pycache__"}

_EXERCISE = re.compile(r"^\s{0,3}(#{1,6})\s+Exercise\b(.*)$", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_NEAR_MARKER = re.compile(r"(BEGIN|END)[ _]?SOLUTION", re.IGNORECASE)


class NotebookError(ValueError):
    """A file that should be a notebook is not one (not UTF-8, not JSON, or not shaped like a
    notebook); the message names the file and what is wrong."""


class StudentCopyError(ValueError):
    """Student copies cannot be written where asked (the output folder is the source, lies inside
    it, is a file, or would overwrite a lesson with solutions); nothing was written."""


class SolutionMarkerError(ValueError):
    """A cell's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers do not pair up.

    Raised rather than guessing where a solution ends, which could leak it to students.
    """


# -- reading and writing notebooks as JSON dicts ----------------------------------------------
def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)  # the list-of-lines form JupyterLab writes


def _dumps(nb: dict) -> str:
    """Serialise like JupyterLab and ``nbformat.write``: indent 1, sorted keys, final newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _read(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_notebook(path: Path) -> dict:
    """The notebook at ``path`` as a dict, or :class:`NotebookError` saying why it is not one."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise NotebookError(f"{path}: not a notebook: not UTF-8 text ({err.reason} at byte "
                            f"{err.start}); save it again from Jupyter") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotebookError(f"{path}: not a notebook: invalid JSON at line {err.lineno}, "
                            f"column {err.colno} ({err.msg})") from None
    problem = None
    if not isinstance(nb, dict):
        problem = f"the JSON is a {type(nb).__name__}, not an object"
    elif not isinstance(nb.get("cells"), list):
        problem = "it has no list of cells"
    elif not isinstance(nb.get("metadata", {}), dict):
        problem = "its metadata is not an object"
    else:
        for number, cell in enumerate(nb["cells"], 1):
            source = cell.get("source", "") if isinstance(cell, dict) else None
            if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
                problem = f"cell {number} is not a cell object"
            elif not (isinstance(source, str) or (isinstance(source, list)
                                                  and all(isinstance(s, str) for s in source))):
                problem = f"cell {number}'s source is neither text nor a list of lines"
            if problem:
                break
    if problem:
        raise NotebookError(f"{path}: not a notebook: {problem}")
    return nb


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_check_cell(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and CHECK_OUTPUT_MARK in _source(cell)


# -- solution regions --------------------------------------------------------------------------
def _solution_regions(text: str) -> tuple[list[tuple[int, int]], list[str]]:
    """Line ranges ``(begin, end)`` of the marker pairs in ``text``, and what is wrong with them.

    A marker is a line that is exactly ``### BEGIN SOLUTION`` or ``### END SOLUTION`` apart
    from indentation and trailing spaces. A line that looks like one but is not (``## BEGIN
    SOLUTION``, ``### Begin solution``) is reported, since it would silently not be removed.
    """
    regions, problems = [], []
    begin = None
    for number, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if begin is not None:
                problems.append(f"line {number + 1}: {BEGIN_SOLUTION} inside another solution "
                                f"(the one opened on line {begin + 1} has no {END_SOLUTION})")
            begin = number
        elif stripped == END_SOLUTION:
            if begin is None:
                problems.append(f"line {number + 1}: {END_SOLUTION} without a {BEGIN_SOLUTION}")
            else:
                regions.append((begin, number))
                begin = None
        elif _NEAR_MARKER.search(line):
            problems.append(f"line {number + 1}: {stripped!r} looks like a solution marker but "
                            f"is not exactly {BEGIN_SOLUTION!r} or {END_SOLUTION!r}")
    if begin is not None:
        problems.append(f"line {begin + 1}: {BEGIN_SOLUTION} without an {END_SOLUTION}")
    return regions, problems


def _replace_solutions(text: str, stub: str) -> str:
    """``text`` with each marker pair and what lies between replaced by ``stub``.

    The stub takes the indentation of its ``### BEGIN SOLUTION`` line, so a solution inside a
    function body stays valid Python.
    """
    regions, problems = _solution_regions(text)
    if problems:
        raise SolutionMarkerError("; ".join(problems))
    if not regions:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    start = 0
    for begin, end in regions:
        kept.extend(lines[start:begin])
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        stub_lines = stub.splitlines()
        if indent and stub == CODE_STUB:
            stub_lines.append("pass")  # a block needs a statement
        kept.extend(indent + stub_line if stub_line else "" for stub_line in stub_lines)
        start = end + 1
    kept.extend(lines[start:])
    result = "\n".join(kept)
    return result + "\n" if text.endswith("\n") else result


# -- student copies ----------------------------------------------------------------------------
def _clear_cell(cell: dict) -> None:
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    metadata = cell.get("metadata", {})
    for key in _CELL_NOISE:
        metadata.pop(key, None)


#: A check cell calls ``cc.exercises.check("NN.k", ...)``; group 1 is the exercise key.
CHECK_CALL = re.compile(r"""exercises\.check\(\s*["'](\d+\.\d+)["']""")
_NBGRADER_SCHEMA = 3  # nbgrader's cell metadata schema (nbgrader/nbgraderformat/v3)


def check_key(cell: dict) -> str | None:
    """The exercise key a code cell checks (``"03.2"``), or None if it is no check cell."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return None
    match = CHECK_CALL.search(_source(cell))
    return match.group(1) if match else None


def add_nbgrader_metadata(nb: dict, points: dict[str, int] | None = None) -> dict:
    """Mark solution and check cells with nbgrader's own cell metadata (in place; returns ``nb``).

    A check cell (``cc.exercises.check("NN.k", ...)``) becomes an autograded test cell:
    ``{"grade": true, "solution": false, "locked": true, "points": P, "grade_id":
    "check-NN-k", "schema_version": 3}``. A code cell with solution markers becomes a solution
    cell: ``{"grade": false, "solution": true, "locked": false, "grade_id": "solution-NN-k"}``,
    named after the check that follows it. nbgrader scores a test cell by whether it raised, and
    ``check`` raises only under nbgrader's autograder (``NBGRADER_EXECUTION``). ``points`` maps
    keys to points (default: ``clipcourse.exercises.EXERCISES``, else 1).
    """
    if points is None:
        from .exercises import EXERCISES

        points = {key: entry.points for key, entry in EXERCISES.items()}
    cells = nb.get("cells", [])
    pending: list[dict] = []  # solution cells waiting for their check
    used: set[str] = set()
    for number, cell in enumerate(cells, 1):
        key = check_key(cell)
        if key is not None:
            grade_id = f"check-{key.replace('.', '-')}"
            if grade_id in used:
                continue  # nbgrader needs unique ids: only the first check of a key is graded
            used.add(grade_id)
            cell.setdefault("metadata", {})["nbgrader"] = {
                "grade": True, "grade_id": grade_id, "locked": True,
                "points": points.get(key, 1), "schema_version": _NBGRADER_SCHEMA,
                "solution": False, "task": False}
            for solution in pending:
                solution["metadata"]["nbgrader"]["grade_id"] = f"solution-{key.replace('.', '-')}"
            pending = []
        elif cell.get("cell_type") == "code" and _solution_regions(_source(cell))[0]:
            cell.setdefault("metadata", {})["nbgrader"] = {
                "grade": False, "grade_id": f"solution-cell-{number}", "locked": False,
                "schema_version": _NBGRADER_SCHEMA, "solution": True, "task": False}
            pending.append(cell)
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
           if isinstance(c.get("metadata", {}).get("nbgrader"), dict)]
    for cell in cells:  # two solutions before one check: keep the ids unique
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and ids.count(meta["grade_id"]) > 1:
            meta["grade_id"] = f"{meta['grade_id']}-{cells.index(cell) + 1}"
    return nb


def to_student(nb: dict, name: str = "notebook") -> dict:
    """A student copy of the notebook ``nb`` (a JSON dict); ``nb`` itself is left unchanged.

    Solutions between the markers become :data:`CODE_STUB` in code cells and
    :data:`MARKDOWN_STUB` in markdown cells; every output and execution count is cleared, and
    widget state and session-only metadata are dropped. Solution and check cells carry
    nbgrader's metadata (:func:`add_nbgrader_metadata`), and check cells are read-only in
    JupyterLab (``editable`` and ``deletable`` false, as nbgrader locks its test cells).

    Raises
    ------
    SolutionMarkerError
        When a cell's markers do not pair up (``name`` and the cell number say where).
    """
    student = copy.deepcopy(nb)
    for key in _NOTEBOOK_NOISE:
        student.get("metadata", {}).pop(key, None)
    student.get("metadata", {}).pop(_META_NS, None)
    add_nbgrader_metadata(student)
    for number, cell in enumerate(student.get("cells", []), 1):
        if check_key(cell) is not None:
            cell.setdefault("metadata", {}).update(editable=False, deletable=False)
        stub = {"code": CODE_STUB, "markdown": MARKDOWN_STUB}.get(cell.get("cell_type"))
        if stub is not None:
            try:
                new = _replace_solutions(_source(cell), stub)
            except SolutionMarkerError as err:
                raise SolutionMarkerError(f"{name}, cell {number}: {err}") from None
            if new != _source(cell):
                _set_source(cell, new)
        _clear_cell(cell)
    return student


def _content_hash(nb: dict) -> str:
    """SHA-256 of the notebook's JSON without the recorded hash (key order and spacing ignored)."""
    nb = copy.copy(nb)
    metadata = dict(nb.get("metadata", {}))
    ours = dict(metadata.get(_META_NS, {}))
    ours.pop(_HASH_KEY, None)
    if ours:
        metadata[_META_NS] = ours
    else:
        metadata.pop(_META_NS, None)
    nb["metadata"] = metadata
    canonical = json.dumps(nb, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _with_hash(nb: dict) -> dict:
    nb.setdefault("metadata", {}).setdefault(_META_NS, {})[_HASH_KEY] = _content_hash(nb)
    return nb


def _edited(path: Path) -> bool:
    """Whether the student copy at ``path`` differs from what :func:`make_student_copies` wrote.

    A notebook that cannot be read, or carries no recorded hash, counts as edited: when in
    doubt, the learner's file is kept.
    """
    try:
        nb = _read(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True
    recorded = nb.get("metadata", {}).get(_META_NS, {}).get(_HASH_KEY)
    return recorded is None or recorded != _content_hash(nb)


def _default_src() -> Path:
    """The course's ``notebooks/`` next to this package (editable install), else ``./notebooks``."""
    beside_package = Path(__file__).resolve().parent.parent / "notebooks"
    return beside_package if beside_package.is_dir() else Path("notebooks")


def _assets(src: Path) -> list[Path]:
    """Files of the lesson folder other than notebooks that the lessons may open."""
    found = []
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        # Notebooks are never copied verbatim: they could hold solutions.
        if (not path.is_file() or path.suffix == ".ipynb"
                or path.name in _NOT_ASSETS or path.suffix == ".pyc"
                or any(part in _SKIP_DIRS or part.startswith(".") for part in relative.parts)):
            continue
        found.append(path)
    return found


def _has_solutions(path: Path) -> bool:
    """Whether the file at ``path`` holds a solution marker (read as bytes: any file counts)."""
    try:
        return path.is_file() and BEGIN_SOLUTION.encode() in path.read_bytes()
    except OSError:
        return False


def _check_output(src: Path, out: Path) -> None:
    """Refuse an output path that is the lesson folder, lies inside it, or is a file."""
    source, target = src.resolve(), out.resolve()
    if target == source:
        raise StudentCopyError(f"the output folder {out} is the lesson folder itself: the copies "
                               "would replace the lessons and their solutions. Choose another "
                               "folder, e.g. student/")
    if source in target.parents:
        raise StudentCopyError(f"the output folder {out} is inside the lesson folder {src}: each "
                               "run would copy the previous copies one level deeper. Choose a "
                               "folder outside it, e.g. student/")
    if out.exists() and not out.is_dir():
        raise StudentCopyError(f"the output path {out} is a file, not a folder")


def make_student_copies(src: str | os.PathLike | None = None,
                        out: str | os.PathLike = "student", force: bool = False, *,
                        stream: TextIO | None = None) -> dict[str, str]:
    """Write student copies of the lessons: solutions replaced by a stub, outputs cleared.

    Every ``*.ipynb`` of ``src`` is written to ``out`` through :func:`to_student`, and every
    other file under ``src`` (images, data the lessons open) is copied alongside, except the
    course's test configuration (``sanitize.cfg``) and hidden or checkpoint folders.

    Running it again refreshes a copy only if the learner has not changed it: each copy records
    a hash of itself in its metadata (``metadata.clipcourse.student_hash``), and a copy whose
    content no longer matches (edited, run, or saved by JupyterLab) is skipped with a message,
    unless ``force``. An asset that differs from the course's is likewise kept unless ``force``.
    Every file is written to a temporary file and renamed into place.

    Parameters
    ----------
    src : path, optional
        The lesson folder (default: the course's ``notebooks/``).
    out : path
        Where the copies go; created if missing.
    force : bool
        Overwrite copies and assets the learner changed.
    stream : text file, optional
        Where the one line per file goes (default ``sys.stdout``).

    Returns
    -------
    dict of str to str
        For each file, relative to ``out``: ``"written"`` (new), ``"updated"`` (an unchanged
        copy refreshed from a newer lesson), ``"unchanged"``, ``"skipped"`` (changed by the
        learner; kept) or ``"overwritten"`` (changed by the learner; replaced because of
        ``force``).

    Raises
    ------
    FileNotFoundError
        When ``src`` is missing or holds no notebook.
    StudentCopyError
        When ``out`` is ``src`` or inside it, is a file, cannot be written, or holds a lesson
        with solutions; nothing is written.
    NotebookError
        When a lesson is not a readable notebook (not UTF-8, not JSON, wrongly shaped).
    SolutionMarkerError
        When a lesson's solution markers do not pair up; nothing is written.

    Examples
    --------
    >>> cc.student.make_student_copies("notebooks", "student")  # doctest: +SKIP
    written    00_setup_and_first_look.ipynb
    ...

    Used by ``python -m clipcourse student OUT_DIR [--force]``; see ``docs/instructor.md``.
    """
    src = Path(src) if src is not None else _default_src()
    out = Path(out)
    stream = stream or sys.stdout
    if not src.is_dir():
        raise FileNotFoundError(f"the lesson folder {src} does not exist" if not src.exists()
                                else f"the lesson folder {src} is a file, not a folder")
    _check_output(src, out)
    lessons = sorted(src.glob("*.ipynb"))
    if not lessons:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src}")
    # Build every copy first, so a bad lesson leaves no half-written folder behind.
    copies = {path.name: _dumps(_with_hash(to_student(_read_notebook(path), path.name)))
              for path in lessons}
    for name in copies:
        if _has_solutions(out / name):
            raise StudentCopyError(
                f"{out / name} holds exercise solutions ({BEGIN_SOLUTION}): it is a lesson, not "
                "a student copy, and is never overwritten, not even with --force. Write the "
                "copies to another folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudentCopyError(f"cannot create the output folder {out}: "
                               f"{err.strerror or err}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise StudentCopyError(f"cannot write to the output folder {out} (read-only or not "
                               "yours); choose a folder you can write to")

    status: dict[str, str] = {}
    for name, text in copies.items():
        target = out / name
        if not target.exists():
            action = "written"
        elif _edited(target):
            action = "overwritten" if force else "skipped"
        elif target.read_text(encoding="utf-8") == text:
            action = "unchanged"
        else:
            action = "updated"
        if action in ("written", "updated", "overwritten"):
            _atomic_write(target, text)
        status[name] = action

    for asset in _assets(src):
        name = asset.relative_to(src).as_posix()
        target = out / name
        data = asset.read_bytes()
        if not target.exists():
            action = "written"
        elif target.read_bytes() == data:
            action = "unchanged"
        else:
            action = "overwritten" if force else "skipped"
        if action in ("written", "overwritten"):
            _atomic_write(target, data)
        status[name] = action

    for name, action in status.items():
        note = ""
        if action == "skipped":
            note = "  (changed since it was written: kept; --force overwrites it)"
        elif action == "overwritten":
            note = "  (changed since it was written: replaced because of --force)"
        print(f"{action:<11} {out / name}{note}", file=stream)
    skipped = sum(action == "skipped" for action in status.values())
    print(f"{len(copies)} lessons in {out}"
          + (f"; {skipped} file(s) kept because they were changed" if skipped else ""),
          file=stream)
    return status


# -- checking the source lessons ---------------------------------------------------------------
def _headings(text: str) -> list[tuple[int, int, bool, str]]:
    """``(line number, level, is_exercise, heading)`` per markdown heading outside code fences."""
    found, fenced = [], False
    for line_no, line in enumerate(text.splitlines()):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = _HEADING.match(line)
        if heading and line.strip() not in (BEGIN_SOLUTION, END_SOLUTION):
            found.append((line_no, len(heading.group(1)), bool(_EXERCISE.match(line)),
                          line.strip()))
    return found


def _lesson_problems(nb: dict, name: str) -> list[str]:
    problems: list[str] = []
    open_exercise: tuple[int, int, str] | None = None  # (level, cell number, heading)
    exercises = 0

    def close(reason: str) -> None:
        nonlocal open_exercise
        if open_exercise is not None:
            _, number, heading = open_exercise
            problems.append(f"{name}, cell {number}: {heading!r} has no solution before "
                            f"{reason} (add a code cell with {BEGIN_SOLUTION} / {END_SOLUTION})")
            open_exercise = None

    for number, cell in enumerate(nb.get("cells", []), 1):
        kind = cell.get("cell_type")
        text = _source(cell)
        if kind not in ("code", "markdown"):
            continue
        regions, marker_problems = _solution_regions(text)
        problems.extend(f"{name}, cell {number}: {p}" for p in marker_problems)
        if kind == "markdown":
            # A solution in the same cell counts only if it comes after the exercise heading.
            for line_no, level, is_exercise, heading in _headings(text):
                if any(begin <= line_no <= end for begin, end in regions):
                    continue  # a heading inside a markdown answer
                if open_exercise is not None and level <= open_exercise[0]:
                    close(f"the next heading {heading!r} (cell {number})")
                if is_exercise:
                    exercises += 1
                    open_exercise = (level, number, heading)
                    if any(begin > line_no for begin, _ in regions):
                        open_exercise = None
            if regions and open_exercise is not None and open_exercise[1] != number:
                open_exercise = None
        elif regions:
            open_exercise = None
    close("the end of the notebook")
    if exercises == 0:
        problems.append(f"{name}: no exercise (a markdown heading such as '### Exercise 1: ...'); "
                        "every lesson ends with at least one")
    return problems


def check_solutions(src: str | os.PathLike | None = None) -> list[str]:
    """Problems with the exercises and solution markers of the source lessons.

    Checks each notebook of ``src`` (a folder, or one ``.ipynb``):

    - every ``### BEGIN SOLUTION`` has its ``### END SOLUTION`` in the same cell, in that order,
      without nesting, and no line looks like a marker without being exactly one;
    - every markdown heading ``Exercise ...`` (any level, e.g. ``### Exercise 2: top-3``) is
      followed by a cell with a marker pair before the next heading of the same or a higher
      level (usually the next exercise) or the end of the notebook;
    - the lesson has at least one exercise.

    Parameters
    ----------
    src : path, optional
        The lesson folder or one notebook (default: the course's ``notebooks/``).

    Returns
    -------
    list of str
        One line per problem, naming the notebook and the 1-based cell number; empty if all is
        well.

    Examples
    --------
    >>> cc.student.check_solutions("notebooks")  # doctest: +SKIP
    []
    """
    src = Path(src) if src is not None else _default_src()
    paths = [src] if src.suffix == ".ipynb" else sorted(src.glob("*.ipynb"))
    problems: list[str] = []
    for path in paths:
        try:
            nb = _read(path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(f"{path.name}: cannot be read as a notebook: {err}")
            continue
        problems.extend(_lesson_problems(nb, path.name))
    return problems


# -- clean notebooks in git --------------------------------------------------------------------
def strip_notebook(nb: dict) -> dict:
    """The notebook ``nb`` (a JSON dict) as it should be committed; ``nb`` is left unchanged.

    Code cells lose their outputs and execution counts, except ``# NBVAL_CHECK_OUTPUT`` cells:
    they keep their outputs and their execution counts. nbval rejects a cell with outputs but no
    count, so a check cell whose count is missing (nbstripout removes it) gets its position
    among the check cells, 1, 2, 3... Widget state, the notebook signature and session-only cell
    metadata (``execution``, ``scrolled``, ``collapsed``, ``ExecuteTime``) are dropped. Cell ids
    and everything else are kept.
    """
    nb = copy.deepcopy(nb)
    for key in _NOTEBOOK_NOISE:
        nb.get("metadata", {}).pop(key, None)
    count = 0
    for cell in nb.get("cells", []):
        metadata = cell.get("metadata", {})
        for key in _CELL_NOISE:
            metadata.pop(key, None)
        if cell.get("cell_type") != "code":
            continue
        if _is_check_cell(cell) and cell.get("outputs"):
            count += 1
            if cell.get("execution_count") is None:
                cell["execution_count"] = count
            for output in cell["outputs"]:
                if (output.get("output_type") == "execute_result"
                        and output.get("execution_count") is None):
                    output["execution_count"] = cell["execution_count"]
        else:
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def notebook_problems(nb: dict) -> list[str]:
    """Why the notebook ``nb`` (a JSON dict) is not clean enough to commit; empty if it is.

    The rules of ``tests/test_notebooks_clean.py``: no outputs or execution counts except in
    ``# NBVAL_CHECK_OUTPUT`` cells, which must have both (nbval silently passes a check cell
    without a stored output, and rejects outputs without an execution count); no widget state;
    kernelspec ``python3``.
    """
    problems = []
    if "widgets" in nb.get("metadata", {}):
        problems.append("notebook metadata holds widget state ('widgets'); strip it")
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec name is {kernel!r}, not 'python3'")
    for number, cell in enumerate(nb.get("cells", []), 1):
        if cell.get("cell_type") != "code":
            continue
        outputs, count = cell.get("outputs", []), cell.get("execution_count")
        if _is_check_cell(cell):
            if not outputs:
                problems.append(f"cell {number} ({CHECK_OUTPUT_MARK}) has no stored output: "
                                "nbval would compare nothing; run it and save")
            if count is None:
                problems.append(f"cell {number} ({CHECK_OUTPUT_MARK}) has no execution count: "
                                "nbval fails with 'Unrun reference cell has outputs'")
        else:
            if outputs:
                problems.append(f"cell {number} has {len(outputs)} output(s)")
            if count is not None:
                problems.append(f"cell {number} has execution count {count}")
    return problems


def strip_notebooks(files: Iterable[str | os.PathLike], *,
                    stream: TextIO | None = None) -> int:
    """Strip each notebook in ``files`` in place with :func:`strip_notebook`.

    A file is rewritten (atomically) only if stripping changes it. Prints ``stripped PATH`` for
    each rewritten file and a ``PATH: ...`` line for each problem stripping cannot fix (a check
    cell that was never run, or a notebook that is not valid JSON).

    Returns
    -------
    int
        0 when every file is clean now, 1 when a problem remains (the exit status of
        ``python -m clipcourse strip-notebooks FILE...``, the pre-commit hook).
    """
    stream = stream or sys.stdout
    status = 0
    for file in files:
        path = Path(file)
        try:
            raw = path.read_text(encoding="utf-8")
            nb = json.loads(raw)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            print(f"{path}: cannot be read as a notebook: {err}", file=stream)
            status = 1
            continue
        clean = strip_notebook(nb)
        text = _dumps(clean)
        if text != raw:
            _atomic_write(path, text)
            print(f"stripped {path}", file=stream)
        for problem in notebook_problems(clean):
            print(f"{path}: {problem}", file=stream)
            status = 1
    return status
