"""The lesson checks (tests/lesson_checks.py) on a tiny synthetic lesson, run by nbval for real.

The lesson computes two numbers, states a result about them in markdown, draws a figure and
states a result in a solution's comment, and checks an exercise's answer with
``cc.exercises.check``. Its claims pass as written; flipping one comparison fails a test that
quotes the sentence and shows the values; a sentence edited away fails; a figure that vanishes
fails, and the kernel draws inline even when the test process says ``MPLBACKEND=Agg``; a wrong
solution fails its self-check.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import lesson_checks

TESTS = Path(__file__).resolve().parent

SENTENCE = "The second number is larger than the first, by *two*."
SOLUTION_SENTENCE = "The product is even."


EXERCISE = """\
import clipcourse as cc
import torch

probs = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])  # [2 images, 4 labels]
labels, targets = ["a", "b", "c", "d"], ["d", "d"]  # top-3: wrong for image 0, right for 1
### BEGIN SOLUTION
top3_accuracy = {answer}
### END SOLUTION
"""
CHECK = 'cc.exercises.check("03.2", top3_accuracy, probs=probs, labels=labels, targets=targets)'


def _lesson(figure_cell="import matplotlib.pyplot as plt\nplt.plot([x, y]);", answer="0.5"):
    nb = new_notebook(cells=[
        new_markdown_cell("# 99 · A lesson\n\nTwo numbers."),
        new_code_cell("x = 3\ny = 5"),
        new_markdown_cell("Look at them.\n" + SENTENCE.replace(" by", "\nby") + " Then a figure:"),
        new_code_cell(figure_cell),
        new_code_cell("x = 100  # rebinds x: the claim above is checked before this cell"),
        new_markdown_cell("## Exercise"),
        new_code_cell("### BEGIN SOLUTION\nz = x * y\n# The product is\n# even.\n### END SOLUTION"),
        new_code_cell(EXERCISE.format(answer=answer)),
        new_code_cell(CHECK),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _run(tmp_path, claims, figure_cell=None, mplbackend="Agg", answer="0.5"):
    lesson = tmp_path / "99_lesson.ipynb"
    nbformat.write(_lesson(*([figure_cell] if figure_cell else []), answer=answer), str(lesson))
    claims_dir = tmp_path / "claims"
    claims_dir.mkdir(exist_ok=True)
    (claims_dir / "99_lesson.py").write_text(f"CLAIMS = {claims!r}\n")
    env = dict(os.environ, PYTHONPATH=str(TESTS), MPLBACKEND=mplbackend)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "lesson_checks", "-p", "no:cacheprovider",
         f"--claims-dir={claims_dir}", "--nbval-lax", "--nbval-current-env", "-v",
         "--rootdir", str(tmp_path), str(lesson)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


def test_claims_and_figures_pass_on_a_true_lesson(tmp_path):
    code, out = _run(tmp_path, {SENTENCE: "y - x == 2 and y > x", SOLUTION_SENTENCE: "z % 2 == 0"})
    assert code == 0, out
    # checked at its sentence (x == 3), not at the end of the lesson (x == 100)
    assert "claim 1: The second number is larger than the first, by *two* PASSED" in out
    assert "claim 2: The product is even PASSED" in out
    # MPLBACKEND=Agg in the test process, yet the kernel drew inline
    assert "Cell 1 shows its figure PASSED" in out
    assert "Cell 5 solution passes its check PASSED" in out


@pytest.fixture(scope="module")
def broken_lesson(tmp_path_factory):
    """One run of a lesson with a flipped comparison, a sentence edited away and a figure that
    vanished (closed before the cell ends)."""
    return _run(tmp_path_factory.mktemp("broken"), {
        SENTENCE: "y - x == 2 and y < x",  # flipped: y > x is what the sentence says
        "The first number is larger.": "x > y",  # no such sentence in the lesson
        SOLUTION_SENTENCE: "z % 2 == 0",
    }, figure_cell="import matplotlib.pyplot as plt\nplt.plot([x, y])\nplt.close('all')",
        answer="1.0")


def test_a_flipped_comparison_fails_and_names_the_sentence(broken_lesson):
    code, out = broken_lesson
    assert code == 1, out
    assert "4 failed" in out and "claim 3: The product is even PASSED" in out
    assert "the output no longer supports the sentence" in out
    assert f'"{SENTENCE}"' in out  # quoted whole, line breaks undone
    assert "y = 5" in out and "x = 3" in out  # the operands' values


def test_a_sentence_edited_away_fails(broken_lesson):
    code, out = broken_lesson
    assert "no longer occurs in the lesson" in out and '"The first number is larger."' in out


def test_a_vanished_figure_fails(broken_lesson):
    code, out = broken_lesson
    assert "Cell 1 shows its figure FAILED" in out and "shows no image" in out


def test_a_wrong_solution_fails_its_check(broken_lesson):
    code, out = broken_lesson
    assert "Cell 5 solution passes its check FAILED" in out
    assert "the lesson's own solution fails exercise 03.2's self-check" in out


# -- the pieces, without a kernel --------------------------------------------------------------
def test_sentences_are_found_in_markdown_and_in_comments_only():
    cells = _lesson().cells
    assert lesson_checks.locate(cells, SENTENCE) == [2]
    assert lesson_checks.locate(cells, SOLUTION_SENTENCE) == [6]
    assert lesson_checks.locate(cells, "z = x * y") == []  # code is not prose
    assert lesson_checks.comment_text("!pip install x  # a comment\n%cd /x") == "a comment"


def test_operands_are_what_a_failure_shows():
    assert lesson_checks.operands("a.max() < b.min() and c == 0") == ["a.max()", "b.min()", "c"]
    assert lesson_checks.operands("all(ok)") == ["all(ok)"]
    # names bound inside a lambda or a comprehension cannot be evaluated on their own
    assert lesson_checks.operands("(lambda d: d.max() < 1)(x) and y > 0") == ["y"]
    assert lesson_checks.operands("all(a < b for a, b in pairs)") == ["all((a < b for a, b in pairs))"]


LESSONS = sorted((TESTS.parent / "notebooks").glob("*.ipynb"))
COLAB = "https://colab.research.google.com/github/clipcourse/clipcourse/blob/main/notebooks/"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem[:2])
def test_every_claim_file_parses_and_names_a_lesson(lesson):
    claims = lesson_checks.load_claims(lesson)  # raises on a malformed file
    assert all(sentence.strip() for sentence in claims)
    names = {p.stem for p in lesson_checks.CLAIMS_DIR.glob("*.py")}
    lessons = {p.stem for p in (TESTS.parent / "notebooks").glob("*.ipynb")}
    assert names <= lessons, f"claim files for no lesson: {sorted(names - lessons)}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem[:2])
def test_title_links_colab_without_an_image(lesson):
    """Offline (JupyterLab without internet) a badge image shows as a broken image."""
    title = "".join(json.loads(lesson.read_text(encoding="utf-8"))["cells"][0]["source"])
    assert "![" not in title, f"{lesson.name}: the title cell shows an image; link Colab in text"
    assert f"[Open in Colab]({COLAB}{lesson.name})" in title
