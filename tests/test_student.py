"""Student copies and the solution check (clipcourse.student; docs/instructor.md)."""

import io
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from clipcourse import student
from clipcourse.cli import main as cli_main

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

SOLUTION_CODE = """\
import math
### BEGIN SOLUTION
secret = math.sqrt(1764)  # the solution line
### END SOLUTION
print(secret)
"""

INDENTED_CODE = """\
def area(r):
    ### BEGIN SOLUTION
    return 3.14159 * r * r  # the solution line
    ### END SOLUTION
"""

SOLUTION_MARKDOWN = """\
Why does the softmax never say "I don't know"?

### BEGIN SOLUTION
Because it always sums to one (the solution line).
### END SOLUTION
"""


def lesson(*cells, widgets=False):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def run_cell(source, count=1, text="out\n"):
    return new_code_cell(source, execution_count=count,
                         outputs=[new_output("stream", name="stdout", text=text)])


def a_lesson():
    """A small lesson: a run setup cell, two exercises (code and markdown solutions)."""
    return lesson(
        new_markdown_cell("# 99 · A lesson\n\n## Setup"),
        run_cell("import clipcourse as cc", 1),
        new_markdown_cell("## Exercises"),
        new_markdown_cell("### Exercise 1: a square root\n\nCompute it."),
        run_cell(SOLUTION_CODE, 2, "42.0\n"),
        new_markdown_cell("### Exercise 2: area"),
        new_code_cell(INDENTED_CODE),
        new_markdown_cell("### Exercise 3: explain"),
        new_markdown_cell(SOLUTION_MARKDOWN),
        widgets=True,
    )


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def sources(path):
    return [("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in json.loads(path.read_text())["cells"]]


# -- to_student ---------------------------------------------------------------------------------
def test_to_student_replaces_solutions_and_clears_outputs():
    nb = json.loads(nbformat.writes(a_lesson()))
    before = json.dumps(nb, sort_keys=True)
    copy = student.to_student(nb)
    assert json.dumps(nb, sort_keys=True) == before, "the source notebook must not change"

    text = [("".join(c["source"])) for c in copy["cells"]]
    # no raise: Run All goes on past a skipped exercise (its check says "not answered yet")
    assert text[4] == "import math\n# YOUR CODE HERE\nprint(secret)\n"
    # the stub takes the marker's indentation, and a block gets a `pass`: valid Python
    assert text[6] == ("def area(r):\n    # YOUR CODE HERE\n    pass\n")
    compile(text[6], "<exercise 2>", "exec")
    compile(text[4], "<exercise 1>", "exec")
    assert text[8] == ('Why does the softmax never say "I don\'t know"?\n\n'
                       "*Your answer here.*\n")
    assert not any("solution line" in t or "SOLUTION" in t for t in text)
    for cell in copy["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "widgets" not in copy["metadata"]
    nbformat.validate(nbformat.from_dict(copy))


@pytest.mark.parametrize("source, fragment", [
    ("### BEGIN SOLUTION\nx = 1\n", "without an ### END SOLUTION"),
    ("x = 1\n### END SOLUTION\n", "without a ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "inside another"),
    ("## BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "looks like a solution marker"),
])
def test_to_student_refuses_unbalanced_markers(source, fragment):
    nb = json.loads(nbformat.writes(lesson(new_code_cell(source))))
    with pytest.raises(student.SolutionMarkerError, match=fragment):
        student.to_student(nb, "bad.ipynb")


# -- make_student_copies ------------------------------------------------------------------------
@pytest.fixture
def course(tmp_path):
    src = tmp_path / "notebooks"
    write(a_lesson(), src / "99_lesson.ipynb")
    (src / "images").mkdir()
    (src / "images" / "cat.png").write_bytes(b"\x89PNG not really")
    (src / "sanitize.cfg").write_text("[x]\n")  # the course's test config, not for learners
    write(a_lesson(), src / ".ipynb_checkpoints" / "99_lesson-checkpoint.ipynb")
    return src


def copies(src, out, force=False):
    stream = io.StringIO()
    status = student.make_student_copies(src, out, force=force, stream=stream)
    return status, stream.getvalue()


def test_student_copies_are_written_with_assets(course, tmp_path):
    out = tmp_path / "student"
    status, printed = copies(course, out)
    assert status == {"99_lesson.ipynb": "written", "images/cat.png": "written"}
    assert "written" in printed and "1 lessons in" in printed
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "99_lesson.ipynb", "images", "images/cat.png"]  # no temp files, no sanitize.cfg
    assert (out / "images" / "cat.png").read_bytes() == b"\x89PNG not really"
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "99_lesson.ipynb").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    nb = nbformat.read(str(out / "99_lesson.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert "solution line" not in (out / "99_lesson.ipynb").read_text()
    assert all(c.get("outputs", []) == [] for c in nb.cells)
    assert "student_hash" in nb.metadata["clipcourse"]


def test_rerun_keeps_a_learners_edits_unless_forced(course, tmp_path):
    out = tmp_path / "student"
    copies(course, out)
    assert copies(course, out)[0]["99_lesson.ipynb"] == "unchanged"

    # The learner answers exercise 1 and saves.
    copy_path = out / "99_lesson.ipynb"
    nb = json.loads(copy_path.read_text())
    nb["cells"][4]["source"] = ["secret = 42  # my answer\n"]
    copy_path.write_text(json.dumps(nb, indent=1))
    edited = copy_path.read_text()
    (out / "images" / "cat.png").write_bytes(b"my own cat")

    status, printed = copies(course, out)
    assert status == {"99_lesson.ipynb": "skipped", "images/cat.png": "skipped"}
    assert "kept; --force overwrites it" in printed
    assert copy_path.read_text() == edited
    assert (out / "images" / "cat.png").read_bytes() == b"my own cat"

    status, printed = copies(course, out, force=True)
    assert status == {"99_lesson.ipynb": "overwritten", "images/cat.png": "overwritten"}
    assert "my answer" not in copy_path.read_text()
    assert copies(course, out)[0]["99_lesson.ipynb"] == "unchanged"


def test_an_unedited_copy_is_refreshed_from_a_newer_lesson(course, tmp_path):
    out = tmp_path / "student"
    copies(course, out)
    nb = a_lesson()
    nb.cells[0].source += "\n\nA sentence the author added later."
    write(nb, course / "99_lesson.ipynb")
    assert copies(course, out)[0]["99_lesson.ipynb"] == "updated"
    assert "added later" in sources(out / "99_lesson.ipynb")[0]


def test_a_copy_without_a_recorded_hash_counts_as_edited(course, tmp_path):
    out = tmp_path / "student"
    write(lesson(new_markdown_cell("my own notes")), out / "99_lesson.ipynb")
    assert copies(course, out)[0]["99_lesson.ipynb"] == "skipped"
    (out / "99_lesson.ipynb").write_text("{ not json")
    assert copies(course, out)[0]["99_lesson.ipynb"] == "skipped"


def test_bad_markers_write_nothing(course, tmp_path):
    write(lesson(new_code_cell("### BEGIN SOLUTION\nx = 1\n")), course / "00_bad.ipynb")
    out = tmp_path / "student"
    with pytest.raises(student.SolutionMarkerError, match="00_bad.ipynb, cell 1"):
        copies(course, out)
    assert not out.exists()


def test_no_notebooks_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no notebooks"):
        copies(tmp_path / "empty", tmp_path / "student")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        copies(tmp_path / "missing", tmp_path / "student")


def test_cli_student_subcommand(course, tmp_path, capsys):
    out = tmp_path / "student"
    assert cli_main(["student", str(out), "--src", str(course)]) == 0
    assert "written" in capsys.readouterr().out
    assert (out / "99_lesson.ipynb").is_file()


# -- refusing to lose solutions, and clear errors (issue 13) ---------------------------------------
def _solutions_intact(src):
    text = (src / "99_lesson.ipynb").read_text()
    return "the solution line" in text and student.BEGIN_SOLUTION in text


@pytest.mark.parametrize("force", [False, True])
def test_output_folder_that_is_the_source_is_refused(course, force):
    before = (course / "99_lesson.ipynb").read_bytes()
    with pytest.raises(student.StudentCopyError, match="is the lesson folder itself"):
        copies(course, course, force=force)
    assert (course / "99_lesson.ipynb").read_bytes() == before
    # the same folder reached another way (a path with .., a symlink) is refused too
    with pytest.raises(student.StudentCopyError, match="lesson folder itself"):
        copies(course, course / "images" / "..", force=force)
    (course.parent / "link").symlink_to(course, target_is_directory=True)
    with pytest.raises(student.StudentCopyError, match="lesson folder itself"):
        copies(course, course.parent / "link", force=force)
    assert _solutions_intact(course)


def test_cli_refuses_src_as_output_even_with_force(course, capsys):
    assert cli_main(["student", str(course), "--src", str(course), "--force"]) == 1
    assert "is the lesson folder itself" in capsys.readouterr().err
    assert _solutions_intact(course)


def test_output_folder_inside_the_source_is_refused(course):
    for out in (course / "student", course / "images" / "student"):
        with pytest.raises(student.StudentCopyError, match="inside the lesson folder"):
            copies(course, out)
        assert not out.exists()


def test_a_lesson_in_the_output_folder_is_never_overwritten(course, tmp_path):
    out = tmp_path / "elsewhere"
    write(a_lesson(), out / "99_lesson.ipynb")  # a lesson with solutions, not a student copy
    before = (out / "99_lesson.ipynb").read_bytes()
    with pytest.raises(student.StudentCopyError, match="holds exercise solutions"):
        copies(course, out, force=True)
    assert (out / "99_lesson.ipynb").read_bytes() == before


@pytest.mark.parametrize("content, fragment", [
    (b"{ not json", "invalid JSON at line 1"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2, 3]", "the JSON is a list"),
    (b'{"cells": {"a": 1}}', "no list of cells"),
    (b'{"cells": [42]}', "cell 1 is not a cell object"),
    (b'{"cells": [{"cell_type": "code", "source": 7}]}', "neither text nor a list"),
])
def test_a_malformed_lesson_gives_a_clear_error(course, tmp_path, content, fragment, capsys):
    (course / "00_bad.ipynb").write_bytes(content)
    out = tmp_path / "student"
    with pytest.raises(student.NotebookError, match=fragment) as err:
        copies(course, out)
    assert "00_bad.ipynb" in str(err.value)
    assert not out.exists()
    assert cli_main(["student", str(out), "--src", str(course)]) == 1
    assert "00_bad.ipynb: not a notebook" in capsys.readouterr().err


def test_an_output_path_that_is_a_file_gives_a_clear_error(course, tmp_path, capsys):
    out = tmp_path / "student"
    out.write_text("my notes")
    with pytest.raises(student.StudentCopyError, match="is a file, not a folder"):
        copies(course, out)
    assert out.read_text() == "my notes"
    assert cli_main(["student", str(out), "--src", str(course)]) == 1
    assert "is a file" in capsys.readouterr().err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes to read-only folders")
def test_a_read_only_output_folder_gives_a_clear_error(course, tmp_path, capsys):
    out = tmp_path / "student"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(student.StudentCopyError, match="cannot write"):
            copies(course, out)
        assert cli_main(["student", str(out), "--src", str(course)]) == 1
        assert "cannot write" in capsys.readouterr().err
    finally:
        out.chmod(0o755)


def test_a_read_only_output_folder_is_refused_even_as_root(course, tmp_path, monkeypatch):
    out = tmp_path / "student"
    out.mkdir()
    monkeypatch.setattr(student.os, "access", lambda path, mode: False)
    with pytest.raises(student.StudentCopyError, match="cannot write to the output folder"):
        copies(course, out)
    assert list(out.iterdir()) == []


# -- nbgrader metadata ---------------------------------------------------------------------------
def test_student_copies_carry_nbgrader_metadata():
    nb = json.loads(nbformat.writes(lesson(
        new_markdown_cell("### Exercise 1: x"),
        new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"),
        new_code_cell('cc.exercises.check("03.2", answer, probs=probs)'),
        new_code_cell("print('not graded')"))))
    copy = student.to_student(nb)
    solution, check, plain = (copy["cells"][i]["metadata"] for i in (1, 2, 3))
    assert solution["nbgrader"] == {"grade": False, "grade_id": "solution-03-2", "locked": False,
                                    "schema_version": 3, "solution": True, "task": False}
    assert check["nbgrader"] == {"grade": True, "grade_id": "check-03-2", "locked": True,
                                 "points": 1, "schema_version": 3, "solution": False,
                                 "task": False}
    assert check["editable"] is False and check["deletable"] is False
    assert "nbgrader" not in plain
    # nbgrader's own rules: ids match ^[a-zA-Z0-9_-]+$ and are unique, points are numbers
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in copy["cells"]
           if "nbgrader" in c["metadata"]]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-zA-Z0-9_\-]+", i) for i in ids)
    assert "answer = None" in "".join(copy["cells"][1]["source"])  # the answer line stays


# nbgrader's cell metadata schema, version 3 (nbgrader/nbgraderformat/v3.json), as documented
NBGRADER_V3 = {
    "type": "object",
    "properties": {
        "schema_version": {"type": "integer", "minimum": 3, "maximum": 3},
        "grade": {"type": "boolean"}, "locked": {"type": "boolean"},
        "solution": {"type": "boolean"}, "task": {"type": "boolean"},
        "grade_id": {"type": "string", "pattern": "^[a-zA-Z0-9_\\-]*$"},
        "points": {"type": "number", "minimum": 0},
        "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
        "cell_type": {"type": "string", "enum": ["raw", "code", "markdown"]},
    },
    "required": ["schema_version", "grade", "locked", "solution"],
    "additionalProperties": False,
}


def test_the_course_student_copies_follow_nbgrader_format(tmp_path):
    """Every solution and check cell of every lesson's copy carries metadata that validates
    against nbgrader's schema, with the rules nbgrader's CheckCellMetadata adds: unique ids,
    points on grade cells, and code cells only (markdown grade cells must be solutions)."""
    jsonschema = pytest.importorskip("jsonschema")
    if not list(NOTEBOOKS.glob("*.ipynb")):
        pytest.skip("notebooks/ has no lesson (.ipynb) yet")
    student.make_student_copies(NOTEBOOKS, tmp_path, stream=io.StringIO())
    for path in sorted(tmp_path.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        marked = [c for c in cells if "nbgrader" in c["metadata"]]
        ids = [c["metadata"]["nbgrader"]["grade_id"] for c in marked]
        assert len(ids) == len(set(ids)), path.name
        for cell in marked:
            meta = cell["metadata"]["nbgrader"]
            jsonschema.validate(meta, NBGRADER_V3)
            assert cell["cell_type"] == "code"
            assert meta["grade"] == ("points" in meta) and meta["grade"] != meta["solution"]
            if meta["grade"]:
                assert student.check_key(cell) and meta["locked"]
        checks = [c for c in cells if student.check_key(c)]
        assert all(c["metadata"]["nbgrader"]["grade"] for c in checks), path.name


# -- check_solutions ----------------------------------------------------------------------------
def problems_of(*cells, tmp_path):
    return student.check_solutions(write(lesson(*cells), tmp_path / "l.ipynb"))


def test_check_solutions_accepts_a_good_lesson(tmp_path):
    assert student.check_solutions(write(a_lesson(), tmp_path / "l.ipynb")) == []


@pytest.mark.parametrize("cells, fragment", [
    # an exercise without any solution
    ([new_markdown_cell("### Exercise 1: x"), new_code_cell("pass")],
     "'### Exercise 1: x' has no solution before the end"),
    # the next exercise comes before the solution
    ([new_markdown_cell("### Exercise 1: x"), new_markdown_cell("### Exercise 2: y"),
      new_code_cell("### BEGIN SOLUTION\n### END SOLUTION")],
     "'### Exercise 1: x' has no solution before the next heading '### Exercise 2: y'"),
    # a higher-level heading ends the exercises
    ([new_markdown_cell("### Exercise 1: x"), new_markdown_cell("## Further reading"),
      new_code_cell("### BEGIN SOLUTION\n### END SOLUTION")],
     "before the next heading '## Further reading'"),
    ([new_markdown_cell("## Exercises\n\nNone today.")], "no exercise"),
    ([new_markdown_cell("### Exercise 1"), new_code_cell("### BEGIN SOLUTION\nx = 1\n")],
     "without an ### END SOLUTION"),
    ([new_markdown_cell("### Exercise 1"),
      new_code_cell("### BEGIN SOLUTION\n### End Solution\n### END SOLUTION")],
     "looks like a solution marker"),
])
def test_check_solutions_finds_problems(cells, fragment, tmp_path):
    problems = problems_of(*cells, tmp_path=tmp_path)
    assert any(fragment in p for p in problems), problems
    assert all(p.startswith("l.ipynb") for p in problems)


@pytest.mark.parametrize("cells", [
    # a markdown answer, in a cell of its own or under the heading
    [new_markdown_cell("### Exercise 1"), new_markdown_cell(SOLUTION_MARKDOWN)],
    [new_markdown_cell("### Exercise 1\n\nWhy?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")],
    # sub-headings, headings in code fences and comments in code do not end an exercise
    [new_markdown_cell("### Exercise 1\n\n#### Hint\n\n```python\n# Exercise 2\n```"),
     new_code_cell("# Exercise 2\n### BEGIN SOLUTION\n### END SOLUTION")],
])
def test_check_solutions_accepts_variants(cells, tmp_path):
    assert problems_of(*cells, tmp_path=tmp_path) == []


def test_every_exercise_of_the_course_has_a_solution():
    if not list(NOTEBOOKS.glob("*.ipynb")):
        pytest.skip("notebooks/ has no lesson (.ipynb) yet")
    assert student.check_solutions(NOTEBOOKS) == []


def test_every_lesson_makes_a_student_copy(tmp_path):
    if not list(NOTEBOOKS.glob("*.ipynb")):
        pytest.skip("notebooks/ has no lesson (.ipynb) yet")
    status = student.make_student_copies(NOTEBOOKS, tmp_path, stream=io.StringIO())
    for path in tmp_path.glob("*.ipynb"):
        assert status[path.name] == "written"
        text = path.read_text(encoding="utf-8")
        assert student.BEGIN_SOLUTION not in text and student.END_SOLUTION not in text
        nbformat.validate(nbformat.read(str(path), as_version=4))


# -- launch options (binder/) ------------------------------------------------------------------
ROOT = NOTEBOOKS.parent
# make test's tools; Binder learners need none
TEST_ONLY = {"pytest", "nbval", "playwright", "hypothesis"}


def _conda_specs(path):
    import yaml

    specs = {}
    for item in yaml.safe_load(path.read_text())["dependencies"]:
        entries = item["pip"] if isinstance(item, dict) else [item]
        for entry in entries:
            if entry == "pip" or entry.startswith("-e"):
                continue
            name = re.match(r"[A-Za-z0-9_.\-]+", entry).group(0).lower()
            specs[name] = entry.replace(" ", "")
    return specs


def test_binder_environment_matches_the_root_one():
    root = {k: v for k, v in _conda_specs(ROOT / "environment.yml").items() if k not in TEST_ONLY}
    assert _conda_specs(ROOT / "binder" / "environment.yml") == root


def test_binder_postbuild_installs_the_course_and_fetches_vit_b_32():
    post_build = ROOT / "binder" / "postBuild"
    text = post_build.read_text()
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-deps -e ." in text
    assert "python -m clipcourse download ViT-B/32" in text
