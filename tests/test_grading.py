"""Grading learners' notebooks (clipcourse.grading, ``python -m clipcourse grade``).

The tests that execute notebooks are ``slow``: each notebook starts a kernel. The real-lesson
test grades three learners in one call (a lesson itself, its untouched student copy, and a copy
with one exercise solved), in parallel as far as the cores allow. One short lesson is enough to
test the grader end to end; that *every* lesson's solutions pass their checks is
tested in nbval's run of the lessons (``tests/lesson_checks.py``), and that every untouched copy
defines the names its cells use, statically (``tests/test_exercises.py``).
"""

import csv
import hashlib
import io
import json
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from clipcourse import exercises, grading, student
from clipcourse.cli import main as cli_main

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

SETUP = """\
import clipcourse as cc
import torch

probs = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])  # [2 images, 4 labels]
labels, targets = ["a", "b", "c", "d"], ["d", "d"]  # top-3: wrong for image 0, right for 1
similarity = torch.tensor([[0.30, 0.1], [0.25, 0.1], [0.20, 0.1], [0.10, 0.1]])  # [4, 2]
"""
SOLUTION_1 = """\
top3_accuracy = None  # your answer
### BEGIN SOLUTION
index = torch.tensor([labels.index(t) for t in targets])
top3_accuracy = (probs.topk(3, dim=-1).indices == index[:, None]).any(dim=-1).float().mean().item()
### END SOLUTION
"""
CHECK_1 = ('cc.exercises.check("03.2", top3_accuracy, probs=probs, labels=labels, '
           'targets=targets)')
SOLUTION_2 = """\
hot_scale = None  # your answer
### BEGIN SOLUTION
scales = torch.logspace(0, 2, 200)
top = torch.stack([(s * similarity[:, 0]).softmax(dim=-1).max() for s in scales])
hot_scale = scales[(top > 0.9).nonzero()[0, 0]].item()
### END SOLUTION
"""
CHECK_2 = 'cc.exercises.check("02.2", hot_scale, similarity=similarity)'


def fake_lesson():
    nb = new_notebook(cells=[
        new_markdown_cell("# 03 · A small lesson"), new_code_cell(SETUP),
        new_markdown_cell("### Exercise 1: top-3"), new_code_cell(SOLUTION_1),
        new_code_cell(CHECK_1),
        new_markdown_cell("### Exercise 2: hot"), new_code_cell(SOLUTION_2),
        new_code_cell(CHECK_2)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def scores(grades):
    return {(g.learner, key): points for g in grades for key, (points, _) in g.scores.items()}


# -- a small course: every way a notebook can be graded ----------------------------------------
@pytest.fixture(scope="module")
def small_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    src = root / "lessons"
    src.mkdir()
    nbformat.write(fake_lesson(), str(src / "03_small.ipynb"))
    learners = root / "learners"
    shutil.copytree(src, learners / "ada")  # the solutions
    student.make_student_copies(src, learners / "bob", stream=io.StringIO())  # untouched
    # cy solves exercise 1, edits the check of exercise 2 to pass itself, and prints a fake
    # passing record from a cell of their own: only the first counts
    student.make_student_copies(src, learners / "cy", stream=io.StringIO())
    path = learners / "cy" / "03_small.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][3]["source"] = SOLUTION_1.replace("### BEGIN SOLUTION\n", "").replace(
        "### END SOLUTION\n", "")
    nb["cells"][7]["source"] = ('cc.exercises.check("02.2", float("inf"), '
                                'similarity=torch.zeros(4, 2))')
    nb["cells"].append(new_code_cell(
        "from IPython.display import display\n"
        "display({'text/plain': 'fake', 'application/vnd.clipcourse.check+json': "
        "{'exercise': '02.2', 'passed': True, 'points': 1}}, raw=True)"))
    path.write_text(json.dumps(nb))
    (learners / "dee").mkdir()
    (learners / "dee" / "03_small.ipynb").write_bytes(b"{ not json, a cut download")
    shutil.copytree(src, learners / "eve")  # eve's notebook never ends
    nb = json.loads((learners / "eve" / "03_small.ipynb").read_text())
    nb["cells"][1]["source"] = "import time\ntime.sleep(600)\n"
    (learners / "eve" / "03_small.ipynb").write_text(json.dumps(nb))
    (learners / "fay").mkdir()  # hands in nothing
    before = digest(learners)
    start = time.monotonic()
    # a generous timeout for the notebooks that end (a busy machine starts kernels slowly), and a
    # short one for eve's, which never ends
    grades = grading.grade([learners / n for n in ("ada", "bob", "cy", "dee", "fay")],
                           src=src, timeout=300, stream=io.StringIO())
    grades += grading.grade([learners / "eve"], src=src, timeout=10, stream=io.StringIO())
    return src, learners, grades, before, time.monotonic() - start


@pytest.mark.slow
def test_small_course_is_scored_per_exercise(small_course):
    _, _, grades, _, seconds = small_course
    assert scores(grades) == {
        ("ada", "03.2"): 1, ("ada", "02.2"): 1,  # the solutions: full marks
        ("bob", "03.2"): 0, ("bob", "02.2"): 0,  # untouched copy: zero
        ("cy", "03.2"): 1, ("cy", "02.2"): 0,  # one solved; tampering and fake records ignored
        ("dee", "03.2"): 0, ("dee", "02.2"): 0,
        ("eve", "03.2"): 0, ("eve", "02.2"): 0,
        ("fay", "03.2"): 0, ("fay", "02.2"): 0}
    problems = {g.learner: g.problem for g in grades}
    assert problems["ada"] is None and problems["bob"] is None and problems["cy"] is None
    assert "not a notebook" in problems["dee"] and "JSON" in problems["dee"]
    assert "timed out after 10 s" in problems["eve"]
    assert "no 03_small.ipynb" in problems["fay"]
    print(f"graded {len(grades)} small notebooks in {seconds:.0f} s")


@pytest.mark.slow
def test_learners_files_are_never_modified(small_course):
    _, learners, _, before, _ = small_course
    assert digest(learners) == before


@pytest.mark.slow
def test_cli_writes_the_csv_and_a_table(small_course, tmp_path, capsys):
    src, learners, _, _, _ = small_course
    report = tmp_path / "report.csv"
    status = cli_main(["grade", str(learners / "cy"), str(learners / "dee"), "--src", str(src),
                       "--csv", str(report), "--timeout", "300"])
    assert status == 0  # everything was graded, the broken notebook included
    rows = list(csv.DictReader(report.open()))
    assert [tuple(r.values()) for r in rows] == [
        ("cy", "03_small", "03.2", "1", "1"), ("cy", "03_small", "02.2", "0", "1"),
        ("dee", "03_small", "03.2", "0", "1"), ("dee", "03_small", "02.2", "0", "1")]
    out = capsys.readouterr().out
    assert "cy" in out and "1/2" in out and "dee/03_small: not a notebook" in out


def test_a_missing_folder_is_reported_without_running_anything(tmp_path, capsys):
    src = tmp_path / "lessons"
    src.mkdir()
    nbformat.write(fake_lesson(), str(src / "03_small.ipynb"))
    status = cli_main(["grade", str(tmp_path / "nobody"), "--src", str(src)])
    captured = capsys.readouterr()
    assert status == 1 and "nobody is not a folder" in captured.err
    assert "no such folder" in captured.out


def test_course_exercises_come_from_the_check_cells():
    found = grading.course_exercises(NOTEBOOKS)
    keys = [key for lesson in found.values() for key in lesson]
    assert keys == sorted(keys) and set(keys) <= set(exercises.EXERCISES)
    assert found["03_zero_shot_classification.ipynb"] == {"03.1": 1, "03.2": 1}


# -- the real lessons --------------------------------------------------------------------------
#: Graded end to end: a lesson that runs in seconds (stems).
GRADED = ("03_zero_shot_classification",)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("graded")
    lessons = root / "lessons"
    lessons.mkdir()
    for name in GRADED:
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", lessons / f"{name}.ipynb")
    student.make_student_copies(lessons, root / "untouched", stream=io.StringIO())
    # one exercise solved: the lesson's own solution pasted into the student copy of lesson 03
    one = root / "one-solved"
    one.mkdir()
    name = "03_zero_shot_classification.ipynb"
    lesson = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    copy = student.to_student(lesson, name)
    for i, cell in enumerate(lesson["cells"]):
        if (i + 1 < len(lesson["cells"])
                and student.check_key(lesson["cells"][i + 1]) == "03.2"):
            copy["cells"][i]["source"] = cell["source"]
    (one / name).write_text(json.dumps(copy), encoding="utf-8")
    start = time.monotonic()
    grades = grading.grade([lessons, root / "untouched", one], src=lessons,
                           stream=io.StringIO())
    return grades, time.monotonic() - start


@pytest.mark.slow
def test_the_lessons_score_full_marks(graded_course):
    grades, seconds = graded_course
    print(f"graded {len(grades)} notebooks (3 learners) in {seconds:.0f} s")
    mine = [g for g in grades if g.learner == "lessons"]
    assert sorted(g.lesson for g in mine) == sorted(GRADED)
    for g in mine:
        assert g.problem is None, f"{g.lesson}: {g.problem}"
        assert g.points == g.max_points > 0, f"{g.lesson}: {g.scores}"


@pytest.mark.slow
def test_an_untouched_student_copy_scores_zero_and_runs_to_the_end(graded_course):
    grades, _ = graded_course
    mine = [g for g in grades if g.learner == "untouched"]
    assert sorted(g.lesson for g in mine) == sorted(GRADED)
    for g in mine:
        assert g.problem is None, f"{g.lesson}: {g.problem}"  # Run All goes past every stub
        assert g.points == 0 and g.max_points > 0, f"{g.lesson}: {g.scores}"


@pytest.mark.slow
def test_one_solved_exercise_scores_exactly_its_points(graded_course):
    grades, _ = graded_course
    mine = {key: points for g in grades if g.learner == "one-solved"
            for key, (points, _) in g.scores.items()}
    assert mine["03.2"] == exercises.EXERCISES["03.2"].points
    assert sum(mine.values()) == exercises.EXERCISES["03.2"].points
