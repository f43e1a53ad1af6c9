"""The exercise self-checks (clipcourse.exercises): one per exercise, verdicts, never a traceback."""

import ast
import builtins
import json
import math
import re
from pathlib import Path

import pytest
import torch

from clipcourse import exercises, student

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXERCISE_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+Exercise\s+(\d+)", re.MULTILINE)


def cells_of(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


# -- every exercise has its check --------------------------------------------------------------
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_every_exercise_has_one_check_after_its_solution(path):
    """Count the exercise headings, the solution cells and the check cells: one each, in order,
    the check right after its solution, keyed by this lesson's number and the exercise's."""
    number = path.name[:2]
    cells = cells_of(path)
    headings = [int(n) for c in cells if c["cell_type"] == "markdown"
                for n in EXERCISE_HEADING.findall(source(c))]
    solutions = [i for i, c in enumerate(cells)
                 if c["cell_type"] == "code" and student.BEGIN_SOLUTION in source(c)]
    checks = [(i, student.check_key(c)) for i, c in enumerate(cells) if student.check_key(c)]
    assert headings, f"{path.name} has no exercise"
    assert len(solutions) == len(headings), f"{path.name}: one code solution per exercise"
    assert [key for _, key in checks] == [f"{number}.{n}" for n in headings], (
        f"{path.name}: a check cell cc.exercises.check('{number}.k', ...) after each exercise")
    for solution, (check, key) in zip(solutions, checks):
        assert check == solution + 1, f"{path.name}: the check of {key} follows its solution cell"
        assert key in exercises.EXERCISES, f"{key} has no judge in clipcourse/exercises.py"


def test_every_judge_is_used_by_a_lesson():
    used = {student.check_key(c) for path in LESSONS for c in cells_of(path)} - {None}
    assert set(exercises.EXERCISES) <= used | _lessons_not_written_yet()


def _lessons_not_written_yet():
    """Keys of lessons that have no notebook in this checkout (none, once all are written)."""
    present = {path.name[:2] for path in LESSONS}
    return {key for key in exercises.EXERCISES if key[:2] not in present}


def _assigned_names(code):
    """Names a cell of (I)Python code binds, ignoring magics and shell lines."""
    lines = [line[: len(line) - len(line.lstrip())] + "pass"
             if line.lstrip().startswith(("!", "%")) else line for line in code.splitlines()]
    tree = ast.parse("\n".join(lines))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _loaded_names(code):
    """Names a cell reads that it does not bind itself (anywhere in the cell: assignments,
    arguments, comprehension and loop variables, imports). Magics and shell lines are skipped."""
    lines = [line[: len(line) - len(line.lstrip())] + "pass"
             if line.lstrip().startswith(("!", "%")) else line for line in code.splitlines()]
    tree = ast.parse("\n".join(lines))
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    return loaded - bound - _assigned_names(code)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_the_student_copy_only_uses_names_it_defines(path):
    """In the student copy every solution is gone: a cell that reads a name only a solution
    defines would end Run All with a NameError. Checked statically for every cell of every
    lesson (tests/test_grading.py runs a few untouched copies for real)."""
    copy = student.to_student(json.loads(path.read_text(encoding="utf-8")), path.name)
    defined = set(dir(builtins)) | {"get_ipython", "display", "In", "Out"}
    for cell in copy["cells"]:
        if cell["cell_type"] != "code":
            continue
        code = source(cell)
        used = _loaded_names(code)
        where = (f"check {student.check_key(cell)}" if student.check_key(cell)
                 else f"cell {code.strip().splitlines()[0][:50]!r}" if code.strip() else "a cell")
        assert used <= defined, (f"{path.name}: {where} uses {sorted(used - defined)}, which "
                                 "only a solution defines")
        defined |= _assigned_names(code)


# -- verdicts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(exercises.EXERCISES))
def test_a_missing_or_odd_answer_gets_a_verdict_not_a_traceback(key):
    for answer in (None, ..., {}, [], (None, None)):
        verdict = exercises.judge(key, answer)
        assert not verdict.passed and not verdict.answered and "not answered yet" in str(verdict)
    for answer in ("forty-two", 42, {"x": object()}, [object()] * 3, (1, 2, 3)):
        verdict = exercises.judge(key, answer)  # the givens are missing, too
        assert not verdict.passed and verdict.answered and verdict.points == 0
        assert verdict.message.startswith(f"Exercise {key} (")


def test_check_displays_and_raises_only_under_nbgrader(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert exercises.check("03.2", None) is None  # no Out[] value (nbgrader: partial credit)
    assert "not answered yet" in capsys.readouterr().out
    exercises.check("03.2", 0.5)  # wrong arguments: still a verdict
    assert "Exercise 03.2" in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="not answered yet"):
        exercises.check("03.2", None)


def test_an_unknown_exercise_is_a_verdict():
    verdict = exercises.judge("42.9", 1.0)
    assert not verdict.passed and "no such check" in verdict.message


def _top3(probs, labels, targets):
    index = torch.tensor([labels.index(t) for t in targets])
    return (probs.topk(3, dim=-1).indices == index[:, None]).any(dim=-1).float().mean().item()


def test_top3_accuracy_is_judged_by_its_value():
    g = torch.Generator().manual_seed(0)
    labels = [f"class {i}" for i in range(6)]
    probs = torch.randn(50, 6, generator=g).softmax(dim=-1)
    targets = [labels[i] for i in torch.randint(0, 6, (50,), generator=g).tolist()]
    given = dict(probs=probs, labels=labels, targets=targets)
    right = _top3(probs, labels, targets)
    assert exercises.judge("03.2", right, **given).passed
    assert exercises.judge("03.2", torch.tensor(right), **given).passed  # a tensor is fine
    assert exercises.judge("03.2", right + 0.004, **given).passed  # within half an image
    wrong = exercises.judge("03.2", right * 100, **given)  # a percentage, not a fraction
    assert not wrong.passed and "fraction" in wrong.message
    top1 = (probs.argmax(dim=-1) == torch.tensor([labels.index(t) for t in targets]))
    assert not exercises.judge("03.2", top1.float().mean().item(), **given).passed


def test_temperature_exercise_is_judged_by_its_numbers():
    g = torch.Generator().manual_seed(1)
    raw_images, raw_texts = torch.randn(24, 16, generator=g), torch.randn(24, 16, generator=g)
    given = dict(raw_images=raw_images, raw_texts=raw_texts, scale=50.0)
    results = {}
    for factor in (0.0001, 0.001, 0.01, 1.0):
        p = (50.0 * (factor * raw_images) @ raw_texts.T).softmax(dim=-1)
        results[factor] = ((p.argmax(dim=-1) == torch.arange(24)).sum().item(),
                           p.max(dim=-1).values.mean().item())
    assert exercises.judge("00.1", results, **given).passed
    scaled_after = {f: (c, min(1.0, t * f)) for f, (c, t) in results.items()}
    verdict = exercises.judge("00.1", scaled_after, **given)
    assert not verdict.passed and "Hint:" in verdict.message
    assert not exercises.judge("00.1", {0.01: results[0.01]}, **given).passed  # factors missing


def test_temperature_scan_accepts_any_grid_but_not_a_late_scale():
    column = torch.tensor([0.30, 0.25, 0.20, 0.10])
    similarity = torch.stack([column, column.flip(0)], dim=1)  # [4 texts, 2 images]
    scales = torch.logspace(0, 2, 200)
    top = torch.stack([(s * column).softmax(dim=-1).max() for s in scales])
    first = scales[(top > 0.9).nonzero()[0, 0]].item()
    assert exercises.judge("02.2", first, similarity=similarity).passed
    finer = min(s for s in torch.logspace(0, 2, 2000).tolist()
                if (s * column).softmax(dim=-1).max() > 0.9)
    assert exercises.judge("02.2", finer, similarity=similarity).passed
    assert not exercises.judge("02.2", first * 1.5, similarity=similarity).passed
    assert not exercises.judge("02.2", math.inf, similarity=similarity).passed
    flat = torch.zeros(4, 2)  # no scale makes a flat column confident
    assert exercises.judge("02.2", math.inf, similarity=flat).passed
    assert not exercises.judge("02.2", 50.0, similarity=flat).passed


def test_a_loss_function_is_judged_by_what_it_returns():
    from clipcourse.train import clip_loss

    assert exercises.judge("06.1", clip_loss).passed

    def one_hot_only(logits, targets):  # ignores the targets: right for one-hot, wrong for soft
        labels = torch.arange(len(logits))
        return (torch.nn.functional.cross_entropy(logits, labels)
                + torch.nn.functional.cross_entropy(logits.T, labels)) / 2

    verdict = exercises.judge("06.1", one_hot_only)
    assert not verdict.passed and "soft targets" in verdict.message
    assert not exercises.judge("06.1", 3.0).passed  # not a function


def test_a_frozen_scale_run_is_judged_by_its_history_and_bound():
    from types import SimpleNamespace

    targets = torch.eye(8)
    targets[0, 1] = targets[1, 0] = 1.0  # two captions of the same content
    k = targets[:4, :4].sum(dim=1)
    bound = torch.log(k + (4 - k) * math.exp(-2)).mean().item()
    frozen = SimpleNamespace(history={"loss": [2.0], "logit_scale": [1.0, 1.0]})
    given = dict(targets=targets, batch_size=4)
    assert exercises.judge("06.2", (frozen, bound), **given).passed
    learned = SimpleNamespace(history={"loss": [1.0], "logit_scale": [1.0, 14.2]})
    assert "requires_grad_(False)" in exercises.judge("06.2", (learned, bound), **given).message
    assert not exercises.judge("06.2", (frozen, k.log().mean().item()), **given).passed
