"""Lesson checks that ride along nbval's run of each lesson: its claims and its figures.

nbval executes a lesson cell by cell in one kernel (one pytest item per code cell). This plugin
adds two kinds of items to that run, in the same kernel, at (nearly) no extra cost:

**Claims.** ``tests/claims/<lesson stem>.py`` defines ``CLAIMS``, a dict from a sentence of the
lesson (a fragment that occurs verbatim, up to line breaks, in one markdown cell or in the
comments of one code cell) to a Python expression over the lesson's variables that is true
exactly when the output supports the sentence::

    CLAIMS = {
        "Matched pairs score well above unmatched ones.": "matched.mean() > unmatched.mean() + 0.3",
    }

Claims describe the lesson's outputs on the bundled model (what ``make test`` runs): in a
lesson whose ``model`` is another one (a real CLIP, the random stand-in of
``tests/test_real_clip_cells.py``) they are skipped. The claim is checked *at its sentence*: right before the markdown cell that holds it (so in the
state the learner reads it in), or right after the code cell whose comment holds it. A sentence
that announces the output of a cell below it names that cell instead:
``{"check": "...", "after": "<code cell id>"}``. The
expression is evaluated in the kernel as an IPython ``user_expression``: nothing is printed,
no variable is added, the execution count does not move. A false (or failing) expression fails
the item, quoting the sentence and the value of every operand of each comparison; a sentence
that no longer occurs in the lesson fails too, so an edit of the prose forces an edit of its
claim.

**Figures.** A code cell *draws* when its source calls ``cc.plots.<name>(`` or ``plt.<name>(``.
After such a cell, an item checks that its outputs hold an image (``image/png``, or
``image/svg+xml``), unless it is a real-CLIP-only cell that printed its "[real CLIP only]"
notice. Lesson kernels start with the inline backend a learner's kernel uses
(``MPLBACKEND=module://matplotlib_inline.backend_inline``), whatever ``MPLBACKEND`` the test
process has, so a figure that silently vanished fails.

**Exercises.** After a code cell that calls ``cc.exercises.check(``, an item checks that the
verdict it displayed (the ``clipcourse.exercises.RECORD_MIME`` record) says *passed*: in the
lesson every solution is filled in, so each self-check must accept it. (``python -m clipcourse
grade`` reads the same records; ``tests/test_grading.py`` grades a few lessons end to end.)
Like claims, these describe the bundled model's run and are skipped on another model.

Loaded by the repository's root ``conftest.py``; CONTRIBUTING.md ("Claims and figures under
test") is the contributor's guide.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from pathlib import Path
from queue import Empty

import pytest

CLAIMS_DIR = Path(__file__).resolve().parent / "claims"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: A cell draws when it calls one of these (``cc.plots.image_grid(...)``, ``plt.plot(...)``).
DRAWS = re.compile(r"(?<![\w.])(?:cc\.plots|plots|plt)\.\w+\s*\(")
REAL_CLIP_ONLY = "[real CLIP only]"
#: A cell checks an exercise when it calls ``cc.exercises.check(``.
CHECKS = re.compile(r"(?<![\w.])(?:cc\.)?exercises\.check\s*\(")
RECORD_MIME = "application/vnd.clipcourse.check+json"  # clipcourse.exercises.RECORD_MIME
REPLY_TIMEOUT_S = 60


# -- reading a lesson and its claims ------------------------------------------------------------
def squash(text: str) -> str:
    """Whitespace-insensitive form: lesson prose is wrapped at 100 columns, claims are not."""
    return " ".join(text.split())


def comment_text(source: str) -> str:
    """The comments of a code cell, joined (a claim may quote a solution's comment)."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        comments = [tok.string for tok in tokens if tok.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError, IndentationError):  # IPython syntax: ! and %
        comments = re.findall(r"#.*$", source, flags=re.MULTILINE)
    return " ".join(comment.lstrip("#").strip() for comment in comments)


def cell_prose(cell) -> str:
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return squash(source if cell["cell_type"] == "markdown" else comment_text(source))


def draws(cell) -> bool:
    return cell["cell_type"] == "code" and bool(DRAWS.search(cell["source"]))


def checks_exercise(cell) -> bool:
    return cell["cell_type"] == "code" and bool(CHECKS.search(cell["source"]))


def load_claims(lesson: Path, folder: Path = CLAIMS_DIR) -> dict:
    """The ``CLAIMS`` of ``tests/claims/<lesson stem>.py`` ({} when there is no such file)."""
    path = folder / f"{lesson.stem}.py"
    if not path.exists():
        return {}
    namespace: dict = {"__file__": str(path)}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    claims = namespace.get("CLAIMS")
    if not isinstance(claims, dict):
        raise ValueError(f"{path}: CLAIMS must be a dict of sentence -> check")
    checked = {}
    for sentence, value in claims.items():
        check, after = (value, None) if isinstance(value, str) else (
            value.get("check"), value.get("after")) if isinstance(value, dict) else (None, None)
        if not isinstance(sentence, str) or not isinstance(check, str):
            raise ValueError(f"{path}: {sentence!r}: a check is an expression (a string) or "
                             '{"check": expression, "after": "<code cell id>"}')
        try:
            ast.parse(f"(\n{check}\n)", mode="eval")
        except SyntaxError as err:
            raise ValueError(f"{path}: the check of {sentence!r} is not an expression: {err}")
        checked[sentence] = (check, after)
    return checked


def locate(cells, sentence: str) -> list[int]:
    """Indices of the cells whose prose holds ``sentence``."""
    wanted = squash(sentence)
    return [i for i, cell in enumerate(cells) if wanted in cell_prose(cell)]


def operands(check: str) -> list[str]:
    """The source of each non-constant operand of each comparison in ``check``, in order."""
    tree = ast.parse(f"(\n{check}\n)", mode="eval")
    found = []
    scoped = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

    def visit(node):
        if isinstance(node, scoped):  # its names are bound inside: nothing to evaluate alone
            return
        if isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                text = ast.unparse(part)
                if not isinstance(part, ast.Constant) and text not in found:
                    found.append(text)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree.body)
    if not found and not isinstance(tree.body, (ast.Constant, *scoped)):
        found.append(ast.unparse(tree.body))
    return found


# -- talking to nbval's kernel ------------------------------------------------------------------
def evaluate(kernel, expressions: dict) -> dict:
    """Evaluate ``{key: expression}`` in the lesson's kernel, silently; ``{key: (ok, text)}``.

    One ``execute_request`` with empty code and ``user_expressions``: IPython evaluates them in
    the user namespace and replies with each value's ``repr`` or the error. Nothing is printed
    and the execution count does not move, so nbval's output checks of later cells see nothing.
    """
    msg_id = kernel.kc.execute("", silent=True, store_history=False,
                               user_expressions=expressions, allow_stdin=False)
    while True:
        reply = kernel.kc.get_shell_msg(timeout=REPLY_TIMEOUT_S)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    results = {}
    for key, value in reply["content"].get("user_expressions", {}).items():
        if value.get("status") == "ok":
            results[key] = (True, value["data"].get("text/plain", ""))
        else:
            results[key] = (False, f"{value.get('ename')}: {value.get('evalue')}")
    for key in expressions:
        results.setdefault(key, (False, "no reply from the kernel"))
    try:  # drop this request's busy/idle status messages now, so they never pile up
        kernel.await_idle(msg_id, 5)
    except Empty:
        pass
    return results


def _wrapped(expression: str) -> str:
    return f"(\n{expression}\n)"


class LessonCheck(pytest.Item):
    """Something checked in the lesson's kernel, right after the code cell ``after``."""

    def __init__(self, *, after=None, **kwargs):
        super().__init__(**kwargs)
        self.after = after  # the nbval cell item it follows (None: before the first cell)

    def _kernel(self):
        kernel = self.parent.kernel
        if kernel is None or not kernel.is_alive():
            pytest.skip("the lesson's kernel is not running")
        return kernel

    def _skip_unless_bundled_model(self, kernel, what):
        model = getattr(self.parent, "_lesson_checks_model", None)
        if model is None:  # once per lesson: which model it runs on
            model = evaluate(kernel, {"m": "getattr(globals().get('model'), 'name', '')"})["m"][1]
            self.parent._lesson_checks_model = model
        if model not in ("''", "'tiny-shapes'", ""):
            pytest.skip(f"{what} describe the bundled model's outputs; this run uses {model}")

    def _outputs_after(self):
        """The outputs of the code cell this check follows (skips if it did not run)."""
        if self.after.test_outputs is None:
            pytest.skip(f"{self.after.name} did not run")
        return self.after.test_outputs

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ClaimFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def _skip_if_the_lesson_broke(self):
        failed = getattr(self.parent, "_lesson_checks_failed_cells", [])
        if failed:
            pytest.skip(f"not checked: {failed[0]} failed earlier in the lesson")

    def reportinfo(self):
        return self.path, None, self.name


class ClaimCheck(LessonCheck):
    def __init__(self, *, sentence, check, problem=None, **kwargs):
        super().__init__(**kwargs)
        self.sentence, self.check, self.problem = sentence, check, problem

    def runtest(self):
        if self.problem:
            raise ClaimFailed(self.problem)
        self._skip_if_the_lesson_broke()
        kernel = self._kernel()
        self._skip_unless_bundled_model(kernel, "claims")
        ok, value = evaluate(kernel, {"claim": f"bool{_wrapped(self.check)}"})["claim"]
        if ok and value == "True":
            return
        lines = [f"{self.path.name}: the output no longer supports the sentence",
                 f'    "{squash(self.sentence)}"',
                 f"  check: {squash(self.check)}",
                 f"  gives: {value}"]
        parts = operands(self.check)
        shown = evaluate(kernel, {str(i): part for i, part in enumerate(parts)})
        for i, part in enumerate(parts):
            text = squash(shown[str(i)][1])
            lines.append(f"    {part} = {text if len(text) <= 160 else text[:159] + '…'}")
        lines.append(f"  (claims: {_claims_file(self.config, self.path)}; fix the sentence, or the "
                     "claim if it checks the wrong thing)")
        raise ClaimFailed("\n".join(lines))


class FigureCheck(LessonCheck):
    def runtest(self):
        cell, outputs = self.after, self._outputs_after()
        images = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")
                  and any(k in o.get("data", {}) for k in ("image/png", "image/svg+xml"))]
        if images:
            return
        text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        if REAL_CLIP_ONLY in text:
            pytest.skip("a real-CLIP-only cell, run on another model")
        raise ClaimFailed(
            f"{self.path.name}, {cell.name}: the cell draws (it calls cc.plots or plt) but shows "
            f"no image. Outputs: {[sorted(o.get('data', {})) or o.get('output_type') for o in outputs]}."
            "\n  End the cell with the figure call (a trailing `;` is fine: the inline backend "
            "shows pyplot figures at the end of the cell).")


class ExerciseCheck(LessonCheck):
    """The lesson's own solution passes the self-check cell ``after``."""

    def runtest(self):
        cell, outputs = self.after, self._outputs_after()
        self._skip_unless_bundled_model(self._kernel(), "solution checks")
        records = [o["data"][RECORD_MIME] for o in outputs if RECORD_MIME in o.get("data", {})]
        if not records:
            raise ClaimFailed(f"{self.path.name}, {cell.name}: the cell calls cc.exercises.check "
                              "but displayed no verdict record")
        failed = [r for r in records if not r.get("passed")]
        if failed:
            text = " ".join(o.get("data", {}).get("text/plain", "") for o in outputs)
            raise ClaimFailed(
                f"{self.path.name}, {cell.name}: the lesson's own solution fails exercise "
                f"{failed[0].get('exercise')}'s self-check:\n    {squash(text)}\n  fix the "
                "solution, or the judge in clipcourse/exercises.py if it checks the wrong thing")


class ClaimFailed(AssertionError):
    pass


# -- pytest hooks -----------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--claims-dir", default=str(CLAIMS_DIR),
                     help="folder of the lessons' claim files, <lesson stem>.py "
                          "(default: tests/claims)")


def _claims_file(config, lesson: Path) -> str:
    path = Path(config.getoption("claims_dir")) / f"{lesson.stem}.py"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell")


def _short(sentence: str, n: int = 60) -> str:
    text = squash(sentence).rstrip(".:;,")  # a trailing "." reads as a path in pytest's ids
    return text if len(text) <= n else text[: n - 1] + "…"


def pytest_collection_modifyitems(session, config, items):
    by_file: dict = {}
    for item in items:
        if _is_nbval_cell(item):
            by_file.setdefault(item.parent, []).append(item)
    extra: dict = {}  # cell item (or the file, for "before its first cell") -> items after it
    for notebook, cell_items in by_file.items():
        cells = notebook.nb.cells
        # code cell index in the notebook -> its nbval item
        item_at = {}
        code_positions = [i for i, c in enumerate(cells) if c.cell_type == "code"]
        for cell_item in cell_items:
            item_at[code_positions[cell_item.cell_num]] = cell_item

        def item_before(index):
            """The nbval item of the last code cell before cell ``index`` (None: none)."""
            earlier = [i for i in item_at if i < index]
            return item_at[max(earlier)] if earlier else None

        path = Path(str(notebook.fspath))
        try:
            claims = load_claims(path, Path(config.getoption("claims_dir")))
        except ValueError as err:
            claims, broken = {}, str(err)
        else:
            broken = None
        if broken:
            extra.setdefault(notebook, []).append(ClaimCheck.from_parent(
                notebook, name="claims file", sentence="", check="True", problem=broken))
        ids = {cell.get("id"): i for i, cell in enumerate(cells)}
        for n, (sentence, (check, after)) in enumerate(claims.items(), 1):
            where = locate(cells, sentence)
            name = f"claim {n}: {_short(sentence)}"
            problem = None
            if after is not None and ids.get(after) not in item_at and len(where) == 1:
                problem = (f"{path.name}: the claim on\n    \"{squash(sentence)}\"\n  is checked "
                           f"after cell id {after!r}, which is not a code cell of the lesson, in "
                           f"{_claims_file(config, path)}")
                anchor = cell_items[-1]
            elif after is not None and len(where) == 1:
                anchor = item_at[ids[after]]
            elif len(where) != 1:
                problem = (
                    f'{path.name}: the claimed sentence\n    "{squash(sentence)}"\n  '
                    + ("no longer occurs in the lesson (its markdown or code comments): update "
                       "the claim with the sentence" if not where else
                       f"occurs in {len(where)} cells ({where}): quote more of it")
                    + f", in {_claims_file(config, path)}")
                anchor = cell_items[-1]
            elif cells[where[0]].cell_type == "code":
                anchor = item_at.get(where[0], cell_items[-1])
            else:
                anchor = item_before(where[0])
            check_item = ClaimCheck.from_parent(notebook, name=name, sentence=sentence,
                                                check=check, problem=problem, after=anchor)
            extra.setdefault(anchor if anchor is not None else notebook, []).append(check_item)
        for index, cell_item in sorted(item_at.items()):
            if draws(cells[index]):
                extra.setdefault(cell_item, []).append(FigureCheck.from_parent(
                    notebook, name=f"{cell_item.name} shows its figure", after=cell_item))
            if checks_exercise(cells[index]):
                extra.setdefault(cell_item, []).append(ExerciseCheck.from_parent(
                    notebook, name=f"{cell_item.name} solution passes its check", after=cell_item))
    if not extra:
        return
    ordered = []
    for item in items:
        if _is_nbval_cell(item) and item.cell_num == 0:
            ordered.extend(extra.get(item.parent, []))
        ordered.append(item)
        ordered.extend(extra.get(item, []))
    items[:] = ordered


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Start lesson kernels with the inline backend, as a learner's kernel has it."""
    notebook = item.parent if (_is_nbval_cell(item) or isinstance(item, LessonCheck)) else None
    if notebook is None or getattr(notebook, "kernel", None) is not None:
        yield
        return
    before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND  # the kernel copies the environment at launch
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = before


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _is_nbval_cell(item) and report.failed:
        failed = item.parent.__dict__.setdefault("_lesson_checks_failed_cells", [])
        failed.append(item.name)
