"""Notebooks are committed clean (STYLE habit 8), and the stripper makes them so.

Clean means: no outputs and no execution counts, except in ``# NBVAL_CHECK_OUTPUT`` cells, which
must keep at least one output AND an execution count (nbval silently passes a check cell without
a stored output, and fails "Unrun reference cell has outputs" on outputs without a count); no
widget state; valid nbformat; kernelspec ``python3``. Fix a failure with
``python -m clipcourse strip-notebooks notebooks/*.ipynb`` (also the pre-commit hook).
"""

import io
import json
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from clipcourse import student
from clipcourse.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIX = "fix: python -m clipcourse strip-notebooks notebooks/*.ipynb"


@pytest.mark.parametrize("path", LESSONS or [pytest.param(None, marks=pytest.mark.skip(
    reason="notebooks/ has no lesson (.ipynb) yet"))], ids=lambda p: p.name if p else "none")
def test_lesson_is_committed_clean(path):
    nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    problems = student.notebook_problems(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, f"{path.name}: " + "; ".join(problems) + f" ({FIX})"


@pytest.mark.parametrize("path", LESSONS or [pytest.param(None, marks=pytest.mark.skip(
    reason="notebooks/ has no lesson (.ipynb) yet"))], ids=lambda p: p.name if p else "none")
def test_lesson_is_as_the_stripper_writes_it(path):
    """Byte for byte, so the pre-commit hook never rewrites a committed notebook."""
    raw = path.read_text(encoding="utf-8")
    assert student._dumps(student.strip_notebook(json.loads(raw))) == raw, (
        f"{path.name}: stripping would change it (session metadata such as cell timings, or "
        f"not JupyterLab's JSON layout) ({FIX})")


# -- the stripper ---------------------------------------------------------------------------------
CHECK = "# NBVAL_CHECK_OUTPUT\nprint(2 + 2)"


def dirty_notebook():
    nb = new_notebook(cells=[
        new_markdown_cell("# A lesson"),
        new_code_cell("print(1)", execution_count=3,
                      outputs=[new_output("stream", name="stdout", text="1\n")],
                      metadata={"execution": {"iopub.status.busy": "2025-01-01"},
                                "scrolled": True}),
        new_code_cell(CHECK, execution_count=7,
                      outputs=[new_output("stream", name="stdout", text="4\n")]),
        new_code_cell("x = 1", execution_count=8),
        new_code_cell("# NBVAL_CHECK_OUTPUT\n2 * 3", execution_count=9,
                      outputs=[new_output("execute_result", data={"text/plain": "6"},
                                          execution_count=9)]),
        new_code_cell("import ipywidgets as w\nw.IntSlider()", execution_count=10, outputs=[
            new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                             "version_minor": 0}})]),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"abc": {}}, "version_major": 2, "version_minor": 0}}
    return nb


def test_dirty_notebook_fails_the_check():
    problems = student.notebook_problems(json.loads(nbformat.writes(dirty_notebook())))
    assert any("widget state" in p for p in problems)
    assert any("cell 2 has 1 output" in p for p in problems)
    assert any("cell 4 has execution count 8" in p for p in problems)


def test_stripper_cleans_and_keeps_check_cells(tmp_path):
    path = tmp_path / "lesson.ipynb"
    nbformat.write(dirty_notebook(), str(path))
    stream = io.StringIO()
    assert student.strip_notebooks([path], stream=stream) == 0
    assert stream.getvalue() == f"stripped {path}\n"

    raw = path.read_text(encoding="utf-8")
    nb = json.loads(raw)
    assert student.notebook_problems(nb) == []
    nbformat.validate(nbformat.reads(raw, as_version=nbformat.NO_CONVERT))
    cells = nb["cells"]
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
    assert cells[1]["metadata"] == {}
    # check cells keep their reference output and execution count
    assert cells[2]["execution_count"] == 7
    assert "".join(cells[2]["outputs"][0]["text"]) == "4\n"
    assert cells[4]["execution_count"] == 9 and cells[4]["outputs"][0]["execution_count"] == 9
    assert cells[5]["outputs"] == []
    assert "widgets" not in nb["metadata"]

    # a second run changes nothing and says nothing
    stream = io.StringIO()
    assert student.strip_notebooks([path], stream=stream) == 0
    assert stream.getvalue() == "" and path.read_text(encoding="utf-8") == raw


def test_stripper_keeps_cell_ids(tmp_path):
    nb = dirty_notebook()
    ids = [cell.id for cell in nb.cells]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, str(path))
    student.strip_notebooks([path], stream=io.StringIO())
    assert [cell["id"] for cell in json.loads(path.read_text())["cells"]] == ids


def test_stripper_reports_a_check_cell_never_run(tmp_path, capsys):
    nb = new_notebook(cells=[new_code_cell(CHECK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, str(path))
    assert cli_main(["strip-notebooks", str(path)]) == 1
    assert "has no stored output" in capsys.readouterr().out


def test_stripper_restores_a_count_nbstripout_removed(tmp_path):
    """nbstripout keeps a `keep_output` cell's outputs but nulls its execution count."""
    nb = dirty_notebook()
    nb.cells[2].execution_count = None
    nb.cells[4].execution_count = None
    nb.cells[4].outputs[0].execution_count = None
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, str(path))
    assert student.strip_notebooks([path], stream=io.StringIO()) == 0
    cells = json.loads(path.read_text())["cells"]
    assert cells[2]["execution_count"] == 1  # its position among the check cells
    assert cells[4]["execution_count"] == 2 and cells[4]["outputs"][0]["execution_count"] == 2
    assert student.notebook_problems(json.loads(path.read_text())) == []


def test_precommit_hook_runs_the_same_stripper():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    strip = [hook for hook in hooks if hook["id"] == "strip-notebooks"]
    assert len(strip) == 1
    assert "-m clipcourse strip-notebooks" in strip[0]["entry"]
    assert strip[0]["files"] == r"^notebooks/.*\.ipynb$"
    assert not any("nbstripout" in hook.get("entry", hook["id"]) for hook in hooks)
